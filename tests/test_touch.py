"""`/touch`: log an outreach to a customer, through the parser, signed Slack requests into the real
Bolt app, the Log touch form, and the shell."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from commands.touch import LogTouch, OpenForm, Problem, ShowHelp, parse
from storage.people import Person
from storage.touches import Touch, TouchChannel
from testkit.signing import slash_command_body, view_submission_body
from tests.conftest import NOW, ShellSession, SlackServer
from tests.factories import make_account

CALL, EMAIL, MEETING, CHAT = (TouchChannel.CALL, TouchChannel.EMAIL, TouchChannel.MEETING,
                              TouchChannel.CHAT)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", OpenForm()),
        ("help", ShowHelp()),
        ("ACME call: Kickoff", LogTouch("ACME", CALL, "Kickoff", whole="ACME call")),
        ("ACME: Quick check-in", LogTouch("ACME", CHAT, "Quick check-in")),
        ("Globex Inc. EMAIL: sent the deck", LogTouch("Globex Inc.", EMAIL, "sent the deck",
                                                      whole="Globex Inc. EMAIL")),
        ("さくら商事 電話：近況確認",
         LogTouch("さくら商事", CALL, "近況確認", whole="さくら商事 電話")),
        ("ACME　打ち合わせ: 定例", LogTouch("ACME", MEETING, "定例", whole="ACME　打ち合わせ")),
        ("ACME chat: note: with a colon", LogTouch("ACME", CHAT, "note: with a colon",
                                                   whole="ACME chat")),
        ("ACME Kickoff call", Problem("touch.need_colon", {})),
        ("ACME call:", Problem("touch.need_note", {})),
        ("ACME:   ", Problem("touch.need_note", {})),
        ("call: Kickoff", Problem("lookup.missing", {})),
        (": Kickoff", Problem("lookup.missing", {})),
        ("ACME: " + "x" * 10_000, Problem("touch.note_too_long", {"limit": "2000"})),
        ("x" * 10_000 + ": hi", Problem("touch.account_too_long", {"limit": "200"})),
        ("'; DROP TABLE touches; --", Problem("touch.need_colon", {})),
        ("AC\x00ME: hi\x07", LogTouch("ACME", CHAT, "hi")),
    ],
)  # fmt: skip
def test_parse(text: str, expected: object) -> None:
    assert parse(text) == expected


# ---- helpers ----------------------------------------------------------------------------------


async def touch_command(server: SlackServer, text: str, user_id: str) -> str:
    url = server.slack.new_response_url()
    response = await server.post(slash_command_body("/touch", text, user_id, response_url=url))
    assert response.status_code == 200, response.text
    reply = await server.reply_to(url)
    assert reply["response_type"] == "ephemeral"
    return "\n".join(b["text"]["text"] for b in reply["blocks"] if "text" in b)


def seed(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        ids: dict[str, int] = {}
        for key, name in [("acme", "株式会社ACME"), ("chat", "Acme Chat"),
                          ("hooli1", "Hooli Inc."), ("hooli2", "Hooli LLC")]:  # fmt: skip
            ids[key] = make_account(session, name=name, at=NOW).id or 0
        session.commit()
        return ids


def touches(engine: Engine) -> list[tuple[int, str, str, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Touch, Person.user_id).join(Person, col(Person.id) == Touch.person_id)
            .order_by(col(Touch.id))
        ).all()  # fmt: skip
        return [(t.account_id, t.channel, t.note, user_id) for t, user_id in rows]


# ---- signed requests --------------------------------------------------------------------------


async def test_touches_are_logged_with_channel_note_who_and_when(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    text = await touch_command(server, "acme call: Kickoff with their IT lead", "USALES")
    assert text == (
        "Logged a call with *株式会社ACME*: Kickoff with their IT lead. "
        "Its silence timer starts again."
    )
    japanese = await touch_command(server, "ＡＣＭＥ: 近況確認", "UCS")
    assert (
        japanese
        == "*株式会社ACME* とのチャットを記録しました: 近況確認。無接触タイマーをリセットしました。"
    )
    ambiguous = await touch_command(server, "Acme Chat: is it ACME by chat?", "UCS2")
    assert ambiguous.startswith(
        "“Acme Chat” could be the account *Acme Chat*, or *株式会社ACME* by chat; "
        "nothing was logged."
    )
    await touch_command(server, "Acme Chat chat: the account whose name ends in a channel", "UCS2")
    await touch_command(server, "Acme Chat email: and by email", "UCS2")
    assert touches(engine) == [
        (ids["acme"], "call", "Kickoff with their IT lead", "USALES"),
        (ids["acme"], "chat", "近況確認", "UCS"),
        (ids["chat"], "chat", "the account whose name ends in a channel", "UCS2"),
        (ids["chat"], "email", "and by email", "UCS2"),
    ]
    with Session(engine) as session:
        assert {t.at for t in session.exec(select(Touch)).all()} == {NOW}
    assert server.slack.rejections == []


async def test_bad_input_is_answered_and_nothing_is_logged(
    server: SlackServer, engine: Engine
) -> None:
    seed(engine)
    cases = {
        "acme Kickoff": "Put a colon between the account and the note",
        "acme call:": "Say what happened",
        "call: hi": "Name the account",
        "acme: " + "x" * 10_000: "at most 2000 characters",
        "x" * 10_000: "Put a colon",
        "hooli: hi": "Several accounts match “hooli”: *Hooli Inc.*, *Hooli LLC*. Nothing changed",
        "acmy: hi": "No account matches “acmy”. Did you mean",
        "<!channel> call: hi": "No account matches “&lt;!channel&gt;”",
        "'; DROP TABLE touches; -- : x": "No account matches",
        "help": "Usage: `/touch ACCOUNT",
    }
    for typed, expected in cases.items():
        text = await touch_command(server, typed, "USALES")
        assert expected in text, (typed[:40], text)
    assert touches(engine) == []


async def test_typed_markup_is_shown_never_executed(server: SlackServer, engine: Engine) -> None:
    seed(engine)
    text = await touch_command(server, "acme: <!here> spoke to <@U0001> 🎉", "USALES")
    assert "&lt;!here&gt; spoke to @U0001 🎉" in text and "<!here>" not in text
    # Stored as the neutral mention, whichever platform it was typed on.
    assert touches(engine)[0][2] == "<!here> spoke to \ue000U0001\ue001 🎉"


# ---- the form ---------------------------------------------------------------------------------


async def submit(server: SlackServer, user_id: str, metadata: str, **fields: str | None
                 ) -> dict[str, Any]:  # fmt: skip
    values: dict[str, dict[str, Any]] = {}
    for field, value in fields.items():
        if field == "channel":
            option = {"value": value} if value else None
            values[field] = {"value": {"type": "static_select", "selected_option": option}}
        else:
            values[field] = {"value": {"type": "plain_text_input", "value": value}}
    private = json.dumps({"m": metadata, "c": "C0001"})
    response = await server.post(view_submission_body(user_id, "touch.log", values, private))
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


async def test_touch_alone_opens_the_form_and_submitting_logs_it(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    await server.post(slash_command_body("/touch", "", "UCS2",
                                         response_url=server.slack.new_response_url()))  # fmt: skip
    [opened] = await server.slack.await_for("views.open")
    assert opened["view"]["callback_id"] == "touch.log"
    assert [b.get("block_id") for b in opened["view"]["blocks"] if b["type"] == "input"] == [
        "account", "channel", "note"]  # fmt: skip
    answer = await submit(server, "UCS2", "", account="acme",
                          channel="meeting", note="Quarterly business review")  # fmt: skip
    assert answer.get("response_action") is None
    answer = await submit(server, "UCS2", str(ids["chat"]), channel=None, note="From the card")
    assert answer.get("response_action") is None
    assert touches(engine) == [
        (ids["acme"], "meeting", "Quarterly business review", "UCS2"),
        (ids["chat"], "chat", "From the card", "UCS2"),
    ]
    assert server.slack.rejections == []


async def test_form_errors_are_shown_on_the_fields_and_nothing_is_logged(
    server: SlackServer, engine: Engine
) -> None:
    seed(engine)
    answer = await submit(server, "USALES", "", account="hooli", channel="fax", note=" ")
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"account", "channel", "note"}
    answer = await submit(server, "USALES", "", account="x" * 10_000, note="x" * 10_000)
    assert set(answer["errors"]) == {"account", "note"}
    answer = await submit(server, "USALES", "424242", note="for an account that is gone")
    assert set(answer["errors"]) == {"account"}
    assert touches(engine) == []


# ---- the shell --------------------------------------------------------------------------------


def test_touches_in_the_shell(shell: ShellSession) -> None:
    shell.run(":as sara")
    assert "Logged a call with *Globex Inc.*" in shell.run("/touch Globex call: Ticket follow-up")
    assert "Logged an email with *Globex Inc.*" in shell.run("/touch Globex email: Sent the deck")
    assert "Logged a meeting with *Globex Inc.*" in shell.run("/touch Globex meeting: QBR")
    out = shell.run("/touch", "さくら商事", "3", "定例の打ち合わせ", ".")
    assert "さくら商事株式会社" in out and "定例の打ち合わせ" in out
