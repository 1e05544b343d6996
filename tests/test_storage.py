"""Storage: migrations match the models on every backend; times stay UTC; sessions are units of
work; an unreachable database is reported, not crashed on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from storage.db import (
    DatabaseUnavailable,
    alembic_config,
    is_reachable,
    make_engine,
    session_scope,
    upgrade,
)
from storage.people import Person, Role, get_or_create, seed_managers, set_role


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
