"""The shared portfolio numbers (PRODUCT §8, §9): computed by the database with grouped queries,
so a portfolio of thousands of accounts costs a few rows per question, not thousands.

Used by `/portfolio`, the Home tab and the weekly sync agenda. Every function is keyword-only,
takes the `session`, and an optional `owners` filter:

- `owners=None`: the whole portfolio;
- `owners=[person ids]`: only the accounts whose **CS owner** is one of these people (and the
  promises, handoffs and touches of those accounts); an empty list selects nothing.

Conventions shared by every function:
- **Live accounts** are those not `churned`. Renewals, silence, open promises (overdue / due
  soon), handoffs and the per-owner lines count live accounts only; `by_stage` shows churned
  accounts in their own row; kept and broken promises count on every account (a broken promise
  that ended in churn is still broken).
- **Money** is summed per currency and never added across currencies: every value is a tuple
  of `Amount(currency, total)`, one per currency present, sorted by currency. Accounts without
  a contract value are counted but add nothing.
- `today` is the viewer's local date (date comparisons: due dates, renewal dates); `now` is the
  instant (touches, handoffs, the audit trail).
- **Silence** is measured like the reminders do (`storage.accounts.days_silent`): from the latest
  of the last touch, the latest handoff acceptance and the account's creation; an account is
  silent once that is `silence_days[touch_model]` days before `now`. Pass the reminder rules'
  thresholds (`ReminderRules.silence_days`), so there is one definition; 0 (or a touch model
  missing from the mapping) means never silent.
- **Kept and broken** are events in the audit trail within `[since, now)`: a one-off promise
  closed as kept or broken, and each kept occurrence of a recurring promise. Kept rate =
  kept / (kept + broken), None when there is neither.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, Protocol, Self, TypeVar

from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, true, type_coerce
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account, Stage, is_live, renewal_overdue, silent_cutoff
from storage.audit import CLOSURE_ACTIONS, AuditEntry, closures
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person
from storage.promises import Promise, PromiseStatus
from storage.types import UTCDateTime

_T = TypeVar("_T")


class _Query(Protocol):
    def where(self, *clauses: Any) -> Self: ...


class _Joinable(_Query, Protocol):
    def join(self, target: Any, onclause: Any) -> Self: ...


_Q = TypeVar("_Q", bound=_Query)
_J = TypeVar("_J", bound=_Joinable)

Owners = Collection[int] | None
"""CS owner person ids to narrow to; None is everyone."""

KEPT_ACTIONS = ("kept", "kept_occurrence")
"""Audit actions that count as a promise kept (see `storage.promises.close / keep_occurrence`)."""
BROKEN_ACTIONS = ("broken",)
assert sorted(KEPT_ACTIONS + BROKEN_ACTIONS) == sorted(CLOSURE_ACTIONS)


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    currency: str
    total: Decimal


@dataclass(frozen=True)
class Group:
    """Accounts sharing a stage or a touch model, with their contract value per currency."""

    key: str
    accounts: int
    values: tuple[Amount, ...] = ()


@dataclass(frozen=True)
class Listing(Generic[_T]):
    """The first `limit` items of a list, and how many there are in all ("and N more")."""

    items: tuple[_T, ...]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.items)


@dataclass(frozen=True)
class Renewal:
    account_id: int
    name: str
    renewal_date: date
    cs_owner: str | None
    """Slack user ID of the CS owner."""
    value: Amount | None

    @property
    def rank(self) -> tuple[date, str, int]:
        """Where it is listed: soonest first."""
        return self.renewal_date, self.name, self.account_id


@dataclass(frozen=True)
class Renewals:
    count: int
    values: tuple[Amount, ...]
    overdue: int = 0
    """Renewal dates passed without a renewal (`storage.accounts.renewal_overdue`)."""


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
    """Slack user ID of who keeps it."""

    @property
    def rank(self) -> tuple[date, int]:
        """Where it is listed: oldest due date first."""
        return self.due_date, self.promise_id


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


@dataclass(frozen=True)
class SilentAccount:
    account_id: int
    name: str
    touch_model: str
    cs_owner: str | None
    silent_since: datetime

    @property
    def rank(self) -> tuple[datetime, str, int]:
        """Where it is listed: longest silent first."""
        return self.silent_since, self.name, self.account_id


@dataclass(frozen=True)
class OwnerLine:
    owner_id: int | None
    """None: live accounts that have no CS owner."""
    owner: str | None
    """Slack user ID."""
    accounts: int
    values: tuple[Amount, ...]
    overdue_promises: int
    silent_accounts: int


@dataclass(frozen=True)
class Portfolio:
    """Everything §8 lists, as of one moment."""

    today: date
    by_stage: tuple[Group, ...]
    by_touch_model: tuple[Group, ...]
    renewals: Renewals
    promises: PromiseCounts
    handoffs: HandoffStats
    silent: int
    owners: tuple[OwnerLine, ...] = field(default=())

    @property
    def accounts(self) -> int:
        return sum(g.accounts for g in self.by_stage)


# ---- accounts and value ----------------------------------------------------------------------


STAGES = [s.value for s in Stage]
"""Lifecycle order: how `by_stage` lists its groups."""


def by_stage(*, session: Session, owners: Owners = None) -> tuple[Group, ...]:
    """Accounts and contract value per stage (churned included), in lifecycle order."""
    return _groups(session, col(Account.stage), owners, STAGES, live_only=False)


def by_stage_per_owner(
    *, session: Session, owners: Collection[int]
) -> dict[int, tuple[Group, ...]]:
    """`by_stage` for each of these CS owners, from one statement."""
    owner, stage = col(Account.cs_owner_id), col(Account.stage)
    query: Any = (
        select(owner, stage, Account.currency, func.count())
        .add_columns(func.sum(Account.arr))
        .where(owner.in_(list(owners)))
        .group_by(owner, stage, col(Account.currency))
    )
    rows: dict[int, list[tuple[str, str, int, Any]]] = defaultdict(list)
    for owner_id, name, currency, count, total in session.exec(query):
        rows[owner_id].append((name, currency, count, total))
    return {owner_id: _grouped(found, STAGES) for owner_id, found in rows.items()}


def merge_stages(parts: Iterable[Sequence[Group]]) -> tuple[Group, ...]:
    """One `by_stage` of several owners' (`by_stage_per_owner`)."""
    counts: dict[str, int] = defaultdict(int)
    values: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for part in parts:
        for group in part:
            counts[group.key] += group.accounts
            values[group.key] += [(a.currency, a.total) for a in group.values]
    return _ordered(counts, values, STAGES)


