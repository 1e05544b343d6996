"""What only the weekly sync agenda lists (PRODUCT §9): the handoffs made in a week with their
status, and the promises kept and broken in it. The numbers and lists it shares with the
portfolio (renewals, silence, promises due, handoffs waiting, rates) are in `storage.metrics`;
these follow its conventions (`owners` narrows to the accounts of those CS owners, `Listing`
holds the first `limit` items and the total, events count in `[since, now)`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, null
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account
from storage.audit import AuditEntry
from storage.handoffs import Handoff
from storage.metrics import (
    BROKEN_ACTIONS,
    KEPT_ACTIONS,
    Lister,
    Listing,
    Owners,
    closed_events,
    first_rows,
    handoff_details,
    oldest_first,
    promise_events_of,
)
from storage.people import Person
from storage.promises import Promise


@dataclass(frozen=True)
class NewHandoff:
    handoff_id: int
    account_name: str
    created_at: datetime
    status: str
    accepted_at: datetime | None
    sales_rep: str
    cs_owner: str
    """The platform's user ids."""

    @property
    def rank(self) -> tuple[datetime, int]:
        """Where it is listed: oldest first (`oldest_first`)."""
        return self.created_at, self.handoff_id


@dataclass(frozen=True)
class ClosedPromise:
    event_id: int
    """The audit entry that closed it (or kept one occurrence)."""
    promise_id: int
    account_name: str
    text: str
    kept: bool
    """True: kept (or one occurrence of a recurring promise kept); False: broken."""
    at: datetime
    note: str | None
    owner: str | None
    """The platform's user id of who keeps it."""

    @property
    def rank(self) -> tuple[bool, int, int]:
        """Where it is listed (`_week_first`): broken first, then the latest first."""
        return self.kept, -_microseconds(self.at), -self.event_id


@dataclass(frozen=True)
class Closures:
    """The week's promises kept and broken, listed, and counted over the week and over a
    longer window (the kept rates of the agenda's numbers)."""

    this_week: Listing[ClosedPromise]
    week: tuple[int, int]
    """(kept, broken) in the week."""
    long: tuple[int, int]
    """(kept, broken) in the longer window."""


def new_handoffs(
    *, session: Session, since: datetime, now: datetime, owners: Owners = None, limit: int = 10
) -> Listing[NewHandoff]:
    """Handoffs made in `[since, now)`, oldest first, with their status."""
    return _new_handoffs(since, now, owners).first(session, limit)


def _new_handoffs(since: datetime, now: datetime, owners: Owners) -> Lister[NewHandoff]:
    where = _scope(and_(col(Handoff.created_at) >= since, col(Handoff.created_at) < now), owners)
    rows = (
        select(col(Handoff.id), Handoff.created_at)
        .join(Account, col(Account.id) == Handoff.account_id)
        .where(where)
    )

    def new(handoff: Handoff, name: str, sales_user: str, cs_user: str) -> NewHandoff:
        return NewHandoff(
            handoff_id=_id(handoff.id),
            account_name=name,
            created_at=handoff.created_at,
            status=handoff.status,
            accepted_at=handoff.accepted_at,
            sales_rep=sales_user,
            cs_owner=cs_user,
        )

    return Lister(rows, oldest_first, handoff_details, new)


def closures(
    *,
    session: Session,
    since: datetime,
    long_since: datetime,
    now: datetime,
    owners: Owners = None,
    limit: int = 10,
) -> Closures:
    """Promises kept and broken in `[since, now)`, broken first, then the latest first
    (`ClosedPromise.rank`); and the events `metrics.closed_counts` counts in `[since, now)` and
    in `[long_since, now)`.

    One statement, one pass over the longer window's events (for a team, found promise by
    promise): the counts are sums over all of them, and the week's sort first, so the first
    `limit` rows are the week's list whenever the week has that many."""
    found = _closures(session, since, long_since, now, owners, limit)
    return found.get(None, Closures(Listing((), 0), week=(0, 0), long=(0, 0)))


