"""Events from the CRMs (PRODUCT §14): stored as they arrive, before any work, and processed by
the scheduler's sweep. The unique (source, event id) makes a repeated delivery change nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from storage.types import UTCDateTime

CLAIM = timedelta(minutes=5)
"""How long a sweep holds an event it is working on; another replica takes it over after."""


class CrmSource(StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"
    WEBHOOK = "webhook"
    """The generic signed webhook (`POST /crm/events`) and the shell's replay."""


class CrmStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    """Worked on for good; `outcome` says what came of it."""
    FAILED = "failed"
    """Could not be worked on (the CRM kept failing); `outcome` says why."""


class CrmEvent(SQLModel, table=True):
    __tablename__ = "crm_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_crm_events_source_event"),
        Index("ix_crm_events_due", "status", "not_before"),
        Index("ix_crm_events_offered", "outcome", "escalated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    event_id: str = Field(max_length=255)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The event as received (one HubSpot event, one Salesforce notification's fields, or the
    generic webhook's body)."""
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default=CrmStatus.PENDING.value, max_length=8)
    attempts: int = 0
    not_before: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    outcome: str | None = Field(default=None, max_length=32)
    deal: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """The won deal as read when processed (what prefills the handoff form)."""
    account_id: int | None = None
    owner_user_id: str | None = Field(default=None, max_length=255)
    """The deal owner on the chat platform, who may hand it off."""
    last_error: str | None = None
    """Why the CRM could not be read, the last time it was tried."""
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    """When the managers were told (owner unknown, or not handed off in time)."""


def store(
    *,
    session: Session,
    source: CrmSource,
    events: Sequence[tuple[str, dict[str, Any]]],
    at: datetime,
) -> int:
    """Stores each (event id, payload) not stored yet, in one statement; returns how many were
    new. A repeated id is skipped by the database, so concurrent retries store it once."""
    rows = [
        {"source": source.value, "event_id": event_id, "payload": payload}
        for event_id, payload in events
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(CrmEvent)
        .values(received_at=at, not_before=at, status=CrmStatus.PENDING.value, attempts=0)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(col(CrmEvent.id))
    )
    return len(session.execute(statement, rows).all())


def due(*, session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Ids of the pending events whose time has come and that no sweep holds."""
    query = (
        select(CrmEvent.id)
        .where(CrmEvent.status == CrmStatus.PENDING.value, col(CrmEvent.not_before) <= now)
        .where(or_(col(CrmEvent.claimed_until).is_(None), col(CrmEvent.claimed_until) < now))
        .order_by(col(CrmEvent.id))
        .limit(limit)
    )
    return [i for i in session.exec(query).all() if i is not None]


def claim(*, session: Session, event_id: int, now: datetime) -> bool:
    """Takes the event for this sweep unless another holds it; True when taken."""
    statement = (
        update(CrmEvent)
        .where(col(CrmEvent.id) == event_id, col(CrmEvent.status) == CrmStatus.PENDING.value)
        .where(or_(col(CrmEvent.claimed_until).is_(None), col(CrmEvent.claimed_until) < now))
        .values(claimed_until=now + CLAIM)
    )
    return bool(getattr(session.execute(statement), "rowcount", 0) == 1)


def offered_before(*, session: Session, before: datetime) -> list[CrmEvent]:
    """Deals offered to their owner before `before` whose managers were not told yet."""
    query = (
        select(CrmEvent)
        .where(CrmEvent.outcome == "offered", col(CrmEvent.escalated_at).is_(None))
        .where(col(CrmEvent.processed_at) <= before)
        .order_by(col(CrmEvent.id))
    )
    return list(session.exec(query).all())


def failed(*, session: Session) -> list[CrmEvent]:
    query = select(CrmEvent).where(CrmEvent.status == CrmStatus.FAILED.value)
    return list(session.exec(query.order_by(col(CrmEvent.id))).all())