def by_touch_model(*, session: Session, owners: Owners = None) -> tuple[Group, ...]:
    """Live accounts and contract value per touch model (high, low, tech)."""
    return _groups(session, col(Account.touch_model), owners, ["high", "low", "tech"])


def _groups(
    session: Session,
    key: Any,
    owners: Owners,
    order: list[str],
    *,
    live_only: bool = True,
) -> tuple[Group, ...]:
    query = select(key, Account.currency, func.count(), func.sum(Account.arr)).select_from(Account)
    query = _scope(query, owners)
    if live_only:
        query = query.where(is_live())
    return _grouped(session.exec(query.group_by(key, col(Account.currency))).all(), order)


def _grouped(rows: Iterable[Sequence[Any]], order: list[str]) -> tuple[Group, ...]:
    """Groups of (key, currency, accounts, value) rows, in `order`."""
    counts: dict[str, int] = defaultdict(int)
    values: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for name, currency, count, total in rows:
        counts[name] += int(count)
        values[name].append((currency, total))
    return _ordered(counts, values, order)


def _ordered(
    counts: Mapping[str, int], values: Mapping[str, list[tuple[str, Any]]], order: list[str]
) -> tuple[Group, ...]:
    rank = {name: i for i, name in enumerate(order)}
    return tuple(
        Group(key=name, accounts=counts[name], values=_amounts(values[name]))
        for name in sorted(counts, key=lambda n: (rank.get(n, len(rank)), n))
    )


