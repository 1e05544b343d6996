"""People: everyone the bot has met, with their role and their cached Slack profile."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from storage.audit import record
from storage.types import UTCDateTime


class Role(StrEnum):
    SALES = "sales"
    CS = "cs"
    SUPPORT = "support"
    MANAGER = "manager"


class Person(SQLModel, table=True):
    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    role: str | None = Field(default=None, max_length=16)
    tz: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=320)
    is_bot: bool = False
    profile_fetched_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER


def get_by_user_id(*, session: Session, user_id: str) -> Person | None:
    return session.exec(select(Person).where(Person.user_id == user_id)).first()


def get_or_create(*, session: Session, user_id: str) -> Person:
    person = get_by_user_id(session=session, user_id=user_id)
    if person is None:
        # Two requests naming a new person at once: the second finds the first one's row
        # (on PostgreSQL it waits for it) instead of failing on the unique user ID.
        insert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        session.execute(
            insert(Person)
            .values(user_id=user_id, name="", is_bot=False)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        person = get_by_user_id(session=session, user_id=user_id)
        assert person is not None
    return person


def user_ids(*, session: Session, person_ids: Iterable[int | None]) -> dict[int, str]:
    """Person id → Slack user ID, in one query."""
    wanted = {i for i in person_ids if i is not None}
    if not wanted:
        return {}
    rows = session.exec(select(Person.id, Person.user_id).where(col(Person.id).in_(wanted)))
    return {pid: uid for pid, uid in rows.all() if pid is not None}


def managers(*, session: Session) -> list[Person]:
    return list(session.exec(select(Person).where(Person.role == Role.MANAGER)).all())


def set_role(
    *,
    session: Session,
    person: Person,
    role: Role,
    actor: Person | None,
    at: datetime,
    note: str | None = None,
) -> bool:
    """Give `person` the role; returns False (and records nothing) when it is already theirs."""
    if person.role == role:
        return False
    record(
        session=session,
        actor=actor,
        at=at,
        entity="person",
        entity_id=person.id,
        action="role",
        changes={"role": [person.role, role.value]},
        note=note,
    )
    person.role = role.value
    session.add(person)
    return True


def seed_managers(*, session: Session, user_ids: tuple[str, ...], at: datetime) -> None:
    """`KAKEHASHI_MANAGERS` names the first managers; later role changes are the managers' own."""
    for user_id in user_ids:
        person = get_or_create(session=session, user_id=user_id)
        if person.role is None:
            set_role(
                session=session,
                person=person,
                role=Role.MANAGER,
                actor=None,
                at=at,
                note="KAKEHASHI_MANAGERS",
            )
