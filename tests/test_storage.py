"""Storage: migrations match the models on every backend; times stay UTC; sessions are units of
work; an unreachable database is reported, not crashed on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, text
from sqlmodel import Session, select

from storage.accounts import Account
from storage.db import (
    DatabaseUnavailable,
    alembic_config,
    has_written,
    is_reachable,
    make_engine,
    session_scope,
    upgrade,
)
from storage.handoffs import Handoff
from storage.people import Person, Role, get_or_create, seed_managers, set_role
from storage.touches import Touch


def test_migrations_have_one_head(engine: Engine) -> None:
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    command.check(alembic_config(engine))  # raises when autogenerate would find a difference


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert is_reachable(engine)


def test_postgresql_plans_every_statement_for_its_own_values(engine: Engine) -> None:
    """Nothing is prepared on the server, so no generic plan is ever kept for all values."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with engine.connect() as connection:
        for _ in range(10):
            connection.execute(select(Person.id).where(Person.user_id == "U1")).all()
        prepared = connection.execute(text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared.scalar() == 0


def test_datetimes_come_back_as_aware_utc(session: Session) -> None:
    tokyo = timezone(timedelta(hours=9))
    person = Person(user_id="U1", profile_fetched_at=datetime(2026, 12, 1, 9, 0, tzinfo=tokyo))
    session.add(person)
    session.flush()
    session.expire_all()
    loaded = session.exec(select(Person).where(Person.user_id == "U1")).one()
    assert loaded.profile_fetched_at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert loaded.profile_fetched_at is not None and loaded.profile_fetched_at.tzinfo is UTC


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(Person(user_id="U2", profile_fetched_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        get_or_create(session=session, user_id="UROLLBACK")
        raise RuntimeError("boom")
    with Session(engine) as session:
        assert session.exec(select(Person).where(Person.user_id == "UROLLBACK")).first() is None


def test_roles_are_audited_and_managers_seeded_once(session: Session) -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    seed_managers(session=session, user_ids=("UM1",), at=now)
    manager = get_or_create(session=session, user_id="UM1")
    assert manager.role == Role.MANAGER
    set_role(session=session, person=manager, role=Role.CS, actor=manager, at=now)
    seed_managers(session=session, user_ids=("UM1",), at=now)  # a restart does not undo it
    assert manager.role == Role.CS


def test_unreachable_database() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert not is_reachable(engine)
    with pytest.raises(DatabaseUnavailable), session_scope(engine) as session:
        session.exec(select(Person)).first()
    with pytest.raises(DatabaseUnavailable):
        upgrade(engine)


def test_last_contact_is_the_latest_touch_or_acceptance_whatever_writes_it(engine: Engine) -> None:
    """Backfilled by its migration, then kept by the database: a touch or an acceptance only
    ever raises it, however it is written (the ORM, a bulk insert, plain SQL)."""
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        rep = get_or_create(session=session, user_id="U1")
        touched, accepted, quiet = (
            Account(name=n, name_key=n, created_at=at, updated_at=at) for n in "abc"
        )
        session.add_all([touched, accepted, quiet])
        session.flush()
        session.add(Touch(account_id=touched.id or 0, note="call", at=at + timedelta(days=3)))
        session.add(Touch(account_id=touched.id or 0, note="older", at=at + timedelta(days=1)))
        session.add(Touch(account_id=accepted.id or 0, note="call", at=at + timedelta(days=1)))
        handoff = Handoff(
            account_id=accepted.id or 0,
            sales_rep_id=rep.id or 0,
            cs_owner_id=rep.id or 0,
            goals="g",
            created_at=at,
        )
        session.add(handoff)
        session.flush()
        ids = touched.id, accepted.id, quiet.id, handoff.id

    def contacts() -> list[datetime | None]:
        with Session(engine) as session:
            found = {a.id: a.last_contact_at for a in session.exec(select(Account)).all()}
        return [found[i] for i in ids[:3]]

    assert contacts() == [at + timedelta(days=3), at + timedelta(days=1), None]
    command.downgrade(alembic_config(engine), "0008_open_promises_by_due_date")
    upgrade(engine)  # the backfill finds the same
    assert contacts() == [at + timedelta(days=3), at + timedelta(days=1), None]

    with session_scope(engine) as session:  # an acceptance after the last touch raises it
        accepting = session.get(Handoff, ids[3])
        assert accepting is not None
        accepting.accepted_at = at + timedelta(days=2)
        session.add(accepting)
    with engine.begin() as connection:  # a touch older than the last contact changes nothing
        connection.execute(
            insert(Touch), [{"account_id": ids[0], "note": "late log", "at": at, "channel": "chat"}]
        )
    assert contacts() == [at + timedelta(days=3), at + timedelta(days=2), None]


def test_concurrent_touches_never_lower_the_last_contact(engine: Engine) -> None:
    """PostgreSQL: of two touches written at once, the later one wins whichever commits last
    (the second writer waits for the first, then re-checks the account row)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def touch(connection: Any, account_id: int, days: int) -> None:
        row = {"account_id": account_id, "note": "n", "at": at + timedelta(days=days)}
        connection.execute(insert(Touch), [{**row, "channel": "chat"}])

    for first, second in ((3, 1), (1, 3)):
        with session_scope(engine) as session:
            account = Account(name="a", name_key="a", created_at=at, updated_at=at)
            session.add(account)
            session.flush()
            account_id = account.id or 0
        errors: list[BaseException] = []
        with engine.connect() as one, engine.connect() as two:
            touch(one, account_id, first)  # holds the account row until it commits

            def later(
                connection: Any = two, account_id: int = account_id, days: int = second
            ) -> None:
                try:
                    touch(connection, account_id, days)
                    connection.commit()
                except BaseException as error:  # reported below, in the test's thread
                    errors.append(error)  # noqa: B023 (read once the thread has ended)

            waiting = threading.Thread(target=later)
            waiting.start()
            waiting.join(0.3)
            assert waiting.is_alive() and not errors  # blocked on the account row
            one.commit()
            waiting.join(5)
        assert not errors
        with Session(engine) as session:
            found = session.get(Account, account_id)
            assert found is not None and found.last_contact_at == at + timedelta(days=3)


def test_has_written_tells_a_unit_of_work_that_only_read_from_one_that_wrote(
    engine: Engine,
) -> None:
    """What lets a command that changed nothing skip marking its request done (bot.runtime)."""
    with Session(engine) as session:
        get_or_create(session=session, user_id="UREADER")
        session.commit()
    with Session(engine) as session:
        person = session.exec(select(Person)).one()
        assert not has_written(session)
        person.name = "renamed"  # not flushed yet: has_written flushes it first
        assert has_written(session)
        session.rollback()
        session.exec(select(Account)).all()
        assert not has_written(session)
        session.execute(text("UPDATE people SET name = 'kenji'"))  # not through the ORM
        assert has_written(session)