# ---- renewals --------------------------------------------------------------------------------


def renewals(
    *, session: Session, today: date, within_days: int = 90, owners: Owners = None
) -> Renewals:
    """Live accounts renewing from `today` to `today + within_days` (both included): how many,
    and their contract value per currency."""
    query = select(Account.currency, func.count(), func.sum(Account.arr)).select_from(Account)
    query = _scope(query, owners).where(_renewing(today, within_days))
    rows = session.exec(query.group_by(col(Account.currency))).all()
    overdue = _scope(select(func.count()).select_from(Account), owners)
    return Renewals(
        count=sum(int(count) for _, count, _ in rows),
        values=_amounts(_pairs(rows)),
        overdue=_count(session, overdue.where(renewal_overdue(today))),
    )


def upcoming_renewals(
    *, session: Session, today: date, within_days: int = 90, owners: Owners = None, limit: int = 10
) -> Listing[Renewal]:
    """The renewals `renewals` counts, and those overdue, soonest first (`Renewal.rank`)."""
    return _upcoming_renewals(session, today, within_days, owners).first(session, limit)


def upcoming_renewals_per_owner(
    *,
    session: Session,
    today: date,
    within_days: int = 90,
    owners: Collection[int],
    limit: int = 10,
) -> dict[int, Listing[Renewal]]:
    """`upcoming_renewals` for each of these CS owners, from one statement."""
    return _upcoming_renewals(session, today, within_days, owners).per_owner(session, limit)


def _upcoming_renewals(
    session: Session, today: date, within_days: int, owners: Owners
) -> Lister[Renewal]:
    rows = select(col(Account.id), col(Account.renewal_date), Account.name).where(
        _renewing(today, within_days) | renewal_overdue(today)
    )
    cs = aliased(Person)

    def details(first: Any) -> Any:
        return (
            select(Account, cs.user_id)
            .join(first, first.c.id == Account.id)
            .outerjoin(cs, col(cs.id) == Account.cs_owner_id)
        )

    def renewal(account: Account, owner: str | None) -> Renewal:
        return Renewal(
            account_id=_id(account.id),
            name=account.name,
            renewal_date=_day(account.renewal_date),
            cs_owner=owner,
            value=Amount(account.currency, account.arr) if account.arr is not None else None,
        )

    def soonest(c: Any) -> tuple[Any, ...]:
        return c.renewal_date, bytewise(session, c.name), c.id

    return Lister(_scope(rows, owners), col(Account.cs_owner_id), soonest, details, renewal)


def _renewing(today: date, within_days: int) -> ColumnElement[bool]:
    return and_(
        is_live(),
        col(Account.renewal_date) >= today,
        col(Account.renewal_date) <= today + timedelta(days=within_days),
    )


# ---- promises --------------------------------------------------------------------------------


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


def due_promises_per_owner(
    *,
    session: Session,
    today: date,
    within_days: int = 14,
    overdue_only: bool = False,
    upcoming_only: bool = False,
    owners: Collection[int],
    limit: int = 10,
) -> dict[int, Listing[DuePromise]]:
    """`due_promises` for each of these CS owners, from one statement."""
    lister = _due_promises(today, within_days, overdue_only, upcoming_only, owners)
    return lister.per_owner(session, limit)


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

    return Lister(_scope(rows, owners), col(Account.cs_owner_id), soonest, details, due)


# ---- handoffs --------------------------------------------------------------------------------


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


def pending_handoffs_per_owner(
    *, session: Session, owners: Collection[int], limit: int = 10
) -> dict[int, Listing[PendingHandoff]]:
    """`pending_handoffs` for each of these CS owners, from one statement."""
    return _pending_handoffs(owners).per_owner(session, limit)


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
    return Lister(scoped, col(Account.cs_owner_id), oldest_first, handoff_details, pending)


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


# ---- silence ---------------------------------------------------------------------------------


