"""Migration 0016: a database made by the previous release (0015) keeps every row, now Slack's,
and the app works on it; ids of another platform fit beside them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage import outbox, people
from storage.agenda import subscriptions as sync
from storage.db import alembic_config, make_engine, upgrade
from tests.conftest import BACKENDS, pg_url

WHEN = "'2026-11-30 00:05:00'"
TEAMS_USER = "29:1" + "x" * 250  # a Teams id: longer than any Slack id, nothing like one
TEAMS_CHANNEL = "19:6f1c0d2e4b8a4f7c9e3d2a1b0c9d8e7f@thread.tacv2"


@pytest.fixture(params=BACKENDS)
def empty(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('old') / 'old.db'}")
        yield engine
        engine.dispose()
        return
    url = make_url(pg_url())
    target = url.set(database=f"{url.database}_upgrade")
    # The maintenance database: the worker's own may not exist yet when this test runs first.
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    with server.connect() as connection:
        connection.execute(drop)
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    engine = make_engine(target.render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with server.connect() as connection:
        connection.execute(drop)
    server.dispose()


def _fill_like_0015(engine: Engine) -> None:
    rows = [
        "INSERT INTO people (user_id, name, role, tz, locale, email, is_bot)"
        " VALUES ('U0AIKO', 'aiko', 'cs', 'Asia/Tokyo', 'ja-JP', 'aiko@example.com', false),"
        " ('W0KEN', 'ken', 'manager', 'America/New_York', 'en-US', NULL, false)",
        "INSERT INTO outbox (key, kind, recipient, payload, status, attempts, not_before,"
        f" created_at, channel, ts) VALUES ('reminder:1', 'reminder', 'U0AIKO',"
        f" '{{\"text\": \"due\"}}', 'sent', 1, {WHEN}, {WHEN}, 'D0AIKO', '1764460800.000100'),"
        f" ('agenda:C0SALES', 'agenda', 'C0SALES', '{{\"text\": \"agenda\"}}', 'pending', 0,"
        f" {WHEN}, {WHEN}, NULL, NULL)",
        "INSERT INTO sync_subscriptions (channel_id, weekday, hour, minute, zone, team,"
        f" created_by_id, starts_at, created_at, updated_at) VALUES ('C0SALES', 0, 9, 0,"
        f" 'Asia/Tokyo', '[1]', (SELECT id FROM people WHERE user_id = 'W0KEN'),"
        f" {WHEN}, {WHEN}, {WHEN})",
        "INSERT INTO crm_events (source, event_id, payload, received_at, status, attempts,"
        f" not_before, owner_user_id) VALUES ('hubspot', 'e1', '{{}}', {WHEN}, 'done', 1,"
        f" {WHEN}, 'U0AIKO')",
    ]
    with engine.begin() as connection:
        for row in rows:
            connection.execute(text(row))


def test_an_upgrade_keeps_every_row_as_slack(empty: Engine) -> None:
    command.upgrade(alembic_config(empty), "0015_one_reminder_per_subject")
    _fill_like_0015(empty)

    upgrade(empty)

    with empty.connect() as connection:
        who = connection.execute(text("SELECT platform, user_id, name, role FROM people"))
        assert sorted(tuple(r) for r in who) == [
            ("slack", "U0AIKO", "aiko", "cs"),
            ("slack", "W0KEN", "ken", "manager"),
        ]
        sent = connection.execute(text("SELECT platform, recipient, channel, ts FROM outbox"))
        assert sorted(tuple(r) for r in sent) == [
            ("slack", "C0SALES", None, None),
            ("slack", "U0AIKO", "D0AIKO", "1764460800.000100"),
        ]
        subs = connection.execute(
            text("SELECT platform, channel_id, delivery_ref, team FROM sync_subscriptions")
        )
        assert [tuple(r)[:3] for r in subs] == [("slack", "C0SALES", None)]
        owner = connection.execute(text("SELECT owner_user_id FROM crm_events")).scalar_one()
        assert owner == "U0AIKO"

    now = datetime(2026, 12, 1, tzinfo=UTC)
    with Session(empty) as session:
        # The app finds the old rows by their Slack ids, and adds no duplicate.
        aiko = people.get_or_create(session=session, user_id="U0AIKO")
        assert (aiko.name, aiko.platform, aiko.email) == ("aiko", "slack", "aiko@example.com")
        subscription = sync.get(session=session, channel_id="C0SALES")
        assert subscription is not None and subscription.created_by_id is not None
        assert outbox.get_by_key(session=session, key="agenda:C0SALES") is not None
        # Another platform's person and channel fit beside them, even with the same ids.
        other = people.get_or_create(session=session, user_id=TEAMS_USER, platform="teams")
        twin = people.get_or_create(session=session, user_id="U0AIKO", platform="teams")
        assert len({aiko.id, other.id, twin.id}) == 3
        session.add(
            sync.SyncSubscription(
                platform="teams",
                channel_id=TEAMS_CHANNEL,
                weekday=0,
                hour=9,
                minute=0,
                zone="UTC",
                starts_at=now,
                created_at=now,
                updated_at=now,
                delivery_ref={"serviceUrl": "https://smba.example/teams/"},
            )
        )
        session.add(
            sync.SyncSubscription(
                platform="teams",
                channel_id="C0SALES",
                weekday=1,
                hour=9,
                minute=0,
                zone="UTC",
                starts_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()
        # One schedule per channel of a platform, as before.
        session.add(
            sync.SyncSubscription(
                channel_id="C0SALES",
                weekday=1,
                hour=9,
                minute=0,
                zone="UTC",
                starts_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_downgrade_goes_back_to_slack_only(empty: Engine) -> None:
    command.upgrade(alembic_config(empty), "0015_one_reminder_per_subject")
    _fill_like_0015(empty)
    upgrade(empty)
    command.downgrade(alembic_config(empty), "0015_one_reminder_per_subject")
    with empty.connect() as connection:
        names = connection.execute(text("SELECT user_id FROM people ORDER BY id")).scalars()
        assert list(names) == ["U0AIKO", "W0KEN"]
    upgrade(empty)
