"""People: everyone the bot has met, with their role and their cached Slack profile."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, select

from storage.audit import record
from storage.types import UTCDateTime

SLACK = "slack"
"""The platform of every row written before platforms were recorded."""


class Role(StrEnum):
    SALES = "sales"
    CS = "cs"
    SUPPORT = "support"
    MANAGER = "manager"


class Person(SQLModel, table=True):
    __tablename__ = "people"
    __table_args__ = (Index("ix_people_platform_user_id", "platform", "user_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(default=SLACK, max_length=16, sa_column_kwargs={"server_default": SLACK})
    """The chat platform the person belongs to (`slack`, `teams`, `shell`)."""
    user_id: str = Field(max_length=255)
    """The platform's own user id; only the platform's adapter knows its shape."""
    name: str = Field(default="", max_length=200)
    role: str | None = Field(default=None, max_length=16)
    tz: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=16)
    email: str | None = Field(default=None, max_length=320)
    is_bot: bool = False
    profile_fetched_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    delivery_ref: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """What the platform needs to reach the person (a Teams conversation reference); Slack: None."""

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER


def get_by_user_id(*, session: Session, user_id: str, platform: str = SLACK) -> Person | None:
    query = select(Person).where(Person.platform == platform, Person.user_id == user_id)
    return session.exec(query).first()


def get_or_create(*, session: Session, user_id: str, platform: str = SLACK) -> Person:
    person = get_by_user_id(session=session, user_id=user_id, platform=platform)
    if person is None:
        # Two requests naming a new person at once: the second finds the first one's row
        # (on PostgreSQL it waits for it) instead of failing on the unique user ID.
        insert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        session.execute(
            insert(Person)
            .values(platform=platform, user_id=user_id, name="", is_bot=False)
            .on_conflict_do_nothing(index_elements=["platform", "user_id"])
        )
        person = get_by_user_id(session=session, user_id=user_id, platform=platform)
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


def seed_managers(
    *, session: Session, user_ids: tuple[str, ...], at: datetime, platform: str = SLACK
) -> None:
    """`KAKEHASHI_MANAGERS` names the first managers; later role changes are the managers' own."""
    for user_id in user_ids:
        person = get_or_create(session=session, user_id=user_id, platform=platform)
        if person.role is None:
            set_role(
                session=session,
                person=person,
                role=Role.MANAGER,
                actor=None,
                at=at,
                note="KAKEHASHI_MANAGERS",
            )
