"""Reminders that were sent: one row per occurrence, so each is sent once and the buttons of its
DM know what they act on.

An occurrence's `key` is its identity, built from the data that made it due, e.g.
`renewal:7:2027-03-01:90` (account 7, renewal date, 90 days before) or `promise:12:2026-11-23:due`.
Change the data (a new renewal date, a touch, a kept promise) and what is due has a new key or
none at all, so nothing stale is repeated.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, String, any_, bindparam, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, Session, SQLModel, col, select

from storage.db import bulk_insert
from storage.types import UTCDateTime


class ReminderKind(StrEnum):
    HANDOFF = "handoff"
    """A pending handoff, to its CS owner."""
    ESCALATION = "escalation"
    """A handoff still pending, to a manager."""
    CHECKIN = "checkin"
    PROMISE = "promise"
    RENEWAL = "renewal"
    SILENT = "silent"


class ReminderStatus(StrEnum):
    SENT = "sent"
    """In a DM that was written to the outbox."""
    SNOOZED = "snoozed"
    """Comes back at `snoozed_until`."""
    DONE = "done"
    KEPT = "kept"
    """Its promise was kept from the reminder."""
    DROPPED = "dropped"
    """No longer due when it was to be sent (again): the data changed, or a later reminder
    about the same subject took its place."""
    RESOLVED = "resolved"
    """What it asked for was done (the promise kept, a touch logged, the handoff accepted), by
    its button or any other way."""


class Reminder(SQLModel, table=True):
    __tablename__ = "reminders"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=16)
    detail: str = Field(default="", max_length=32)
    """Which occurrence: `90` (days before renewal), `due`, `overdue-2`, `14` (check-in day)."""
    person_id: int = Field(foreign_key="people.id", index=True)
    """Who it is for."""
    account_id: int | None = Field(default=None, index=True)
    promise_id: int | None = None
    """The account and the promise are not foreign keys: PostgreSQL would lock the row each
    points to, writing to its page, for every reminder a sweep writes (migration 0012). A
    sweep writes them from rows it has just read, and nothing deletes accounts or promises."""
    handoff_id: int | None = Field(default=None, foreign_key="handoffs.id")
    due_on: date | None = None
    """The date the data names: renewal date, promise due date, check-in day, silent since."""
    status: str = Field(default=ReminderStatus.SENT.value, max_length=8, index=True)
    snoozed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    """Last time it was put in a DM."""
    handled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    handled_by_id: int | None = Field(default=None, foreign_key="people.id")


class ReminderItem(SQLModel, table=True):
    """A reminder's place in one DM; buttons carry the item id, so pressing one rebuilds that DM
    in place (a snoozed reminder that comes back sits in a second DM, and the first still says
    it was snoozed)."""

    __tablename__ = "reminder_items"

    id: int | None = Field(default=None, primary_key=True)
    message_key: str = Field(max_length=255, index=True)
    """The outbox key of the DM."""
    reminder_id: int = Field(foreign_key="reminders.id", index=True)
    position: int = 0


Subject = tuple[str, int | None, int | None, int | None]
"""What a reminder is about, for one person: its kind and the account, promise and handoff it
names. One subject is one reminder, however many occurrences and DMs named it."""

OPEN = (ReminderStatus.SENT.value, ReminderStatus.SNOOZED.value)


def subject(reminder: Reminder) -> Subject:
    return reminder.kind, reminder.account_id, reminder.promise_id, reminder.handoff_id


SUBJECT_COLUMNS = (
    col(Reminder.person_id),
    col(Reminder.kind),
    col(Reminder.account_id),
    col(Reminder.promise_id),
    col(Reminder.handoff_id),
)
"""A subject's columns, the person's first (for GROUP BY)."""


def open_on_accounts(*, session: Session, account_ids: Iterable[int]) -> list[Reminder]:
    """Reminders sent or snoozed that name one of these accounts (a sweep's thousands of
    accounts are asked about in chunks, within SQLite's limit on parameters)."""
    wanted = sorted(set(account_ids))
    found: list[Reminder] = []
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        chunk = wanted[start : start + KEYS_PER_QUERY]
        query = select(Reminder).where(
            col(Reminder.account_id).in_(chunk), col(Reminder.status).in_(OPEN)
        )
        found += session.exec(query).all()
    return found


def open_of_people(*, session: Session, person_ids: Iterable[int]) -> list[Reminder]:
    """Reminders sent or snoozed to these people."""
    wanted = list(set(person_ids))
    if not wanted:
        return []
    query = select(Reminder).where(
        col(Reminder.person_id).in_(wanted), col(Reminder.status).in_(OPEN)
    )
    return list(session.exec(query).all())


def message_keys(*, session: Session, reminder_ids: Iterable[int]) -> list[str]:
    """The DMs that named these reminders."""
    wanted = list(set(reminder_ids))
    if not wanted:
        return []
    query = (
        select(ReminderItem.message_key).where(col(ReminderItem.reminder_id).in_(wanted)).distinct()
    )
    return sorted(session.exec(query).all())


KEYS_PER_QUERY = 2000
"""Well under SQLite's limit on parameters in one statement (32,766)."""


def sent_keys(*, session: Session, keys: Iterable[str]) -> set[str]:
    """Those of `keys` that a reminder was already written for."""
    wanted = list(set(keys))
    if session.get_bind().dialect.name == "postgresql":  # one array, not a parameter per key
        listed = bindparam("keys", wanted, type_=ARRAY(String))
        return set(session.exec(select(Reminder.key).where(col(Reminder.key) == any_(listed))))
    found: set[str] = set()
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        chunk = wanted[start : start + KEYS_PER_QUERY]
        found.update(session.exec(select(Reminder.key).where(col(Reminder.key).in_(chunk))))
    return found


def snoozed_due(*, session: Session, now: datetime) -> list[Reminder]:
    """Snoozed reminders whose time has come."""
    query = select(Reminder).where(
        Reminder.status == ReminderStatus.SNOOZED, col(Reminder.snoozed_until) <= now
    )
    return list(session.exec(query).all())


def snoozed_subjects(*, session: Session, after: datetime) -> set[tuple[object, ...]]:
    """(person id, *subject) of the reminders snoozed until after `after`."""
    query = sa_select(*SUBJECT_COLUMNS).where(
        col(Reminder.status) == ReminderStatus.SNOOZED.value, col(Reminder.snoozed_until) > after
    )
    return {tuple(row) for row in session.execute(query).all()}


def claim_again(*, session: Session, reminder_id: int, now: datetime) -> bool:
    """Moves a snoozed reminder back to `sent`; False when another sweep already did."""
    result = session.execute(
        update(Reminder)
        .where(col(Reminder.id) == reminder_id, col(Reminder.status) == ReminderStatus.SNOOZED)
        .values(status=ReminderStatus.SENT.value, snoozed_until=None, sent_at=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def insert(*, session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Adds reminders (as `Reminder` columns) in bulk; their ids, in order. A key that exists
    already raises `IntegrityError`."""
    return bulk_insert(session, Reminder, rows, ids=True)


def add_items(*, session: Session, items: dict[str, list[int]]) -> None:
    """Places reminders in DMs: per message key, its reminders in this order."""
    rows = [
        {"message_key": message_key, "reminder_id": reminder_id, "position": position}
        for message_key, reminder_ids in items.items()
        for position, reminder_id in enumerate(reminder_ids)
    ]
    bulk_insert(session, ReminderItem, rows)


def items_of(*, session: Session, message_key: str) -> list[tuple[ReminderItem, Reminder]]:
    query = (
        select(ReminderItem, Reminder)
        .where(ReminderItem.message_key == message_key, ReminderItem.reminder_id == Reminder.id)
        .order_by(col(ReminderItem.position))
    )
    return [(item, reminder) for item, reminder in session.exec(query).all()]


def item(*, session: Session, item_id: int) -> tuple[ReminderItem, Reminder] | None:
    found = session.get(ReminderItem, item_id)
    if found is None:
        return None
    reminder = session.get(Reminder, found.reminder_id)
    return (found, reminder) if reminder is not None else None
