"""The delivery engine (PRODUCT §10, §13) sending through Teams: outbox rows reach the fake Bot
Connector once each through 429s with Retry-After and 500s; refusals are failures with their
reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.teams_transport import (
    SENDING,
    ConversationRef,
    Limits,
    TeamsTransport,
    teams_delivery,
)
from commands.ui import Message, Section, message_to_json
from jobs.delivery import Delivery, Pacer
from storage.db import session_scope
from storage.outbox import OutboxMessage, OutboxStatus, enqueue
from testkit.fake_teams import TENANT_ID, Failure, FakeTeams, start_fake_teams
from tests.conftest import NOW, make_settings
from tests.test_delivery import FakeTime


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    fake, server = start_fake_teams()
    yield fake
    server.shutdown()


def references(teams: FakeTeams) -> dict[str, ConversationRef]:
    people = {
        f"aad:{i}": ConversationRef(service_url=teams.url, tenant_id=TENANT_ID, user_id=f"29:{i}")
        for i in range(20)
    }
    channel = ConversationRef(
        service_url=teams.url, tenant_id=TENANT_ID, conversation_id="19:sales@thread.tacv2"
    )
    return {**people, "teams-channel:sales": channel}


def put(engine: Engine, key: str, recipient: str, text: str) -> None:
    with session_scope(engine) as session:
        payload = message_to_json(Message(text=text, blocks=(Section(text),)))
        enqueue(session=session, key=key, kind="test", recipient=recipient, payload=payload, at=NOW)


def rows(engine: Engine) -> dict[str, OutboxMessage]:
    with Session(engine) as session:
        return {r.key: r for r in session.exec(select(OutboxMessage)).all()}


def make_delivery(engine: Engine, teams: FakeTeams, wall: FakeTime) -> Delivery:
    settings = make_settings("sqlite://", "http://127.0.0.1:9/api/")
    delivery = teams_delivery(settings, engine, references(teams).get, clock=wall)
    delivery.transport = TeamsTransport(
        None,
        references(teams).get,
        limits=Limits(clock=wall.monotonic),
        sleep=wall.sleep,
        client=httpx.Client(timeout=httpx.Timeout(0.5)),
        journal=engine,
    )
    delivery.pacer = Pacer(
        per_channel=1 / 7, per_second=50, monotonic=wall.monotonic, sleep=wall.sleep
    )
    return delivery


def sweep_until_done(delivery: Delivery, engine: Engine, wall: FakeTime) -> list[str]:
    lines: list[str] = []
    for _ in range(60):
        lines += delivery.sweep(wall.now())
        if all(r.status != OutboxStatus.PENDING for r in rows(engine).values()):
            return lines
        wall.at += timedelta(hours=1)
    raise AssertionError(f"still pending: {rows(engine)}")


def test_429s_and_500s_deliver_every_message_once(engine: Engine, teams: FakeTeams) -> None:
    wall = FakeTime()
    for i in range(20):
        put(engine, f"rem:{i}", f"aad:{i}", f"reminder {i}")
    for i in range(12):
        put(engine, f"agenda:{i}", "teams-channel:sales", f"agenda {i}")
    teams.fail_next(
        Failure(429, "Throttled", "3"),
        Failure(500),
        Failure(503),
        Failure(429, "Throttled", "1"),
        Failure(502),
        Failure(500),
        Failure(504),
        Failure(412),
    )
    delivery = make_delivery(engine, teams, wall)

    sweep_until_done(delivery, engine, wall)

    texts = Counter(a["text"] for a in teams.activities)
    assert texts == Counter(
        {f"reminder {i}": 1 for i in range(20)} | {f"agenda {i}": 1 for i in range(12)}
    )
    assert teams.failures == type(teams.failures)()  # every fault was really answered
    assert all(r.status == OutboxStatus.SENT for r in rows(engine).values())
    assert max(wall.slept) >= 2.9  # Retry-After: 3 was honoured
    keys = Counter(a["channelData"]["kakehashiKey"] for a in teams.activities)
    assert set(keys.values()) == {1}
    assert len(teams.conversations) == 20  # one personal chat created per person


def test_a_person_who_has_not_installed_the_app_is_a_failure_with_the_reason(
    engine: Engine, teams: FakeTeams
) -> None:
    wall = FakeTime()
    put(engine, "rem:gone", "aad:0", "hello")
    put(engine, "rem:stranger", "aad:never-met", "hello")
    teams.fail_next(Failure(403, "BotNotInConversationRoster"))
    delivery = make_delivery(engine, teams, wall)

    sweep_until_done(delivery, engine, wall)

    found = rows(engine)
    assert found["rem:gone"].status == OutboxStatus.FAILED
    assert "not installed" in (found["rem:gone"].last_error or "")
    assert found["rem:stranger"].status == OutboxStatus.FAILED
    assert "not installed" in (found["rem:stranger"].last_error or "")
    assert teams.activities == []


def test_an_update_is_put_in_place(engine: Engine, teams: FakeTeams) -> None:
    wall = FakeTime()
    put(engine, "agenda:1", "teams-channel:sales", "first")
    delivery = make_delivery(engine, teams, wall)
    sweep_until_done(delivery, engine, wall)
    with session_scope(engine) as session:
        payload = message_to_json(Message(text="edited", blocks=(Section("edited"),)))
        enqueue(
            session=session,
            key="agenda:1:edit",
            kind="test",
            recipient="teams-channel:sales",
            payload=payload,
            at=wall.now(),
            update_of="agenda:1",
        )
    sweep_until_done(delivery, engine, wall)
    assert [u["text"] for u in teams.updates] == ["edited"]
    assert teams.updates[0]["path"].startswith("/v3/conversations/19:sales@thread.tacv2/")


def test_a_post_whose_answer_was_lost_is_not_sent_again_and_is_listed_as_failed(
    engine: Engine, teams: FakeTeams
) -> None:
    """Teams did the work but the answer came after the client gave up: no second copy."""
    wall = FakeTime()
    put(engine, "rem:1", "aad:1", "once")
    put(engine, "rem:2", "aad:2", "twice?")
    teams.fail_next(Failure(201, late=1.5))
    delivery = make_delivery(engine, teams, wall)

    sweep_until_done(delivery, engine, wall)

    assert Counter(a["text"] for a in teams.activities) == Counter({"once": 1, "twice?": 1})
    found = rows(engine)
    lost = [r for r in found.values() if r.status == OutboxStatus.FAILED]
    assert len(lost) == 1
    assert (lost[0].last_error or "").startswith("may have been delivered")


def crashed(engine: Engine, key: str, last_error: str | None) -> None:
    """The row as a sender killed mid-sweep left it: claimed, its lease run out."""
    with session_scope(engine) as session:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.key) == key)
            .values(claimed_until=NOW - timedelta(minutes=5), last_error=last_error)
        )


def test_after_a_crash_rows_never_attempted_are_sent_and_one_in_flight_is_not_resent(
    engine: Engine, teams: FakeTeams
) -> None:
    wall = FakeTime()
    for i in range(3):
        put(engine, f"rem:{i}", f"aad:{i}", f"message {i}")
    crashed(engine, "rem:0", None)  # claimed in the batch, never attempted
    crashed(engine, "rem:1", SENDING)  # its request was on its way
    crashed(engine, "rem:2", "Teams 429 Throttled")  # refused before: certainly not there
    delivery = make_delivery(engine, teams, wall)

    sweep_until_done(delivery, engine, wall)

    assert sorted(a["text"] for a in teams.activities) == ["message 0", "message 2"]
    found = rows(engine)
    assert found["rem:1"].status == OutboxStatus.FAILED
    assert (found["rem:1"].last_error or "").startswith("may have been delivered")
