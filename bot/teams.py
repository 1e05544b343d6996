"""The Teams adapter's handlers: they only convert types and call the same `Runtime` methods as
the Slack adapter. Each takes the incoming activity as a dict (as Teams sends it; the SDK's
`activity.model_dump(mode="json", by_alias=True, exclude_none=True)`), runs synchronously (the
database is: call it through `asyncio.to_thread`) and returns a `TeamsAnswer`:

    on_message(runtime, activity, bot_id) -> TeamsAnswer        # message
    on_card_action(runtime, activity) -> TeamsAnswer            # invoke adaptiveCard/action
    on_task_fetch(runtime, activity) -> TeamsAnswer             # invoke task/fetch
    on_task_submit(runtime, activity) -> TeamsAnswer            # invoke task/submit
    on_install(runtime, activity, bot_id) -> TeamsAnswer        # installationUpdate, etc.
    answer_again(runtime, request_id) -> (reference, TeamsAnswer) | None   # taken up again

The caller (`teamsbase`'s HTTP endpoint) answers an invoke with `answer.invoke` (status 200,
that body), sends each of `answer.sends` (see `Send`), and once they landed calls
`runtime.answered(answer.request_id)` when it is set: a request written down
(`storage.acknowledged`) and never answered is taken up again. Teams' requests carry a `teams`
key (`is_teams`): the loop that takes requests up again gives those to `answer_again`, which
answers through the stored conversation reference (no invoke to answer any more).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot import adaptivecards as cards
from bot.runtime import Runtime
from bot.teams_text import (
    ENTRA_ID,
    Names,
    locale_of,
    person_key,
    plain_text,
    read_message,
    zone_of,
)
from commands.i18n import Translator
from commands.ui import Form, Message, Outcome
from storage import people
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

CARD = "application/vnd.microsoft.card.adaptive"
HOME_WORDS = frozenset({"home", "ホーム"})
"""Typed alone, the personal overview (Slack's Home tab)."""


class Audience(StrEnum):
    CONVERSATION = "conversation"
    """A reply in the conversation the activity came from (a personal chat: only the person)."""
    TARGETED = "targeted"
    """Only `Send.recipient` sees it, in a channel or group chat (SDK: `with_recipient(account,
    is_targeted=True)`); if Teams refuses it, send it to that person's personal chat instead.
    Never a post the whole channel sees."""


@dataclass(frozen=True)
class Send:
    activity: dict[str, Any]
    """A message activity: `{"type": "message", "attachments": [an Adaptive Card]}`."""
    audience: Audience
    recipient: dict[str, Any] | None = None
    """The person (the activity's `from`) for a targeted message."""


@dataclass
class TeamsAnswer:
    invoke: dict[str, Any] | None = None
    """The body of the invoke response, for invoke activities."""
    sends: list[Send] = field(default_factory=list)
    request_id: int | None = None


# ---- messages -----------------------------------------------------------------------------


def on_message(runtime: Runtime, activity: dict[str, Any], bot_id: str) -> TeamsAnswer:
    """A typed command: run as the Slack command of that name would be."""
    user_id = _remember(runtime, activity)
    typed = read_message(activity, bot_id)
    channel = _channel(activity)
    if typed.name in HOME_WORDS:
        return _home_answer(runtime, activity, user_id)
    name, text = typed.name or "kakehashi", typed.text
    if name not in runtime.registry.commands:
        t = _t(runtime, user_id)
        reply = Message.plain(t("teams.unknown_command", name=typed.name))
        return _answer(runtime, activity, user_id, Outcome(reply=reply))
    request = {"kind": "command", "user_id": user_id, "name": name, "text": text}
    outcome = _run_recorded(runtime, {**request, "channel_id": channel, "teams": _ref(activity)})
    if outcome is None:  # done elsewhere, or taken up again once the database is back
        return TeamsAnswer()
    answer = _answer(runtime, activity, user_id, outcome, opener={"c": name, "t": text})
    answer.request_id = outcome.request_id
    return answer


def _run_recorded(runtime: Runtime, request: dict[str, Any]) -> Outcome | None:
    """Written down before it runs, so that a crash cannot lose it (as on Slack)."""
    try:
        request_id = runtime.receive(request)
    except DatabaseUnavailable:
        user, channel = request["user_id"], request.get("channel_id")
        if request["kind"] == "command":
            return runtime.run_command(user, request["name"], request["text"], channel)
        return runtime.press(user, request["action_id"], request["value"], channel)
    return runtime.run_acknowledged(request_id)


def is_teams(request: dict[str, Any]) -> bool:
    """Whether an acknowledged request came from Teams (and is answered by `answer_again`)."""
    return isinstance(request.get("teams"), dict)


def answer_again(runtime: Runtime, request_id: int) -> tuple[dict[str, Any], TeamsAnswer] | None:
    """A Teams request left unanswered (a crash, a send that failed): run, or its stored answer,
    with the reference to send it through; None when given up or done elsewhere."""
    taken = runtime.take_up_again(request_id)
    if taken is None:
        return None
    request, outcome = taken
    if outcome is None or not is_teams(request):
        return None
    reference = request["teams"]
    activity = {
        "serviceUrl": reference.get("serviceUrl"),
        "conversation": reference.get("conversation") or {},
        "from": reference.get("user") or {},
    }
    outcome.form = None  # a form cannot be opened later; its launcher was sent or is lost
    answer = _answer(runtime, activity, request["user_id"], outcome)
    answer.request_id = outcome.request_id
    return reference, answer


# ---- buttons ------------------------------------------------------------------------------


def on_card_action(runtime: Runtime, activity: dict[str, Any]) -> TeamsAnswer:
    """Action.Execute: the press, answered with the card redrawn in place."""
    user_id = _remember(runtime, activity)
    action = (activity.get("value") or {}).get("action") or {}
    own = (action.get("data") or {}).get(cards.KEY) or {}
    action_id, value = str(own.get("a") or action.get("verb") or ""), str(own.get("v") or "")
    if action_id == cards.REFRESH:
        answer = _home_answer(runtime, activity, user_id)
        answer.invoke = _card_response(answer.sends.pop().activity["attachments"][0]["content"])
        return answer
    if action_id not in runtime.registry.actions:
        return TeamsAnswer(invoke=_message_response(_t(runtime, user_id)("teams.not_ours")))
    request = {"kind": "action", "user_id": user_id, "action_id": action_id, "value": value}
    outcome = _run_recorded(
        runtime, {**request, "channel_id": _channel(activity), "teams": _ref(activity)}
    )
    if outcome is None:
        return TeamsAnswer(invoke=_message_response(""))
    replace = outcome.replace_original
    outcome.replace_original = None
    answer = _answer(runtime, activity, user_id, outcome, opener={"a": action_id, "v": value})
    names, t = _names(runtime), _t(runtime, user_id)
    if own.get("h"):  # pressed on the overview: drawn again, as Slack republishes the Home tab
        home = cards.home_card(runtime.home(user_id), names, _more(t), t("teams.refresh"))
        answer.invoke = _card_response(home)
    elif replace:
        answer.invoke = _card_response(cards.card(replace, names, _more(t)))
    else:
        reply = plain_text(outcome.reply.text) if outcome.reply else ""
        answer.invoke = _message_response(reply)
    answer.request_id = outcome.request_id
    return answer


# ---- dialogs ------------------------------------------------------------------------------


def on_task_fetch(runtime: Runtime, activity: dict[str, Any]) -> TeamsAnswer:
    """A launcher or a form button pressed: its form as a dialog (nothing is written down: a
    form that does not open is opened again by pressing again)."""
    user_id = _remember(runtime, activity)
    data = ((activity.get("value") or {}).get("data") or {}).get(cards.KEY) or {}
    opener = {k: str(v) for k, v in data.items() if k in ("c", "t", "a", "v")}
    outcome = _open(runtime, user_id, opener, _channel(activity))
    if outcome is None:
        return TeamsAnswer(invoke=_task_message(_t(runtime, user_id)("teams.not_ours")))
    if outcome.form is None:
        text = plain_text(outcome.reply.text) if outcome.reply else ""
        return TeamsAnswer(invoke=_task_message(text))
    card = cards.dialog(outcome.form, _names(runtime), channel_id=_channel(activity), opener=opener)
    return TeamsAnswer(invoke=_task_card(outcome.form, card))


def _open(
    runtime: Runtime, user_id: str, opener: dict[str, str], channel: str | None
) -> Outcome | None:
    if opener.get("c") in runtime.registry.commands:
        return runtime.run_command(user_id, opener["c"], opener.get("t", ""), channel)
    if opener.get("a") in runtime.registry.actions:
        return runtime.press(user_id, opener["a"], opener.get("v", ""), channel)
    return None


def on_task_submit(runtime: Runtime, activity: dict[str, Any]) -> TeamsAnswer:
    """A dialog submitted: field errors draw it again with what was typed; else it closes and
    the reply goes to the person only."""
    user_id = _remember(runtime, activity)
    data = (activity.get("value") or {}).get("data") or {}
    try:
        callback_id, metadata, channel, values = cards.read_submission(data)
        if callback_id not in runtime.registry.forms:
            raise ValueError(callback_id)
    except ValueError:
        return TeamsAnswer(invoke=_task_message(_t(runtime, user_id)("teams.not_ours")))
    request = {"kind": "form", "user_id": user_id, "channel_id": channel, "teams": _ref(activity)}
    outcome = runtime.submit(user_id, callback_id, values, metadata, channel, record=request)
    opener = data[cards.KEY].get("o") or {}
    names = _names(runtime)
    if outcome.errors:
        shown = _open(runtime, user_id, opener, channel)
        form = shown.form if shown and shown.form else None
        if form is None or form.callback_id != callback_id:
            return TeamsAnswer(
                invoke=_task_message(plain_text(next(iter(outcome.errors.values()))))
            )
        errors = {k: plain_text(v) for k, v in outcome.errors.items()}
        card = cards.dialog(
            form, names, channel_id=channel, values=values, errors=errors, opener=opener
        )
        return TeamsAnswer(invoke=_task_card(form, card))
    if outcome.form:
        card = cards.dialog(outcome.form, names, channel_id=channel, opener=opener)
        answer = TeamsAnswer(invoke=_task_card(outcome.form, card))
    else:
        answer = TeamsAnswer(invoke={})  # an empty answer closes the dialog
    if outcome.reply:
        answer.sends.append(_private(runtime, activity, user_id, outcome.reply))
    answer.request_id = outcome.request_id
    return answer


# ---- install, and the personal overview -----------------------------------------------------


def on_install(runtime: Runtime, activity: dict[str, Any], bot_id: str) -> TeamsAnswer:
    """The app installed for a person (or the bot added to their personal chat): the welcome
    card, their overview. In a team or group chat nothing is posted: it is private."""
    added = [str(m.get("id")) for m in activity.get("membersAdded") or [] if isinstance(m, dict)]
    installed = activity.get("type") == "installationUpdate" and activity.get("action") in (
        "add",
        "add-upgrade",
    )
    personal = (activity.get("conversation") or {}).get("conversationType") == "personal"
    if not personal or not (installed or bot_id in added):
        return TeamsAnswer()
    return _home_answer(runtime, activity, _remember(runtime, activity))


def _home_answer(runtime: Runtime, activity: dict[str, Any], user_id: str) -> TeamsAnswer:
    view = runtime.home(user_id)
    t = _t(runtime, user_id)
    card = cards.home_card(view, _names(runtime), _more(t), t("teams.refresh"))
    return TeamsAnswer(sends=[_send(activity, card, private=True)])


# ---- answers ------------------------------------------------------------------------------


def _answer(
    runtime: Runtime,
    activity: dict[str, Any],
    user_id: str,
    outcome: Outcome,
    opener: dict[str, str] | None = None,
) -> TeamsAnswer:
    """What a command or a press owes the person, all of it private: a form becomes a card
    with one button that opens it (Teams opens dialogs only from a card)."""
    answer = TeamsAnswer()
    names, t = _names(runtime), _t(runtime, user_id)
    if outcome.form:
        intro = outcome.form.intro or outcome.form.title
        launcher = cards.launcher_card(intro, t("teams.open_form"), names, opener=opener or {})
        answer.sends.append(_send(activity, launcher, private=True))
    for message in (outcome.replace_original, outcome.reply):
        if message is not None:
            answer.sends.append(_private(runtime, activity, user_id, message))
    return answer


def _private(runtime: Runtime, activity: dict[str, Any], user_id: str, message: Message) -> Send:
    card = cards.card(message, _names(runtime), _more(_t(runtime, user_id)))
    return _send(activity, card, private=True)


def _send(activity: dict[str, Any], card: dict[str, Any], *, private: bool) -> Send:
    message = {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}
    personal = (activity.get("conversation") or {}).get("conversationType") == "personal"
    if not private or personal:
        return Send(message, Audience.CONVERSATION)
    return Send(message, Audience.TARGETED, recipient=dict(activity.get("from") or {}))


def _card_response(card: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "type": CARD, "value": card}


def _message_response(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}


def _task_card(form: Form, card: dict[str, Any]) -> dict[str, Any]:
    info = {
        "title": cards.dialog_title(form),
        "width": "large",
        "height": "large",
        "card": {"contentType": CARD, "content": card},
    }
    return {"task": {"type": "continue", "value": info}}


def _task_message(text: str) -> dict[str, Any]:
    return {"task": {"type": "message", "value": text or " "}}


# ---- the person, their profile and their conversation reference ---------------------------


def _user_id(activity: dict[str, Any]) -> str:
    sender = activity.get("from") or {}
    return person_key(str(sender.get("aadObjectId") or sender.get("id") or ""))


def _channel(activity: dict[str, Any]) -> str | None:
    """The conversation, without a channel thread's `;messageid=`."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    return conversation.split(";")[0] or None


def _ref(activity: dict[str, Any]) -> dict[str, Any]:
    """Enough to answer again later (a request taken up again after a crash)."""
    conversation = activity.get("conversation") or {}
    return {
        "serviceUrl": activity.get("serviceUrl"),
        "conversation": {k: conversation.get(k) for k in ("id", "conversationType", "tenantId")},
        "user": {k: (activity.get("from") or {}).get(k) for k in ("id", "aadObjectId", "name")},
    }


def _remember(runtime: Runtime, activity: dict[str, Any]) -> str:
    """The person's name, language and time zone as their Teams client says (so the Slack
    directory is never asked), and their conversation reference."""
    user_id = _user_id(activity)
    sender = activity.get("from") or {}
    with runtime.session() as session:
        person = people.get_or_create(session=session, user_id=user_id)
        person.name = str(sender.get("name") or person.name or "")[:200]
        person.locale = locale_of(activity, person.locale or runtime.settings.locale)
        person.tz = zone_of(activity) or person.tz
        person.profile_fetched_at = runtime.clock.now()
        session.add(person)
        remember(session, user_id, _ref(activity))
    return user_id


def remember(session: Any, platform_user_id: str, reference: dict[str, Any]) -> None:
    """Keeps the person's conversation reference (`Person.delivery_ref`) for the outbox: a
    personal chat's replaces the one kept; others keep the personal one already there.
    TODO(lead): `people.delivery_ref` comes with the `ids` migration; without it, nothing."""
    person = people.get_by_user_id(session=session, user_id=platform_user_id)
    if person is None or not hasattr(person, "delivery_ref"):
        return
    kept = dict(getattr(person, "delivery_ref", None) or {})
    personal = reference.get("conversation", {}).get("conversationType") == "personal"
    if personal or "conversation" not in kept:
        person.delivery_ref = reference
    else:  # a channel's conversation is not where the person's reminders go
        person.delivery_ref = {**reference, "conversation": kept["conversation"]}
    session.add(person)


def _t(runtime: Runtime, user_id: str) -> Translator:
    with runtime.session() as session:
        person = people.get_by_user_id(session=session, user_id=user_id)
        if person is None:
            return Translator(runtime.settings.locale)
        return runtime.translator_for(person)


def _more(t: Translator) -> cards.More:
    return lambda count: t("teams.more", count=count)


def _names(runtime: Runtime) -> Names:
    """A mention token's key → (Entra object id, name), for the people Teams knows."""
    found: dict[str, tuple[str, str] | None] = {}

    def lookup(key: str) -> tuple[str, str] | None:
        if key not in found:
            with runtime.session() as session:
                person = people.get_by_user_id(session=session, user_id=key)
                known = person is not None and ENTRA_ID.fullmatch(key) is not None
                found[key] = (key, person.name or key) if known and person else None
        return found[key]

    return lookup
