"""Control characters never stored (issue 19 item 11, PRODUCT §11): NUL, the other C0 controls
but tab and line feed, and bidirectional overrides are removed from every text field before
storage (on PostgreSQL a NUL made the handoff fail with a 500), and no error or log line carries
a statement's values."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from storage.accounts import Account
from storage.audit import AuditEntry
from storage.db import make_engine
from storage.handoffs import Contact, Handoff, HandoffMessage
from storage.people import Person
from storage.promises import Promise
from testkit.signing import block_actions_body, slash_command_body
from tests.conftest import SlackServer
from tests.handoff_data import form_values
from tests.test_slack_handoff import open_form, submit

CONTROLS = "\x00\x01\x07\x1b\r\x7f\u202e\u2066"


def spiked(value: str) -> str:
    """`value` with every control character in the middle of it."""
    middle = len(value) // 2
    return value[:middle] + CONTROLS + value[middle:]


def has_controls(value: str) -> bool:
    return any(c in value for c in CONTROLS)


async def test_a_handoff_is_stored_without_control_characters(
    server: SlackServer, engine: Engine
) -> None:
    clean = form_values()
    view = await open_form(server, "")
    dirty = {k: spiked(v) if v and k not in ("cs_owner", "touch_model", "currency") else v
             for k, v in clean.items()}  # fmt: skip
    assert await submit(server, view, dirty) == {}
    with Session(engine) as session:
        account = session.exec(select(Account)).one()
        handoff = session.exec(select(Handoff)).one()
        contacts = session.exec(select(Contact)).all()
        promises = session.exec(select(Promise)).all()
        audit = session.exec(select(AuditEntry)).all()
    assert account.name == "Initech K.K." and account.plan == "Enterprise, 200 seats"
    assert handoff.goals == clean["goals"] and handoff.problems == clean["problems"]
    assert sorted(c.name for c in contacts) == ["Sato Ken", "Tanaka Yuki"]
    assert not any(has_controls(p.text) for p in promises) and len(promises) == 2
    assert not any(has_controls(json.dumps(a.changes, ensure_ascii=False)) for a in audit)


async def test_a_question_and_a_command_are_stored_without_control_characters(
    server: SlackServer, engine: Engine
) -> None:
    view = await open_form(server, "")
    assert await submit(server, view, form_values()) == {}
    body = block_actions_body(
        "UCS", "handoff_ask", "1", channel_id="DUCS", trigger_id="ask-1",
        response_url=server.slack.new_response_url(),
    )  # fmt: skip
    assert (await server.post(body)).status_code == 200
    opened = await server.slack.await_for(
        "views.open", predicate=lambda b: b["trigger_id"] == "ask-1"
    )
    assert (
        await submit(server, opened[0]["view"], {"text": spiked("Who signs the PO?")}, "UCS") == {}
    )
    url = server.slack.new_response_url()
    command = slash_command_body("/promise", spiked("Initech: send the SSO guide"), "USALES",
                                 response_url=url)  # fmt: skip
    assert (await server.post(command)).status_code == 200
    await server.reply_to(url)
    with Session(engine) as session:
        question = session.exec(select(HandoffMessage)).one()
        promise_texts = sorted(p.text for p in session.exec(select(Promise)))
    assert question.text == "Who signs the PO?"
    assert "send the SSO guide" in promise_texts


async def test_a_slack_profile_name_is_stored_without_control_characters(
    server: SlackServer, engine: Engine
) -> None:
    server.slack.add_user("UEVIL", name="eve\u202egnp.exe\x00", locale="en-US")
    url = server.slack.new_response_url()
    assert (await server.post(slash_command_body("/kakehashi", "help", "UEVIL",
                                                 response_url=url))).status_code == 200  # fmt: skip
    await server.reply_to(url)
    with Session(engine) as session:
        assert session.exec(select(Person).where(Person.user_id == "UEVIL")).one().name == (
            "evegnp.exe"
        )


def test_a_failed_statement_never_shows_its_values(database_url: str) -> None:
    engine = make_engine(database_url)
    with pytest.raises(DBAPIError) as failed, engine.connect() as connection:
        connection.execute(text("SELECT :secret FROM no_such_table"), {"secret": "顧客の秘密"})
    engine.dispose()
    assert "顧客の秘密" not in str(failed.value)
