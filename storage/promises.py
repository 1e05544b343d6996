"""Promises made to a customer during the sale (or later), owned until kept, broken or waived."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    Select,
    case,
    func,
    literal_column,
    or_,
    text,
    update,
)
from sqlmodel import Field, Session, SQLModel, col, select

from storage.audit import AuditEntry, record
from storage.db import note_changed
from storage.types import UTCDateTime

_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")
"""A select of promises: whole rows, one column, or several."""


class PromiseStatus(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    WAIVED = "waived"


class Recurrence(StrEnum):
    WEEK = "week"
    MONTH = "month"


class Promise(SQLModel, table=True):
    """Shown to people as `P-<id>`."""

    __tablename__ = "promises"
    __table_args__ = (
        # An account's open promises by due date, and its promise ids, from the index alone: a
        # team's overdue promises are a few probes per account, not a walk of every due date.
        Index("ix_promises_account_status_due", "account_id", "status", "due_date", "id"),
        # What the reminder sweep reads, from the index alone (migrations 0008, 0011).
        Index(
            "ix_promises_open_due",
            "due_date",
            "account_id",
            "owner_id",
            "id",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        # The promises of an account that can have been kept or broken since a date, from the
        # index alone: a team's closures are looked up for these, not for every promise
        # (migration 0010).
        Index("ix_promises_account_closed", "account_id", "closed_at", "kept_count", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id")
    text: str
    owner_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    """Who keeps it: the account's CS owner."""
    promised_by_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    """Who made it to the customer, usually the sales rep."""
    source: str = Field(default="command", max_length=16)
    """`handoff` or `command`."""
    handoff_id: int | None = Field(default=None, foreign_key="handoffs.id", index=True)
    due_date: date | None = Field(default=None, index=True)
    """For recurring promises: the next occurrence's due date."""
    recurrence: str | None = Field(default=None, max_length=8)
    kept_count: int = 0
    status: str = Field(default=PromiseStatus.OPEN.value, max_length=8, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    closed_by_id: int | None = Field(default=None, foreign_key="people.id")
    close_note: str | None = None


# ---- the ledger ------------------------------------------------------------------------------


def is_open() -> ColumnElement[bool]:
    """Open promises, written with a constant rather than a parameter: SQLite answers from the
    partial index over open promises (`ix_promises_open_due`) alone only when it can see that
    the query asks for no more than the index holds."""
    return col(Promise.status) == literal_column(f"'{PromiseStatus.OPEN.value}'")


def add(
    *,
    session: Session,
    account_id: int,
    text: str,
    due_date: date | None,
    recurrence: Recurrence | None,
    owner_id: int | None,
    promised_by_id: int | None,
    actor: Any,
    at: datetime,
    source: str = "command",
    handoff_id: int | None = None,
) -> Promise:
    """A new open promise, audited; for recurring ones `due_date` is the first occurrence."""
    promise = Promise(
        account_id=account_id,
        text=text,
        due_date=due_date,
        recurrence=recurrence.value if recurrence else None,
        owner_id=owner_id,
        promised_by_id=promised_by_id,
        source=source,
        handoff_id=handoff_id,
        created_at=at,
    )
    session.add(promise)
    session.flush()
    changes = {
        "account_id": account_id,
        "text": text,
        "due_date": due_date.isoformat() if due_date else None,
        "recurrence": promise.recurrence,
    }
    record(
        session=session,
        actor=actor,
        at=at,
        entity="promise",
        entity_id=promise.id,
        action="create",
        changes=changes,
    )
    return promise


def get(*, session: Session, promise_id: int) -> Promise | None:
    return session.get(Promise, promise_id)


def open_promises(
    *,
    session: Session,
    account_id: int | None = None,
    person_id: int | None = None,
    due_before: date | None = None,
    limit: int = 100,
) -> list[Promise]:
    """Open promises, due first (undated last); narrowed to an account, to a person (who owns or
    made them), or to those due before a day (overdue)."""
    query = _open_where(select(Promise), account_id, person_id, due_before).order_by(*_due_first())
    return list(session.exec(query.limit(limit)).all())


def count_open(
    *,
    session: Session,
    account_id: int | None = None,
    person_id: int | None = None,
    due_before: date | None = None,
) -> int:
    query = select(func.count()).select_from(Promise)
    return int(session.exec(_open_where(query, account_id, person_id, due_before)).one())


def first_open(
    *, session: Session, account_id: int, day: date, limit: int
) -> tuple[list[Promise], int, int]:
    """An account's first open promises (as `open_promises` orders them), with how many are
    open and how many of those are due before `day`: one statement."""
    overdue = func.count(case((col(Promise.due_date) < day, 1))).over()
    query = _open_where(select(Promise, func.count().over(), overdue), account_id, None, None)
    rows = session.exec(query.order_by(*_due_first()).limit(limit)).all()
    total, late = (rows[0][1], rows[0][2]) if rows else (0, 0)
    return [row[0] for row in rows], int(total), int(late)


def _due_first() -> tuple[Any, ...]:
    """Due first, undated last."""
    return col(Promise.due_date).is_(None), col(Promise.due_date), col(Promise.id)


def _open_where(
    query: _Query, account_id: int | None, person_id: int | None, due_before: date | None
) -> _Query:
    query = query.where(col(Promise.status) == PromiseStatus.OPEN.value)
    if account_id is not None:
        query = query.where(col(Promise.account_id) == account_id)
    if person_id is not None:
        query = query.where(
            or_(col(Promise.owner_id) == person_id, col(Promise.promised_by_id) == person_id)
        )
    if due_before is not None:
        query = query.where(col(Promise.due_date) < due_before)
    return query


def close(
    *,
    session: Session,
    promise: Promise,
    status: PromiseStatus,
    note: str | None,
    actor: Any,
    at: datetime,
) -> bool:
    """Kept, broken or waived: the promise is no longer open. False (nothing recorded) when it
    was closed already, by a press at the same moment: `promise` then says by whom."""
    closed = session.execute(
        update(Promise)
        .where(col(Promise.id) == promise.id, col(Promise.status) == PromiseStatus.OPEN.value)
        .values(
            status=status.value,
            closed_at=at,
            closed_by_id=actor.id if actor is not None else None,
            close_note=note,
        )
    )
    session.refresh(promise)
    if closed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    note_changed(session, promise)
    record(
        session=session,
        actor=actor,
        at=at,
        entity="promise",
        entity_id=promise.id,
        action=status.value,
        changes={"status": [PromiseStatus.OPEN.value, status.value]},
        note=note,
    )
    return True


def keep_occurrence(
    *,
    session: Session,
    promise: Promise,
    next_due: date,
    note: str | None,
    actor: Any,
    at: datetime,
) -> bool:
    """One occurrence of a recurring promise was kept: counted, and the next one falls due.
    False (nothing recorded) when that occurrence was kept, or the promise closed, by a press at
    the same moment: a compare-and-set on the due date."""
    due = promise.due_date
    same_due = col(Promise.due_date).is_(None) if due is None else col(Promise.due_date) == due
    kept = session.execute(
        update(Promise)
        .where(
            col(Promise.id) == promise.id,
            col(Promise.status) == PromiseStatus.OPEN.value,
            same_due,
        )
        .values(kept_count=Promise.kept_count + 1, due_date=next_due)
    )
    session.refresh(promise)
    if kept.rowcount != 1:  # type: ignore[attr-defined]
        return False
    note_changed(session, promise)
    changes = {
        "due_date": [due.isoformat() if due else None, next_due.isoformat()],
        "kept_count": [promise.kept_count - 1, promise.kept_count],
    }
    record(
        session=session,
        actor=actor,
        at=at,
        entity="promise",
        entity_id=promise.id,
        action="kept_occurrence",
        changes=changes,
        note=note,
    )
    return True


def last_kept_occurrence(*, session: Session, promise: Promise) -> AuditEntry | None:
    """The audit entry of the latest occurrence kept (its `changes["due_date"][0]` is the
    occurrence's due date)."""
    return session.exec(
        select(AuditEntry)
        .where(
            AuditEntry.entity == "promise",
            AuditEntry.entity_id == promise.id,
            AuditEntry.action == "kept_occurrence",
        )
        .order_by(col(AuditEntry.id).desc())
    ).first()


def first_due_date(*, session: Session, promise: Promise) -> date | None:
    """The due date the promise was created with (monthly promises keep its day of the month)."""
    created = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == "promise",
            AuditEntry.entity_id == promise.id,
            AuditEntry.action == "create",
        )
    ).first()
    written = created.changes.get("due_date") if created else None
    return date.fromisoformat(written) if isinstance(written, str) else promise.due_date
