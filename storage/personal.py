"""What is on one person's plate (the Home tab): their reminders, the handoffs waiting for them
or made by them, and the promises they made. Each list is the first `limit` items and a total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account
from storage.handoffs import Handoff, HandoffStatus
from storage.metrics import Listing
from storage.people import Person
from storage.promises import Promise, PromiseStatus
from storage.reminders import Reminder, ReminderItem, ReminderStatus


@dataclass(frozen=True)
class OpenReminder:
    reminder: Reminder
    item_id: int | None
    """The reminder's place in the latest DM that carried it: what its buttons name."""


@dataclass(frozen=True)
class HandoffLine:
    handoff: Handoff
    account_name: str
    other: str
    """Slack user ID of the other side: the sales rep (for the CS owner) or the CS owner."""


@dataclass(frozen=True)
class PromiseLine:
    promise: Promise
    account_name: str


def open_reminders(*, session: Session, person_id: int, limit: int) -> Listing[OpenReminder]:
    """Reminders sent to the person and not handled, then snoozed ones (soonest back first)."""
    where = and_(
        col(Reminder.person_id) == person_id,
        col(Reminder.status).in_([ReminderStatus.SENT.value, ReminderStatus.SNOOZED.value]),
    )
    latest = (
        select(col(ReminderItem.reminder_id), func.max(ReminderItem.id).label("item_id"))
        .group_by(col(ReminderItem.reminder_id))
        .subquery()
    )
    snoozed = case((col(Reminder.status) == ReminderStatus.SNOOZED.value, 1), else_=0)
    query = (
        select(Reminder, latest.c.item_id)
        .outerjoin(latest, latest.c.reminder_id == Reminder.id)
        .where(where)
        .order_by(snoozed, col(Reminder.snoozed_until), col(Reminder.due_on), col(Reminder.id))
        .limit(limit)
    )
    items = tuple(OpenReminder(r, item) for r, item in session.exec(query).all())
    return Listing(items, _count(session, select(func.count()).select_from(Reminder).where(where)))


def handoffs_waiting_for(*, session: Session, person_id: int, limit: int) -> Listing[HandoffLine]:
    """Pending handoffs the person is to accept, oldest first."""
    where = and_(
        col(Handoff.cs_owner_id) == person_id, col(Handoff.status) == HandoffStatus.PENDING.value
    )
    return _handoffs(session, where, Handoff.sales_rep_id, limit, col(Handoff.created_at))


def handoffs_by(*, session: Session, person_id: int, limit: int) -> Listing[HandoffLine]:
    """Handoffs the person made as the sales rep: pending first, then the newest."""
    pending = case((col(Handoff.status) == HandoffStatus.PENDING.value, 0), else_=1)
    return _handoffs(
        session,
        col(Handoff.sales_rep_id) == person_id,
        Handoff.cs_owner_id,
        limit,
        pending,
        col(Handoff.created_at).desc(),
    )


def _handoffs(
    session: Session, where: ColumnElement[bool], other_id: Any, limit: int, *order: Any
) -> Listing[HandoffLine]:
    other = aliased(Person)
    query = (
        select(Handoff, Account.name, other.user_id)
        .join(Account, col(Account.id) == Handoff.account_id)
        .join(other, col(other.id) == other_id)
        .where(where)
        .order_by(*order, col(Handoff.id))
        .limit(limit)
    )
    items = tuple(HandoffLine(h, name, user) for h, name, user in session.exec(query).all())
    total = select(func.count()).select_from(Handoff).where(where)
    return Listing(items, _count(session, total))


def promises_made_by(
    *, session: Session, person_id: int, closed_since: datetime, limit: int
) -> Listing[PromiseLine]:
    """Promises the person made to customers: open ones due first, then those closed since
    `closed_since`, newest first."""
    where = and_(
        col(Promise.promised_by_id) == person_id,
        or_(
            col(Promise.status) == PromiseStatus.OPEN.value,
            col(Promise.closed_at) >= closed_since,
        ),
    )
    closed = case((col(Promise.status) == PromiseStatus.OPEN.value, 0), else_=1)
    query = (
        select(Promise, Account.name)
        .join(Account, col(Account.id) == Promise.account_id)
        .where(where)
        .order_by(
            closed,
            col(Promise.due_date).is_(None),
            col(Promise.due_date),
            col(Promise.closed_at).desc(),
            col(Promise.id),
        )
        .limit(limit)
    )
    items = tuple(PromiseLine(p, name) for p, name in session.exec(query).all())
    return Listing(items, _count(session, select(func.count()).select_from(Promise).where(where)))


def open_promises_kept_by(*, session: Session, person_id: int, limit: int) -> Listing[PromiseLine]:
    """Open promises the person is to keep, due first (undated last)."""
    where = and_(
        col(Promise.owner_id) == person_id, col(Promise.status) == PromiseStatus.OPEN.value
    )
    query = (
        select(Promise, Account.name)
        .join(Account, col(Account.id) == Promise.account_id)
        .where(where)
        .order_by(col(Promise.due_date).is_(None), col(Promise.due_date), col(Promise.id))
        .limit(limit)
    )
    items = tuple(PromiseLine(p, name) for p, name in session.exec(query).all())
    return Listing(items, _count(session, select(func.count()).select_from(Promise).where(where)))


def _count(session: Session, query: Any) -> int:
    return int(session.exec(query).one())
