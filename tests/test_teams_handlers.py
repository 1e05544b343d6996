"""The Teams handlers in process, with a real Runtime on the test database (every activity read
by the SDK's models first, as the endpoint reads it): a handoff typed →
launcher card → dialog → a field error → fixed → the CS owner's DM in the outbox; a button press
→ the card redrawn; hostile text; the welcome card; private answers in channels.

People's keys are today's Slack-shaped ids (the fake Slack directory knows them) until the `ids`
branch gives Teams people their Entra object ids as keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from microsoft_teams.api.activities import ActivityTypeAdapter
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import select

from bot import teams
from bot.runtime import Runtime
from bot.teams import Audience
from bot.teams_text import read_message
from commands.context import FixedClock
from commands.markup import mention as mention_token
from storage import people
from storage.handoffs import Handoff
from tests.handoff_data import form_values, outbox_rows

BOT = "28:bot-id"
JSON = dict[str, Any]


def activity(
    user: str = "USALES", *, kind: str = "message", personal: bool = True, **more: Any
) -> JSON:
    conversation = (
        {"id": "a:personal-" + user, "conversationType": "personal", "tenantId": "t1"}
        if personal
        else {"id": "19:team@thread.tacv2;messageid=42", "conversationType": "channel"}
    )
    return via_sdk(
        {
            "type": kind,
            "id": "activity-1",
            "channelId": "msteams",
            "serviceUrl": "http://127.0.0.1:9/connector/",
            "from": {"id": "29:" + user, "aadObjectId": user, "name": user.lower()},
            "recipient": {"id": BOT, "name": "Kakehashi"},
            "conversation": conversation,
            "locale": "en-US",
            "entities": [{"type": "clientInfo", "locale": "en-US", "timezone": "Asia/Tokyo"}],
            **more,
        }
    )


def via_sdk(raw: JSON) -> JSON:
    """As `bot.teams_routes` hands it over: read by the SDK's activity models, dumped back. A forged
    shape the SDK refuses is handed over as it came, to show the handlers hold anyway."""
    try:
        parsed = ActivityTypeAdapter.validate_python(raw)
    except ValidationError:
        if raw.get("forged"):
            return raw
        raise
    dumped: JSON = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def card_of(send: teams.Send) -> JSON:
    attachment = send.activity["attachments"][0]
    assert attachment["contentType"] == teams.CARD
    content: JSON = attachment["content"]
    return content


def all_text(card: JSON) -> str:
    return "\n".join(str(e.get("text", "")) for e in card["body"])


def invoke(name: str, value: Any, user: str = "USALES", **more: Any) -> JSON:
    return activity(user, kind="invoke", name=name, value=value, **more)


def test_handoff_from_typed_command_through_dialog_to_the_cs_owner(
    runtime: Runtime, engine: Engine
) -> None:
    typed = teams.on_message(runtime, activity(text="/handoff Initech"), BOT)
    (launcher,) = typed.sends
    assert launcher.audience is Audience.CONVERSATION  # the personal chat
    (button,) = card_of(launcher)["actions"]
    assert button["type"] == "Action.Submit" and button["title"] == "Open the form"
    assert typed.request_id is not None

    fetched = teams.on_task_fetch(runtime, invoke("task/fetch", {"data": button["data"]}))
    assert fetched.invoke is not None
    task = fetched.invoke["task"]
    assert task["type"] == "continue"
    dialog = task["value"]["card"]["content"]
    submit = dialog["actions"][0]
    inputs = {e["id"]: e for e in dialog["body"] if e["type"].startswith("Input.")}
    assert inputs["account"]["value"] == "Initech"

    bad = {**form_values(renewal_date="2026-11-30"), **submit["data"]}
    refused = teams.on_task_submit(runtime, invoke("task/submit", {"data": bad}))
    assert refused.invoke is not None and refused.invoke["task"]["type"] == "continue"
    again = refused.invoke["task"]["value"]["card"]["content"]
    errors = [e for e in again["body"] if e.get("color") == "Attention"]
    assert len(errors) == 1 and refused.sends == []
    kept = {e["id"]: e.get("value") for e in again["body"] if e["type"].startswith("Input.")}
    assert kept["renewal_date"] == "2026-11-30" and kept["goals"] == form_values()["goals"]
    assert not any(row.kind == "handoff.dm" for row in outbox_rows(engine).values())

    good = {**form_values(), **again["actions"][0]["data"]}
    done = teams.on_task_submit(runtime, invoke("task/submit", {"data": good}))
    assert done.invoke == {}  # the dialog closes
    assert done.sends == [] and done.request_id is not None  # confirmed by DM, as on Slack
    rows = outbox_rows(engine).values()
    assert any(row.recipient == "USALES" for row in rows)
    dms = [row for row in rows if row.recipient == "UCS"]
    assert dms, "the CS owner's DM waits in the outbox"
    buttons = [
        b for blk in dms[0].payload["blocks"] if blk["type"] == "actions" for b in blk["buttons"]
    ]
    assert {b["action_id"] for b in buttons} >= {"handoff_accept", "handoff_ask"}
    assert any(b.get("opens_form") for b in buttons)  # Ask opens a dialog on Teams

    accept = next(b for b in buttons if b["action_id"] == "handoff_accept")
    data = {"kk": {"a": accept["action_id"], "v": accept["value"]}}
    value = {"action": {"type": "Action.Execute", "verb": accept["action_id"], "data": data}}
    pressed = teams.on_card_action(runtime, invoke("adaptiveCard/action", value, user="UCS"))
    assert pressed.invoke is not None
    assert pressed.invoke["type"] == teams.CARD and pressed.invoke["statusCode"] == 200
    redrawn = pressed.invoke["value"]
    assert "Initech" in all_text(redrawn)
    assert not any(e["type"] == "ActionSet" for e in redrawn["body"])  # Accept is gone
    again = teams.on_card_action(runtime, invoke("adaptiveCard/action", value, user="UCS"))
    assert again.invoke is not None and again.invoke["type"].endswith("activity.message")


def test_channel_answers_are_targeted_never_channel_posts(runtime: Runtime) -> None:
    mention = {
        "type": "mention",
        "mentioned": {"id": BOT, "name": "Kakehashi"},
        "text": "<at>Kakehashi</at>",
    }
    message = activity(personal=False, text="<at>Kakehashi</at> promise list", entities=[mention])
    answer = teams.on_message(runtime, message, BOT)
    assert answer.sends
    for send in answer.sends:
        assert send.audience is Audience.TARGETED
        assert send.recipient is not None and send.recipient["id"] == "29:USALES"


def test_unknown_command_and_empty_text(runtime: Runtime) -> None:
    unknown = teams.on_message(runtime, activity(text="frobnicate now"), BOT)
    assert "“frobnicate” is not a Kakehashi command" in all_text(card_of(unknown.sends[0]))
    long = teams.on_message(runtime, activity(text="x" * 10_000), BOT)
    assert len(all_text(card_of(long.sends[0]))) < 200
    empty = teams.on_message(runtime, activity(text=""), BOT)
    assert "/promise" in all_text(card_of(empty.sends[0]))  # the overview of every command


def test_hostile_text_is_shown_as_text(runtime: Runtime) -> None:
    hostile = "<at>Aiko</at> <b>x</b> **y** \u202e" + "z" * 10_000
    answer = teams.on_message(runtime, activity(text="account " + hostile, textFormat="plain"), BOT)
    card = card_of(answer.sends[0])
    shown = all_text(card)
    assert "<at>" not in shown and "<b>" not in shown and "**y**" not in shown
    assert "entities" not in card["msteams"]


def test_welcome_card_on_install_with_refresh(runtime: Runtime, engine: Engine) -> None:
    installed = activity("UCS", kind="installationUpdate", action="add")
    answer = teams.on_install(runtime, installed, BOT)
    card = card_of(answer.sends[0])
    refresh = card["body"][-1]["actions"][0]
    assert refresh["type"] == "Action.Execute" and refresh["title"] == "Refresh"
    value = {"action": {"type": "Action.Execute", "verb": refresh["verb"], "data": refresh["data"]}}
    pressed = teams.on_card_action(runtime, invoke("adaptiveCard/action", value, user="UCS"))
    assert pressed.invoke is not None and pressed.invoke["type"] == teams.CARD
    in_team = activity("UCS", kind="installationUpdate", action="add", personal=False)
    assert teams.on_install(runtime, in_team, BOT).sends == []  # nothing private in a team
    with runtime.session() as session:
        person = people.get_by_user_id(session=session, user_id="UCS")
        assert person is not None
        assert (person.tz, person.locale, person.name) == ("Asia/Tokyo", "en", "ucs")


def test_read_message_mentions_html_and_slash() -> None:
    aiko = "0f6a3b2c-1111-4222-8333-944445555666"
    entities = [
        {"type": "mention", "mentioned": {"id": BOT}, "text": "<at>Kakehashi</at>"},
        {
            "type": "mention",
            "mentioned": {"id": "29:x", "aadObjectId": aiko},
            "text": "<at>Aiko Sato</at>",
        },
    ]
    message = {
        "text": "<p><at>Kakehashi</at> ／Handoff ACME&amp;Co <at>Aiko Sato</at></p>",
        "entities": entities,
    }
    typed = read_message(message, BOT)
    assert read_message({"text": "promise\u3000list"}, BOT).text == "list"
    assert read_message({"text": "Promise\nlist"}, BOT).name == "promise"
    assert typed.name == "handoff" and typed.text == f"ACME&Co {mention_token(aiko)}"
    forged = read_message({"text": "handoff <at>Aiko Sato</at>", "entities": []}, BOT)
    assert forged.text == "Aiko Sato"  # an `<at>` without its entity names no one


def test_an_unanswered_request_is_answered_again_through_its_reference(
    runtime: Runtime, clock: FixedClock
) -> None:
    first = teams.on_message(runtime, activity(text="kakehashi help"), BOT)
    assert first.request_id is not None  # its answer "did not land": answered() never called
    clock.at += timedelta(minutes=5)
    assert first.request_id in runtime.unanswered(clock.now())
    again = teams.answer_again(runtime, first.request_id)
    assert again is not None
    reference, answer = again
    assert reference["conversation"]["id"] == "a:personal-USALES"
    assert reference["serviceUrl"] == "http://127.0.0.1:9/connector/"
    assert [card_of(s) for s in answer.sends] == [card_of(s) for s in first.sends]
    assert answer.request_id is not None
    runtime.answered(answer.request_id)
    assert first.request_id not in runtime.unanswered(clock.now())


def test_oversized_and_hostile_dialog_values_are_field_errors(
    runtime: Runtime, engine: Engine
) -> None:
    typed = teams.on_message(runtime, activity(text="handoff"), BOT)
    (button,) = card_of(typed.sends[0])["actions"]
    fetched = teams.on_task_fetch(runtime, invoke("task/fetch", {"data": button["data"]}))
    assert fetched.invoke is not None
    submit = fetched.invoke["task"]["value"]["card"]["content"]["actions"][0]
    before = outbox_rows(engine)
    hostile = {"goals": "g" * 10_000, "account": '<at>Aiko</at>\x00\u202e{"type": "AdaptiveCard"}'}
    data = {**form_values(**hostile), **submit["data"]}
    refused = teams.on_task_submit(runtime, invoke("task/submit", {"data": data}))
    assert refused.invoke is not None and refused.invoke["task"]["type"] == "continue"
    body = refused.invoke["task"]["value"]["card"]["content"]["body"]
    erred = {
        body[i - 1].get("id") or body[i - 2].get("id")
        for i, e in enumerate(body)
        if e.get("color") == "Attention"
    }
    assert "goals" in erred  # 10,000 characters: said on the field, nothing saved
    assert outbox_rows(engine) == before


def test_japanese_person_gets_japanese_cards_in_a_channel(runtime: Runtime) -> None:
    message = activity("UCS", personal=False, text="handoff", locale="ja-JP")
    (launcher,) = teams.on_message(runtime, message, BOT).sends
    assert launcher.audience is Audience.TARGETED
    assert card_of(launcher)["actions"][0]["title"] == "フォームを開く"


def hand_off(runtime: Runtime) -> None:
    """kenji hands Initech off to aiko through the dialog."""
    typed = teams.on_message(runtime, activity(text="handoff Initech"), BOT)
    (button,) = card_of(typed.sends[0])["actions"]
    fetched = teams.on_task_fetch(runtime, invoke("task/fetch", {"data": button["data"]}))
    assert fetched.invoke is not None
    submit = fetched.invoke["task"]["value"]["card"]["content"]["actions"][0]
    done = teams.on_task_submit(
        runtime, invoke("task/submit", {"data": {**form_values(), **submit["data"]}})
    )
    assert done.invoke == {}


def test_a_press_on_the_overview_draws_it_again(runtime: Runtime) -> None:
    hand_off(runtime)
    welcome = teams.on_install(
        runtime, activity("UCS", kind="installationUpdate", action="add"), BOT
    )
    overview = card_of(welcome.sends[0])
    actions = [a for e in overview["body"] if e["type"] == "ActionSet" for a in e["actions"]]
    accept = next(a for a in actions if a.get("verb") == "handoff_accept")
    assert accept["data"]["kk"]["h"] == 1
    value = {"action": {"type": "Action.Execute", "verb": accept["verb"], "data": accept["data"]}}
    pressed = teams.on_card_action(runtime, invoke("adaptiveCard/action", value, user="UCS"))
    assert pressed.invoke is not None and pressed.invoke["type"] == teams.CARD
    redrawn = pressed.invoke["value"]
    verbs = [
        a.get("verb") for e in redrawn["body"] if e["type"] == "ActionSet" for a in e["actions"]
    ]
    assert "handoff_accept" not in verbs and verbs[-1] == "teams.home.refresh"


def test_a_card_redrawn_in_a_channel_is_updated_for_everyone(
    runtime: Runtime, engine: Engine
) -> None:
    hand_off(runtime)
    dm = next(row for row in outbox_rows(engine).values() if row.recipient == "UCS")
    buttons = [
        b for blk in dm.payload["blocks"] if blk["type"] == "actions" for b in blk["buttons"]
    ]
    accept = next(b for b in buttons if b["action_id"] == "handoff_accept")
    data = {"kk": {"a": accept["action_id"], "v": accept["value"]}}
    value = {"action": {"type": "Action.Execute", "verb": accept["action_id"], "data": data}}
    shared = invoke("adaptiveCard/action", value, user="UCS", personal=False, replyToId="m-1")
    pressed = teams.on_card_action(runtime, shared)
    assert pressed.invoke is not None and pressed.update is not None
    assert pressed.update["attachments"][0]["content"] == pressed.invoke["value"]


def test_forged_invoke_values_are_refused_politely(runtime: Runtime) -> None:
    for name, value in [
        ("adaptiveCard/action", {"action": {"type": "Action.Execute", "verb": "x", "data": "kk"}}),
        (
            "adaptiveCard/action",
            {"action": {"type": "Action.Execute", "data": {"kk": {"a": "drop table"}}}},
        ),
    ]:
        answer = teams.on_card_action(runtime, invoke(name, value, forged=True))
        assert answer.invoke is not None and answer.invoke["statusCode"] == 200
        assert answer.request_id is None and answer.sends == []
    for data in ["kk", {"kk": "x"}, {"kk": {"c": "nope"}}, {"kk": {"a": "nope", "v": "1"}}]:
        fetched = teams.on_task_fetch(runtime, invoke("task/fetch", {"data": data}, forged=True))
        assert fetched.invoke is not None and fetched.invoke["task"]["type"] == "message"
    for data in ["kk", {"kk": "x"}, {"kk": {"f": "nope"}}, {"account": "x"}]:
        forged = invoke("task/submit", {"data": data}, forged=True)
        submitted = teams.on_task_submit(runtime, forged)
        assert submitted.invoke is not None and submitted.invoke["task"]["type"] == "message"
        assert "Close it and start again" in submitted.invoke["task"]["value"]


def test_help_alone_is_the_overview(runtime: Runtime) -> None:
    for word in ("help", "ヘルプ", "？", "/HELP"):
        answer = teams.on_message(runtime, activity(text=word), BOT)
        assert "/promise" in all_text(card_of(answer.sends[0])), word


def test_bot_added_to_a_personal_chat_sends_the_welcome_once(runtime: Runtime) -> None:
    added = activity("UCS", kind="conversationUpdate", membersAdded=[{"id": BOT}])
    (welcome,) = teams.on_install(runtime, added, BOT).sends
    assert welcome.audience is Audience.CONVERSATION
    assert card_of(welcome)["body"][-1]["actions"][0]["title"] == "Refresh"
    someone = activity("UCS", kind="conversationUpdate", membersAdded=[{"id": "29:other"}])
    assert teams.on_install(runtime, someone, BOT).sends == []


def test_a_press_that_answers_with_a_form_gets_a_launcher(runtime: Runtime) -> None:
    hand_off(runtime)
    with runtime.session() as session:
        handoff = session.exec(select(Handoff)).one()
    data = {"kk": {"a": "handoff_ask", "v": str(handoff.id)}}
    value = {"action": {"type": "Action.Execute", "verb": "handoff_ask", "data": data}}
    pressed = teams.on_card_action(runtime, invoke("adaptiveCard/action", value, user="UCS"))
    (launcher,) = pressed.sends
    (button,) = card_of(launcher)["actions"]
    assert button["data"] == {"msteams": {"type": "task/fetch"}, "kk": data["kk"]}
    fetched = teams.on_task_fetch(runtime, invoke("task/fetch", {"data": button["data"]}, "UCS"))
    assert fetched.invoke is not None and fetched.invoke["task"]["type"] == "continue"


def test_private_answers_as_the_sdk_sends_them(runtime: Runtime) -> None:
    in_channel = teams.on_message(runtime, activity(personal=False, text="promise list"), BOT)
    sent = teams.to_sdk(in_channel.sends[0]).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    assert sent["recipient"]["isTargeted"] is True and sent["recipient"]["id"] == "29:USALES"
    assert sent["attachments"][0]["content"] == card_of(in_channel.sends[0])
    personal = teams.on_message(runtime, activity(text="promise list"), BOT)
    sent = teams.to_sdk(personal.sends[0]).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert "recipient" not in sent  # a plain reply in the personal chat