def silent_count(
    *, session: Session, now: datetime, silence_days: Mapping[str, int], owners: Owners = None
) -> int:
    """Live accounts silent past their touch model's threshold."""
    silent = _silent(session, now, silence_days, owners)
    return _count(session, select(func.count()).select_from(silent))


def silent_accounts(
    *,
    session: Session,
    now: datetime,
    silence_days: Mapping[str, int],
    owners: Owners = None,
    limit: int = 10,
) -> Listing[SilentAccount]:
    """The silent accounts `silent_count` counts, longest silent first (`SilentAccount.rank`)."""
    return _silent_accounts(session, now, silence_days, owners).first(session, limit)


def silent_accounts_per_owner(
    *,
    session: Session,
    now: datetime,
    silence_days: Mapping[str, int],
    owners: Collection[int],
    limit: int = 10,
) -> dict[int, Listing[SilentAccount]]:
    """`silent_accounts` for each of these CS owners, from one statement."""
    return _silent_accounts(session, now, silence_days, owners).per_owner(session, limit)


def _silent_accounts(
    session: Session, now: datetime, silence_days: Mapping[str, int], owners: Owners
) -> Lister[SilentAccount]:
    silent = _silent(session, now, silence_days, owners)
    rows = select(silent.c.account_id, silent.c.since, silent.c.name)
    cs = aliased(Person)

    def details(first: Any) -> Any:
        return (
            select(Account, first.c.since, cs.user_id)
            .join(first, first.c.account_id == Account.id)
            .outerjoin(cs, col(cs.id) == Account.cs_owner_id)
        )

    def quiet(account: Account, since: datetime, owner: str | None) -> SilentAccount:
        return SilentAccount(
            account_id=_id(account.id),
            name=account.name,
            touch_model=account.touch_model,
            cs_owner=owner,
            silent_since=since,
        )

    def longest(c: Any) -> tuple[Any, ...]:
        return c.since, bytewise(session, c.name), c.account_id

    return Lister(rows, silent.c.cs_owner_id, longest, details, quiet)


def _silent(
    session: Session, now: datetime, silence_days: Mapping[str, int], owners: Owners
) -> Any:
    """A subquery of (account_id, since, cs_owner_id, name) for the silent live accounts in
    scope."""
    since = _last_contact(session)
    past_threshold = [
        and_(
            col(Account.touch_model) == model,
            since <= literal(silent_cutoff(days, now), UTCDateTime()),
        )
        for model, days in silence_days.items()
        if days > 0
    ]
    query: Any = select(
        col(Account.id).label("account_id"), since.label("since"), Account.cs_owner_id, Account.name
    ).where(is_live(), or_(false(), *past_threshold))
    return _scope(query, owners).subquery()


def _last_contact(session: Session) -> Any:
    """The account's last sign of contact (see `storage.accounts.silent_since`): its last touch or
    acceptance (`Account.last_contact_at`, kept by the database), or when it was created."""
    created = col(Account.created_at)
    # SQLite's max(a, b) is NULL when either is, hence the coalesce; PostgreSQL's greatest
    # ignores NULLs but takes the same arguments.
    latest = func.max if session.get_bind().dialect.name == "sqlite" else func.greatest
    return type_coerce(
        latest(created, func.coalesce(col(Account.last_contact_at), created)), UTCDateTime()
    )


# ---- per CS owner ----------------------------------------------------------------------------


