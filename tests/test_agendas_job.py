"""The agenda sweep on a real database: which slot is due, what it writes to the outbox, and that
a second sweep — or one racing it — writes nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from commands.agenda.subscribe import channel_agenda
from commands.ui import Header, message_from_json
from jobs.agenda import Agendas, due_slot
from storage.agenda import subscriptions as stored
from storage.agenda.subscriptions import Schedule, SyncSubscription
from storage.db import session_scope
from storage.outbox import OutboxMessage
from storage.people import get_or_create
from tests.test_agenda import build_world

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 in Tokyo
SLOT = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # the next Monday 09:00 in Tokyo
SILENCE = {"high": 14, "low": 45, "tech": 90}


def subscribe(engine: Engine, channel: str = "CTEAM", locale: str | None = None) -> None:
    with session_scope(engine) as session:
        actor = get_or_create(session=session, user_id="USALES")
        schedule = Schedule(0, time(9), "Asia/Tokyo", locale=locale)
        stored.subscribe(
            session=session, channel_id=channel, schedule=schedule, actor=actor, at=NOW
        )


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


def test_the_next_slot_is_written_once_with_its_key_and_time(engine: Engine) -> None:
    subscribe(engine)
    agendas = Agendas(engine, "en", SILENCE)
    assert agendas.sweep(NOW) == [] and outbox(engine) == []  # today's 09:00 was before it
    assert agendas.preview(SLOT - timedelta(minutes=1)) == []
    assert agendas.preview(SLOT) == ["agenda → CTEAM (week ending 2026-11-30T09:00+09:00)"]
    assert outbox(engine) == []  # a preview writes nothing
    agendas.sweep(SLOT + timedelta(minutes=3))
    (row,) = outbox(engine)
    assert (row.key, row.kind, row.recipient, row.status) == (
        "agenda:CTEAM:2026-11-30",
        "agenda",
        "CTEAM",
        "pending",
    )
    assert row.not_before == SLOT
    message = message_from_json(row.payload)
    assert message.blocks[0] == Header("Weekly Sales × CS sync · Nov 23, 2026 – Nov 30, 2026")
    agendas.sweep(SLOT + timedelta(hours=5))
    assert len(outbox(engine)) == 1
    with Session(engine) as session:
        subscription = session.exec(select(SyncSubscription)).one()
        assert subscription.last_slot == SLOT


def test_a_sweep_that_lost_the_race_writes_nothing(engine: Engine) -> None:
    subscribe(engine)
    slow, fast = Agendas(engine, "en", SILENCE), Agendas(engine, "en", SILENCE)
    with Session(engine) as session:
        ((subscription, slot),) = slow.due(session, SLOT)
        subscription_id = subscription.id
    fast.sweep(SLOT)
    assert subscription_id is not None
    slow._write(subscription_id, slot, SLOT)  # it had seen the slot as due before `fast` wrote it
    assert len(outbox(engine)) == 1


def test_a_channel_that_stopped_meanwhile_gets_nothing(engine: Engine) -> None:
    subscribe(engine)
    agendas = Agendas(engine, "en", SILENCE)
    with session_scope(engine) as session:
        ((subscription, slot),) = agendas.due(session, SLOT)
        subscription_id = subscription.id
        stored.unsubscribe(session=session, subscription=subscription, actor=None, at=SLOT)
    assert subscription_id is not None
    agendas._write(subscription_id, slot, SLOT)
    assert outbox(engine) == []


def test_the_channels_language_or_the_default(engine: Engine) -> None:
    subscribe(engine, "CJA", locale="ja")
    subscribe(engine, "CDEFAULT")
    Agendas(engine, "en", SILENCE).sweep(SLOT)
    headers = {row.recipient: message_from_json(row.payload).blocks[0] for row in outbox(engine)}
    assert headers == {
        "CJA": Header("営業 × CS 週次ミーティング・アジェンダ(2026年11月23日〜2026年11月30日)"),
        "CDEFAULT": Header("Weekly Sales × CS sync · Nov 23, 2026 – Nov 30, 2026"),
    }


def test_channels_due_together_get_what_each_would_get_alone(engine: Engine) -> None:
    """One sweep shares what its agendas read: the two channels that follow every account read
    it once, the teams' lists are read per owner and merged, and each team's channel still gets
    its own accounts only."""
    with session_scope(engine) as session:
        world = build_world(session)
        aiko, ben = world.aiko.id, world.ben.id
        assert aiko is not None and ben is not None
    subscribe(engine, "CALL", locale="en")
    subscribe(engine, "CALLJA", locale="ja")
    with session_scope(engine) as session:
        actor = get_or_create(session=session, user_id="USALES")
        for channel, members in (("CBEN", (ben,)), ("CBOTH", (ben, aiko))):
            team = Schedule(0, time(9), "Asia/Tokyo", team=members, locale="en")
            stored.subscribe(
                session=session, channel_id=channel, schedule=team, actor=actor, at=NOW
            )
    Agendas(engine, "en", SILENCE).sweep(SLOT)
    written = {row.recipient: message_from_json(row.payload) for row in outbox(engine)}
    with Session(engine) as session:
        alone = {
            subscription.channel_id: channel_agenda(
                session, subscription, end=SLOT, default_locale="en", silence_days=SILENCE
            )
            for subscription in stored.subscriptions(session=session)
        }
    assert written == alone
    assert "Alpha" in str(written["CALL"]) and "Alpha" not in str(written["CBEN"])
    assert "Alpha" in str(written["CBOTH"]) and "Gamma" in str(written["CBOTH"])


def test_due_slot_rules(engine: Engine) -> None:
    subscription = SyncSubscription(
        channel_id="C1",
        weekday=0,
        hour=9,
        minute=0,
        zone="Asia/Tokyo",
        starts_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    assert due_slot(subscription, NOW) is None  # set up after today's slot
    assert due_slot(subscription, SLOT - timedelta(seconds=1)) is None
    assert due_slot(subscription, SLOT) == SLOT
    assert due_slot(subscription, SLOT + timedelta(days=3)) == SLOT  # late: still this one
    subscription.last_slot = SLOT
    assert due_slot(subscription, SLOT + timedelta(days=3)) is None
    assert due_slot(subscription, SLOT + timedelta(days=7)) == SLOT + timedelta(days=7)
    subscription.zone = "Nowhere/Invalid"  # a zone that vanished from tzdata reads as UTC
    assert due_slot(subscription, SLOT + timedelta(days=7, hours=9)) == SLOT + timedelta(
        days=7, hours=9
    )
