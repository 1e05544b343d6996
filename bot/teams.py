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

`runtime` is the Teams one (its directory says `platform = "teams"`). The caller
(`bot.teams_routes`) answers an invoke with `answer.invoke` (status 200,
that body), PUTs `answer.update` in place of the activity's `replyToId` when set, sends each
of `answer.sends` (`to_sdk` makes each the SDK's message), and once they landed calls
`runtime.answered(answer.request_id)` when it is set: a request written down
(`storage.acknowledged`) and never answered is taken up again. Teams' requests carry a `teams`
key (`is_teams`): the loop that takes requests up again gives those to `answer_again`, which
answers through the stored conversation reference (no invoke to answer any more).
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from microsoft_teams.api.activities.message import MessageActivityInput
from microsoft_teams.api.models.account import Account
from microsoft_teams.api.models.attachment import Attachment
from microsoft_teams.common.experimental import ExperimentalWarning

from bot import adaptivecards as cards
from bot.runtime import Runtime
from bot.teams_markup import as_plain as plain_text
from bot.teams_people import (
    channel_of,
    more_line,
    names_for,
    reference_of,
    remember_sender,
    translator,
)
from bot.teams_text import read_message
from commands.markup import MENTIONED, escape
from commands.text import clip
from commands.ui import Form, Message, Outcome
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


def to_sdk(send: Send) -> MessageActivityInput:
    """A `Send` as the SDK sends it (`ctx.send(...)`): the card attached, and for a targeted
    message the recipient marked, so that only they see it."""
    message = MessageActivityInput().add_attachments(
        *(Attachment.model_validate(a) for a in send.activity["attachments"])
    )
    if send.audience is Audience.TARGETED and send.recipient:
        recipient = Account.model_validate(send.recipient)
        with warnings.catch_warnings():  # targeted messages are a preview: chosen knowingly
            warnings.simplefilter("ignore", ExperimentalWarning)
            message = message.with_recipient(recipient, is_targeted=True)
    return message


@dataclass
class TeamsAnswer:
    invoke: dict[str, Any] | None = None
    """The body of the invoke response, for invoke activities."""
    sends: list[Send] = field(default_factory=list)
    update: dict[str, Any] | None = None
    """A card redrawn in a channel or group chat: the message activity to PUT in place of the
    activity's `replyToId`, so that everyone sees it (the invoke answer redraws it only for
    the person who pressed)."""
    request_id: int | None = None


# ---- messages -----------------------------------------------------------------------------


def on_message(runtime: Runtime, activity: dict[str, Any], bot_id: str) -> TeamsAnswer:
    """A typed command: run as the Slack command of that name would be."""
    user_id = remember_sender(runtime, activity)
    typed = read_message(activity, bot_id)
    channel = channel_of(activity)
    if typed.name in HOME_WORDS:
        return _home_answer(runtime, activity, user_id)
    name, text = typed.name or "kakehashi", typed.text
    if name not in runtime.registry.commands:
        t = translator(runtime, user_id)
        reply = Message.plain(t("teams.unknown_command", name=clip(typed.name, 40)))
        return _answer(runtime, activity, user_id, Outcome(reply=reply))
    request = {"kind": "command", "user_id": user_id, "name": name, "text": text}
    outcome = _run_recorded(
        runtime, {**request, "channel_id": channel, "teams": reference_of(activity)}
    )
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
    user_id = remember_sender(runtime, activity)
    action = _dict(_dict(activity.get("value")).get("action"))
    own = _dict(_dict(action.get("data")).get(cards.KEY))
    action_id, value = str(own.get("a") or action.get("verb") or ""), str(own.get("v") or "")
    if action_id == cards.REFRESH:
        answer = _home_answer(runtime, activity, user_id)
        answer.invoke = _card_response(answer.sends.pop().activity["attachments"][0]["content"])
        return answer
    if action_id not in runtime.registry.actions:
        return TeamsAnswer(invoke=_message_response(translator(runtime, user_id)("teams.not_ours")))
    request = {"kind": "action", "user_id": user_id, "action_id": action_id, "value": value}
    outcome = _run_recorded(
        runtime, {**request, "channel_id": channel_of(activity), "teams": reference_of(activity)}
    )
    if outcome is None:
        return TeamsAnswer(invoke=_message_response(""))
    replace = outcome.replace_original
    outcome.replace_original = None
    answer = _answer(runtime, activity, user_id, outcome, opener={"a": action_id, "v": value})
    names, t = names_for(runtime), translator(runtime, user_id)
    if own.get("h"):  # pressed on the overview: drawn again, as Slack republishes the Home tab
        home = cards.home_card(runtime.home(user_id), names, more_line(t), t("teams.refresh"))
        answer.invoke = _card_response(home)
    elif replace:
        redrawn = cards.card(replace, names, more_line(t))
        answer.invoke = _card_response(redrawn)
        if not _personal(activity) and activity.get("replyToId"):
            answer.update = _send(activity, redrawn, private=False).activity
    else:
        reply = _plain(runtime, outcome.reply.text) if outcome.reply else ""
        answer.invoke = _message_response(reply)
    answer.request_id = outcome.request_id
    return answer


# ---- dialogs ------------------------------------------------------------------------------


def on_task_fetch(runtime: Runtime, activity: dict[str, Any]) -> TeamsAnswer:
    """A launcher or a form button pressed: its form as a dialog (nothing is written down: a
    form that does not open is opened again by pressing again)."""
    user_id = remember_sender(runtime, activity)
    data = _dict(_dict(_dict(activity.get("value")).get("data")).get(cards.KEY))
    opener = {k: str(v) for k, v in data.items() if k in ("c", "t", "a", "v")}
    outcome = _open(runtime, user_id, opener, channel_of(activity))
    if outcome is None:
        return TeamsAnswer(invoke=_task_message(translator(runtime, user_id)("teams.not_ours")))
    if outcome.form is None:
        text = _plain(runtime, outcome.reply.text) if outcome.reply else ""
        return TeamsAnswer(invoke=_task_message(text))
    card = cards.dialog(
        outcome.form, names_for(runtime), channel_id=channel_of(activity), opener=opener
    )
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
    user_id = remember_sender(runtime, activity)
    data = _dict(_dict(activity.get("value")).get("data"))
    try:
        callback_id, metadata, channel, values = cards.read_submission(data)
        if callback_id not in runtime.registry.forms:
            raise ValueError(callback_id)
    except ValueError:
        return TeamsAnswer(invoke=_task_message(translator(runtime, user_id)("teams.not_ours")))
    request = {
        "kind": "form",
        "user_id": user_id,
        "channel_id": channel,
        "teams": reference_of(activity),
    }
    outcome = runtime.submit(user_id, callback_id, values, metadata, channel, record=request)
    opener = _dict(data[cards.KEY].get("o"))
    names = names_for(runtime)
    if outcome.errors:
        shown = _open(runtime, user_id, opener, channel)
        form = shown.form if shown and shown.form else None
        if form is None or form.callback_id != callback_id:
            return TeamsAnswer(
                invoke=_task_message(_plain(runtime, next(iter(outcome.errors.values()))))
            )
        errors = {k: _plain(runtime, v) for k, v in outcome.errors.items()}
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
    if not _personal(activity) or not (installed or bot_id in added):
        return TeamsAnswer()
    return _home_answer(runtime, activity, remember_sender(runtime, activity))


def _home_answer(runtime: Runtime, activity: dict[str, Any], user_id: str) -> TeamsAnswer:
    view = runtime.home(user_id)
    t = translator(runtime, user_id)
    card = cards.home_card(view, names_for(runtime), more_line(t), t("teams.refresh"))
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
    names, t = names_for(runtime), translator(runtime, user_id)
    if outcome.form:
        intro = outcome.form.intro or outcome.form.title
        launcher = cards.launcher_card(intro, t("teams.open_form"), names, opener=opener or {})
        answer.sends.append(_send(activity, launcher, private=True))
    for message in (outcome.replace_original, outcome.reply):
        if message is not None:
            answer.sends.append(_private(runtime, activity, user_id, message))
    return answer


def _private(runtime: Runtime, activity: dict[str, Any], user_id: str, message: Message) -> Send:
    card = cards.card(message, names_for(runtime), more_line(translator(runtime, user_id)))
    return _send(activity, card, private=True)


def _send(activity: dict[str, Any], card: dict[str, Any], *, private: bool) -> Send:
    message = {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}
    if not private or _personal(activity):
        return Send(message, Audience.CONVERSATION)
    return Send(message, Audience.TARGETED, recipient=dict(activity.get("from") or {}))


def _plain(runtime: Runtime, text: str) -> str:
    """Markup shown as typed, a mention as the person's name (`@name`) where Teams knows them."""
    names = names_for(runtime)

    def named(match: re.Match[str]) -> str:
        found = names(match[1])
        return "@" + escape(found[1]) if found else match[0]

    return plain_text(MENTIONED.sub(named, text))


def _personal(activity: dict[str, Any]) -> bool:
    return _dict(activity.get("conversation")).get("conversationType") == "personal"


def _dict(value: object) -> dict[str, Any]:
    """A part of an activity that should be an object; anything else (a forged activity) reads
    as empty."""
    return value if isinstance(value, dict) else {}


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