def owner_lines(
    *,
    session: Session,
    today: date,
    now: datetime,
    silence_days: Mapping[str, int],
    owners: Owners = None,
) -> tuple[OwnerLine, ...]:
    """One line per CS owner of live accounts (and one, `owner_id` None, for live accounts with
    no CS owner): accounts, value per currency, overdue promises, silent accounts. The owners
    with the most overdue promises and silent accounts come first."""
    owner = col(Account.cs_owner_id)
    book_query = select(owner, Account.currency, func.count(), func.sum(Account.arr))
    book_query = book_query.where(is_live())
    book = session.exec(_scope(book_query, owners).group_by(owner, col(Account.currency))).all()
    overdue_query = (
        select(owner, func.count())
        .select_from(Promise)
        .join(Account, col(Account.id) == Promise.account_id)
        .where(
            col(Promise.status) == PromiseStatus.OPEN.value,
            col(Promise.due_date) < today,
            is_live(),
        )
    )
    overdue = dict(session.exec(_scope(overdue_query, owners).group_by(owner)).all())
    silent = _silent(session, now, silence_days, owners)
    quiet = dict(
        session.exec(
            select(silent.c.cs_owner_id, func.count()).group_by(silent.c.cs_owner_id)
        ).all()
    )
    accounts: dict[int | None, int] = defaultdict(int)
    values: dict[int | None, list[tuple[str, Any]]] = defaultdict(list)
    for owner_id, currency, count, total in book:
        accounts[owner_id] += int(count)
        values[owner_id].append((currency, total))
    user_ids = _user_ids(session, accounts)
    lines = [
        OwnerLine(
            owner_id=owner_id,
            owner=user_ids.get(owner_id) if owner_id is not None else None,
            accounts=count,
            values=_amounts(values[owner_id]),
            overdue_promises=int(overdue.get(owner_id, 0)),
            silent_accounts=int(quiet.get(owner_id, 0)),
        )
        for owner_id, count in accounts.items()
    ]
    return tuple(
        sorted(
            lines,
            key=lambda line: (
                -(line.overdue_promises + line.silent_accounts),
                -line.accounts,
                line.owner is None,
                line.owner or "",
            ),
        )
    )


# ---- everything at once ----------------------------------------------------------------------


def portfolio(
    *,
    session: Session,
    today: date,
    now: datetime,
    silence_days: Mapping[str, int],
    owners: Owners = None,
    renewal_days: int = 90,
    due_within_days: int = 14,
    window_days: int = 30,
    with_owner_lines: bool = True,
) -> Portfolio:
    """The §8 summary: `renewal_days` of renewals, promises due within `due_within_days`, kept
    and broken promises and handoff acceptance over the last `window_days` days."""
    since = now - timedelta(days=window_days)
    return Portfolio(
        today=today,
        by_stage=by_stage(session=session, owners=owners),
        by_touch_model=by_touch_model(session=session, owners=owners),
        renewals=renewals(session=session, today=today, within_days=renewal_days, owners=owners),
        promises=promise_counts(
            session=session,
            today=today,
            since=since,
            now=now,
            due_within_days=due_within_days,
            owners=owners,
        ),
        handoffs=handoff_stats(session=session, since=since, now=now, owners=owners),
        silent=silent_count(session=session, now=now, silence_days=silence_days, owners=owners),
        owners=owner_lines(
            session=session, today=today, now=now, silence_days=silence_days, owners=owners
        )
        if with_owner_lines
        else (),
    )


# ---- helpers ---------------------------------------------------------------------------------


def _scope(query: _Q, owners: Owners) -> _Q:
    """Narrows a query that involves `Account` to the accounts of these CS owners."""
    if owners is None:
        return query
    return query.where(col(Account.cs_owner_id).in_(list(owners)))


