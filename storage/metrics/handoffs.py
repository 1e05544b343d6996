"""Handoffs: waiting ones, and how long acceptance takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account, is_live
from storage.handoffs import Handoff, HandoffStatus
from storage.metrics.query import Lister, Listing, Owners, _id, _scope
from storage.people import Person


@dataclass(frozen=True)
class PendingHandoff:
    handoff_id: int
    account_id: int
    account_name: str
    created_at: datetime
    cs_owner: str
    sales_rep: str
    """Slack user IDs."""

    @property
    def rank(self) -> tuple[datetime, int]:
        """Where it is listed: oldest first (`oldest_first`)."""
        return self.created_at, self.handoff_id


@dataclass(frozen=True)
class HandoffStats:
    pending: int
    oldest: PendingHandoff | None
    accepted: int
    """Handoffs accepted within the window."""
    median_to_accept: timedelta | None
    """Median of (accepted − created) over the handoffs accepted within the window."""


def handoff_stats(
    *, session: Session, since: datetime, now: datetime, owners: Owners = None
) -> HandoffStats:
    """Pending handoffs (of live accounts) with the oldest, and the median time to accept of
    the handoffs accepted in `[since, now)`."""
    pending = pending_handoffs(session=session, owners=owners, limit=1)
    accepted, median = median_to_accept(session=session, since=since, now=now, owners=owners)
    return HandoffStats(
        pending=pending.total,
        oldest=pending.items[0] if pending.items else None,
        accepted=accepted,
        median_to_accept=median,
    )


def pending_handoffs(
    *, session: Session, owners: Owners = None, limit: int = 10
) -> Listing[PendingHandoff]:
    """Handoffs still waiting to be accepted, oldest first (`PendingHandoff.rank`)."""
    return _pending_handoffs(owners).first(session, limit)


def _pending_handoffs(owners: Owners) -> Lister[PendingHandoff]:
    rows = (
        select(col(Handoff.id), Handoff.created_at)
        .join(Account, col(Account.id) == Handoff.account_id)
        .where(col(Handoff.status) == HandoffStatus.PENDING.value, is_live())
    )

    def pending(handoff: Handoff, name: str, sales_user: str, cs_user: str) -> PendingHandoff:
        return PendingHandoff(
            handoff_id=_id(handoff.id),
            account_id=handoff.account_id,
            account_name=name,
            created_at=handoff.created_at,
            cs_owner=cs_user,
            sales_rep=sales_user,
        )

    scoped = _scope(rows, owners)
    return Lister(scoped, oldest_first, handoff_details, pending)


def handoff_details(first: Any) -> Any:
    """The handoffs of `first` (a subquery of ids, as `listing` passes it), each with its
    account's name and the Slack IDs of its sales rep and CS owner."""
    cs, sales = aliased(Person), aliased(Person)
    return (
        select(Handoff, Account.name, sales.user_id, cs.user_id)
        .join(first, first.c.id == Handoff.id)
        .join(Account, col(Account.id) == Handoff.account_id)
        .join(sales, col(sales.id) == Handoff.sales_rep_id)
        .join(cs, col(cs.id) == Handoff.cs_owner_id)
    )


def oldest_first(c: Any) -> tuple[Any, ...]:
    """The order of handoff listings (`listing`): by when they were made."""
    return c.created_at, c.id


def median_to_accept(
    *, session: Session, since: datetime, now: datetime, owners: Owners = None
) -> tuple[int, timedelta | None]:
    """How many handoffs were accepted in `[since, now)`, and the median of (accepted −
    created) over them (None when there were none)."""
    # The median by ranks, portable to SQLite: the middle row (odd count) or the mean of the
    # two middle rows (even count), chosen with integer division.
    seconds = _seconds_between(session, col(Handoff.created_at), col(Handoff.accepted_at))
    ranked_query = (
        select(
            seconds.label("seconds"),
            func.row_number().over(order_by=seconds).label("rank"),
            func.count().over().label("n"),
        )
        .select_from(Handoff)
        .join(Account, col(Account.id) == Handoff.account_id)
        .where(
            col(Handoff.accepted_at).is_not(None),
            col(Handoff.accepted_at) >= since,
            col(Handoff.accepted_at) < now,
        )
    )
    ranked = _scope(ranked_query, owners).subquery()
    middle = or_(ranked.c.rank == (ranked.c.n + 1) // 2, ranked.c.rank == (ranked.c.n + 2) // 2)
    n, median = session.exec(
        select(func.max(ranked.c.n), func.avg(ranked.c.seconds)).where(middle)
    ).one()
    if not n or median is None:
        return 0, None
    return int(n), timedelta(seconds=round(float(median)))


def _seconds_between(session: Session, start: Any, end: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)
