"""Promises: open, overdue and due soon; kept and broken from the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, true
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account, is_live
from storage.audit import AuditEntry, closures
from storage.metrics.query import _J, Lister, Listing, Owners, _day, _id, _scope, _sum_if
from storage.people import Person
from storage.promises import Promise, PromiseStatus

KEPT_ACTIONS = ("kept", "kept_occurrence")
"""Audit actions that count as a promise kept (see `storage.promises.close / keep_occurrence`)."""


BROKEN_ACTIONS = ("broken",)


@dataclass(frozen=True)
class PromiseCounts:
    overdue: int
    """Open, due before `today`."""
    due_soon: int
    """Open, due from `today` to `today + due_within_days`, both included."""
    kept: int
    broken: int

    @property
    def kept_rate(self) -> Decimal | None:
        """kept / (kept + broken), as a fraction from 0 to 1; None when nothing was closed."""
        closed = self.kept + self.broken
        return Decimal(self.kept) / Decimal(closed) if closed else None


@dataclass(frozen=True)
class DuePromise:
    promise_id: int
    account_id: int
    account_name: str
    text: str
    due_date: date
    owner: str | None
    """The platform's user id of who keeps it."""

    @property
    def rank(self) -> tuple[date, int]:
        """Where it is listed: oldest due date first."""
        return self.due_date, self.promise_id


def promise_counts(
    *,
    session: Session,
    today: date,
    since: datetime,
    now: datetime,
    due_within_days: int = 14,
    owners: Owners = None,
) -> PromiseCounts:
    """Open promises overdue and due soon (on live accounts), and promises kept and broken in
    `[since, now)` (on every account)."""
    overdue = col(Promise.due_date) < today
    due_soon = and_(
        col(Promise.due_date) >= today,
        col(Promise.due_date) <= today + timedelta(days=due_within_days),
    )
    open_query = (
        select(_sum_if(overdue), _sum_if(due_soon))
        .select_from(Promise)
        .join(Account, col(Account.id) == Promise.account_id)
        .where(col(Promise.status) == PromiseStatus.OPEN.value, is_live())
    )
    open_overdue, open_soon = session.exec(_scope(open_query, owners)).one()
    kept, broken = closed_counts(session=session, since=since, now=now, owners=owners)
    return PromiseCounts(
        overdue=int(open_overdue or 0), due_soon=int(open_soon or 0), kept=kept, broken=broken
    )


def closed_counts(
    *, session: Session, since: datetime, now: datetime, owners: Owners = None
) -> tuple[int, int]:
    """(kept, broken) promise events recorded in `[since, now)`."""
    kept = col(AuditEntry.action).in_(KEPT_ACTIONS)
    broken = col(AuditEntry.action).in_(BROKEN_ACTIONS)
    query = select(_sum_if(kept), _sum_if(broken)).where(*closed_events(since, now))
    kept_count, broken_count = session.exec(promise_events_of(query, owners, since)).one()
    return int(kept_count or 0), int(broken_count or 0)


def closed_events(since: datetime, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Audit entries of promises kept and broken in `[since, now)`."""
    return closures(), col(AuditEntry.at) >= since, col(AuditEntry.at) < now


def promise_events_of(query: _J, owners: Owners, since: datetime) -> _J:
    """Narrows a query over promise audit entries since `since` to the promises of these CS
    owners' accounts. The whole portfolio needs no join: every promise event counts there.

    Only a promise closed since then (`closed_at` is set with its kept or broken entry, and a
    promise is closed once) or one with kept occurrences can have such an entry, so only those
    are looked up in the audit trail (`ix_promises_account_closed`)."""
    if owners is None:
        return query
    joined = query.join(Promise, col(Promise.id) == AuditEntry.entity_id).join(
        Account, col(Account.id) == Promise.account_id
    )
    can_have = (col(Promise.closed_at) >= since) | (col(Promise.kept_count) > 0)
    return _scope(joined.where(can_have), owners)


def due_promises(
    *,
    session: Session,
    today: date,
    within_days: int = 14,
    overdue_only: bool = False,
    upcoming_only: bool = False,
    owners: Owners = None,
    limit: int = 10,
) -> Listing[DuePromise]:
    """Open promises on live accounts due up to `today + within_days`, oldest due date first
    (`DuePromise.rank`): overdue ones included; with `overdue_only` only those due before
    `today`; with `upcoming_only` only those due from `today` on (what `PromiseCounts.due_soon`
    counts)."""
    lister = _due_promises(today, within_days, overdue_only, upcoming_only, owners)
    return lister.first(session, limit)


def _due_promises(
    today: date, within_days: int, overdue_only: bool, upcoming_only: bool, owners: Owners
) -> Lister[DuePromise]:
    last_day = today - timedelta(days=1) if overdue_only else today + timedelta(days=within_days)
    where = and_(
        col(Promise.status) == PromiseStatus.OPEN.value,
        col(Promise.due_date) <= last_day,
        col(Promise.due_date) >= today if upcoming_only else true(),
        is_live(),
    )
    rows = (
        select(col(Promise.id), col(Promise.due_date))
        .join(Account, col(Account.id) == Promise.account_id)
        .where(where)
    )
    keeper = aliased(Person)

    def details(first: Any) -> Any:
        return (
            select(Promise, Account.name, keeper.user_id)
            .join(first, first.c.id == Promise.id)
            .join(Account, col(Account.id) == Promise.account_id)
            .outerjoin(keeper, col(keeper.id) == Promise.owner_id)
        )

    def due(promise: Promise, name: str, owner: str | None) -> DuePromise:
        return DuePromise(
            promise_id=_id(promise.id),
            account_id=promise.account_id,
            account_name=name,
            text=promise.text,
            due_date=_day(promise.due_date),
            owner=owner,
        )

    def soonest(c: Any) -> tuple[Any, ...]:
        return c.due_date, c.id

    return Lister(_scope(rows, owners), soonest, details, due)