@dataclass(frozen=True)
class Lister(Generic[_T]):
    """A list read the way `first` describes: lean `rows` (an id first, then what
    `order(columns)` sorts by) narrowed to the owners in scope; `owner`, the CS owner column
    they can be split by (`per_owner`); `details(first)`, the rows of the first few joined to
    what their items show, each made with `item(*detail row)`."""

    rows: Any
    owner: Any
    order: Callable[[Any], Sequence[Any]]
    details: Callable[[Any], Any]
    item: Callable[..., _T]

    def first(self, session: Session, limit: int) -> Listing[_T]:
        """The first `limit` rows as items, and how many rows there are in all, from one
        statement: all of them are found, counted and ranked from indexes, and only the first
        `limit` joined to their details.

        The count is a window over every row, inside a subquery with the order and the limit
        outside it: PostgreSQL 15 costs a window next to `ORDER BY … LIMIT` as if it could stop
        at the limit, and so walks an index in list order through every row of every
        account."""
        if limit < 1:  # only the count
            counted = select(func.count()).select_from(self.rows.subquery())
            return Listing((), _count(session, counted))
        everything = self.rows.add_columns(func.count().over().label("total")).subquery()
        first = first_rows(everything, self.order, limit)
        query = self.details(first).add_columns(first.c.total).order_by(*self.order(first.c))
        found: Sequence[Any] = session.exec(query).all()
        return Listing(
            tuple(self.item(*row[:-1]) for row in found), int(found[0][-1]) if found else 0
        )

    def per_owner(self, session: Session, limit: int) -> dict[int, Listing[_T]]:
        """What `first` gives for each CS owner alone, from one statement (owners with no rows
        are left out). `merge_listings` of some owners' listings is `first` for those owners:
        the rows are split by their account's CS owner, and every owner's first `limit` hold
        the first `limit` of any team they are in."""
        total = func.count().over(partition_by=self.owner)
        lean = self.rows.add_columns(self.owner.label("owner"), total.label("total")).subquery()
        first = first_rows(lean, self.order, limit, by="owner")
        query = self.details(first).add_columns(first.c.owner, first.c.total)
        items: dict[int, list[_T]] = defaultdict(list)
        totals: dict[int, int] = {}
        for *row, owner, total in session.exec(query.order_by(first.c.owner, first.c.rank)):
            items[owner].append(self.item(*row))
            totals[owner] = int(total)
        return {owner: Listing(tuple(found), totals[owner]) for owner, found in items.items()}


def first_rows(
    rows: Any, order: Callable[[Any], Sequence[Any]], limit: int, by: str | None = None
) -> Any:
    """The first `limit` rows of the subquery `rows` in `order(its columns)`, as a subquery;
    with `by`, the name of one of its columns, the first `limit` of each value of it, numbered
    from 1 in the column `rank`."""
    if by is None:
        return select(*rows.c).order_by(*order(rows.c)).limit(limit).subquery()
    rank = func.row_number().over(partition_by=rows.c[by], order_by=order(rows.c))
    ranked = select(*rows.c).add_columns(rank.label("rank")).subquery()
    return select(*ranked.c).where(ranked.c.rank <= limit).subquery()


class Ranked(Protocol):
    @property
    def rank(self) -> tuple[Any, ...]: ...


_R = TypeVar("_R", bound=Ranked)


def merge_listings(listings: Iterable[Listing[_R]], limit: int) -> Listing[_R]:
    """One listing of the items of `listings` (of different CS owners, from `per_owner`): the
    first `limit` by their `rank`, the order their statement lists them in."""
    parts = list(listings)
    items = sorted((item for part in parts for item in part.items), key=lambda i: i.rank)
    return Listing(tuple(items[:limit]), sum(part.total for part in parts))


def bytewise(session: Session, text: Any) -> Any:
    """`text` compared by code point, as Python compares strings (`merge_listings`): SQLite's
    default; PostgreSQL's `C` collation, whatever the database's own."""
    return text.collate("C") if session.get_bind().dialect.name == "postgresql" else text


def _count(session: Session, query: Any) -> int:
    return int(session.exec(query).one())


def _sum_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _amounts(pairs: Iterable[tuple[str, Any]]) -> tuple[Amount, ...]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, total in pairs:
        if total is not None:
            totals[currency] += Decimal(total)
    return tuple(Amount(currency, totals[currency]) for currency in sorted(totals))


def _pairs(rows: Iterable[Any]) -> Iterable[tuple[str, Any]]:
    return ((currency, total) for currency, _, total in rows)


def _user_ids(session: Session, person_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = [i for i in person_ids if i is not None]
    if not wanted:
        return {}
    rows = session.exec(select(Person.id, Person.user_id).where(col(Person.id).in_(wanted)))
    return {pid: uid for pid, uid in rows.all() if pid is not None}


def _id(value: int | None) -> int:
    assert value is not None, "stored rows have ids"
    return value


def _day(value: date | None) -> date:
    assert value is not None, "selected for having a date"
    return value