def _closures(
    session: Session,
    since: datetime,
    long_since: datetime,
    now: datetime,
    owners: Owners,
    limit: int,
) -> dict[int | None, Closures]:
    """`closures` of everyone in scope, under the key None."""
    if long_since > since:
        raise ValueError("the longer window starts first")
    first = _first_closures(since, long_since, now, owners, limit)
    keeper = aliased(Person)
    query: Any = (
        select(AuditEntry, Promise, Account.name, keeper.user_id)
        .add_columns(*(first.c[name] for name in ("owner", "this_week", *_COUNTS)))
        .join(first, first.c.id == AuditEntry.id)
        .join(Promise, col(Promise.id) == AuditEntry.entity_id)
        .join(Account, col(Account.id) == Promise.account_id)
        .outerjoin(keeper, col(keeper.id) == Promise.owner_id)
        .order_by(first.c.owner, *_week_first(first.c))
    )
    rows: dict[int | None, list[Any]] = defaultdict(list)
    for row in session.exec(query):
        rows[row.owner].append(row)
    return {owner: _closures_of(found) for owner, found in rows.items()}


def _closures_of(rows: Sequence[Any]) -> Closures:
    """Closures of rows of `_closures`' statement (one owner's, or everyone's)."""
    counts = rows[0]
    week = (int(counts.week_kept), int(counts.week_broken))
    listed = tuple(
        ClosedPromise(
            event_id=_id(entry.id),
            promise_id=_id(promise.id),
            account_name=name,
            text=promise.text,
            kept=entry.action in KEPT_ACTIONS,
            at=entry.at,
            note=entry.note,
            owner=owner,
        )
        for entry, promise, name, owner, _, in_week, *_counts in rows
        if in_week
    )
    return Closures(
        this_week=Listing(listed, sum(week)),
        week=week,
        long=(int(counts.long_kept), int(counts.long_broken)),
    )


_COUNTS = ("week_kept", "week_broken", "long_kept", "long_broken")


def _first_closures(
    since: datetime, long_since: datetime, now: datetime, owners: Owners, limit: int
) -> Any:
    """The first `limit` promise events of `[long_since, now)` in `_week_first` order, each
    with the counts of all of them (`_COUNTS`), as a subquery (the column `owner` is NULL)."""
    kept = col(AuditEntry.action).in_(KEPT_ACTIONS)
    broken = col(AuditEntry.action).in_(BROKEN_ACTIONS)
    this_week = col(AuditEntry.at) >= since
    owner = cast(null(), Integer)
    partition = None
    rows: Any = (
        select(
            col(AuditEntry.id),
            AuditEntry.at,
            broken.label("broken"),
            this_week.label("this_week"),
        )
        .add_columns(
            owner.label("owner"),
            _count_over(and_(kept, this_week), partition).label("week_kept"),
            _count_over(and_(broken, this_week), partition).label("week_broken"),
            _count_over(kept, partition).label("long_kept"),
            _count_over(broken, partition).label("long_broken"),
        )
        .where(*closed_events(long_since, now))
    )
    events = promise_events_of(rows, owners, long_since).subquery()
    return first_rows(events, _week_first, limit)


def _week_first(c: Any) -> tuple[Any, ...]:
    """The week's events first, then broken before kept, then the latest first."""
    return c.this_week.desc(), c.broken.desc(), c.at.desc(), c.id.desc()


def _count_over(condition: ColumnElement[bool], partition: list[Any] | None) -> Any:
    """How many of all the query's rows (of the same `partition`) meet `condition`."""
    return func.sum(case((condition, 1), else_=0)).over(partition_by=partition)


def _scope(where: ColumnElement[bool], owners: Owners) -> Any:
    if owners is None:
        return where
    return and_(where, col(Account.cs_owner_id).in_(list(owners)))


def _microseconds(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _id(value: int | None) -> int:
    assert value is not None, "stored rows have ids"
    return value
