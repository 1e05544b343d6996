"""What the account card, the account list and the CSV export show, computed by the database.

Counts and "last touch" come from grouped subqueries, so an account with thousands of promises
and touches costs a few rows, not thousands.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from storage.accounts import Account
from storage.audit import AuditEntry
from storage.handoffs import Handoff
from storage.people import Person
from storage.promises import Promise, PromiseStatus
from storage.touches import Touch


@dataclass(frozen=True)
class LastTouch:
    at: datetime
    channel: str
    by: str | None
    """The Slack user ID of who logged it."""


@dataclass(frozen=True)
class AccountSummary:
    account: Account
    sales_owner: str | None
    """Slack user IDs of the owners."""
    cs_owner: str | None
    open_promises: int
    overdue_promises: int
    last_touch: LastTouch | None


def summaries(
    *,
    session: Session,
    today: date,
    where: ColumnElement[bool] | None = None,
    limit: int | None = None,
) -> Iterator[AccountSummary]:
    """Accounts (all, or those `where` selects) with their promise counts and last touch,
    soonest renewal first; streamed, so exporting every account holds few in memory."""
    chosen = select(Account.id).where(where) if where is not None else None
    counts = _promise_counts(today, chosen)
    last = _last_touches(chosen)
    sales, cs = aliased(Person), aliased(Person)
    query = (
        sa.select(
            Account,
            col(sales.user_id),
            col(cs.user_id),
            func.coalesce(counts.c.open, 0),
            func.coalesce(counts.c.overdue, 0),
            last.c.at,
            last.c.channel,
            last.c.user_id,
        )
        .outerjoin(sales, col(sales.id) == Account.sales_owner_id)
        .outerjoin(cs, col(cs.id) == Account.cs_owner_id)
        .outerjoin(counts, counts.c.account_id == Account.id)
        .outerjoin(last, last.c.account_id == Account.id)
        .order_by(
            col(Account.renewal_date).is_(None),
            col(Account.renewal_date),
            col(Account.name),
            col(Account.id),
        )
    )
    if where is not None:
        query = query.where(where)
    if limit is not None:
        query = query.limit(limit)
    for row in session.execute(query.execution_options(yield_per=500)):
        account, sales_id, cs_id, open_count, overdue, at, channel, by = row
        touch = LastTouch(at=at, channel=channel, by=by) if at is not None else None
        yield AccountSummary(account, sales_id, cs_id, int(open_count), int(overdue), touch)


def count_accounts(*, session: Session, where: ColumnElement[bool]) -> int:
    return int(session.exec(select(func.count()).select_from(Account).where(where)).one())


def owned_by(person: Person) -> ColumnElement[bool]:
    """Accounts whose CS owner or sales owner is `person`."""
    return or_(col(Account.cs_owner_id) == person.id, col(Account.sales_owner_id) == person.id)


def _promise_counts(today: date, chosen: Any) -> sa.Subquery:
    overdue = case((col(Promise.due_date) < today, 1), else_=0)
    query: sa.Select[Any, Any, Any] = sa.select(
        col(Promise.account_id).label("account_id"),
        func.count().label("open"),
        func.sum(overdue).label("overdue"),
    ).where(col(Promise.status) == PromiseStatus.OPEN.value)
    if chosen is not None:
        query = query.where(col(Promise.account_id).in_(chosen))
    return query.group_by(col(Promise.account_id)).subquery()


def _last_touches(chosen: Any) -> sa.Subquery:
    newest_first = func.row_number().over(
        partition_by=col(Touch.account_id), order_by=(col(Touch.at).desc(), col(Touch.id).desc())
    )
    ranked = sa.select(
        col(Touch.account_id).label("account_id"),
        col(Touch.at).label("at"),
        col(Touch.channel).label("channel"),
        col(Person.user_id).label("user_id"),
        newest_first.label("n"),
    ).outerjoin(Person, col(Person.id) == Touch.person_id)
    if chosen is not None:
        ranked = ranked.where(col(Touch.account_id).in_(chosen))
    inner = ranked.subquery()
    return sa.select(inner).where(inner.c.n == 1).subquery()


# ---- the card's parts ---------------------------------------------------------------------


def last_touch(*, session: Session, account_id: int) -> tuple[Touch, str | None] | None:
    query = (
        select(Touch, Person.user_id)
        .outerjoin(Person, col(Person.id) == Touch.person_id)
        .where(Touch.account_id == account_id)
        .order_by(col(Touch.at).desc(), col(Touch.id).desc())
        .limit(1)
    )
    row = session.exec(query).first()
    return (row[0], row[1]) if row else None


def recent_changes(
    *, session: Session, account_id: int, limit: int
) -> tuple[list[tuple[AuditEntry, str | None]], int]:
    """Audit entries about the account, its promises and its handoffs, newest first, with the
    platform user id of who made each change (None: the system, e.g. an import), and the total."""
    rows = session.exec(_changes_query(limit), params={"account_id": account_id}).all()
    total = rows[0][2] if rows else 0
    return [(e, who) for e, who, _ in rows], int(total)


@cache
def _changes_query(limit: int) -> Select[AuditEntry, str, int]:
    """`recent_changes`' statement, for any account (`account_id`): built once, as building it
    took as long as running it."""
    # Each branch is a lookup on ix_audit_entries_entity (the promises and handoffs found by
    # account first): with subqueries inside one OR instead, PostgreSQL scanned the whole trail.
    account_id = sa.bindparam("account_id", type_=sa.Integer())
    ids = sa.union_all(
        sa.select(col(AuditEntry.id)).where(
            col(AuditEntry.entity) == "account", col(AuditEntry.entity_id) == account_id
        ),
        *(
            sa.select(col(entry.id))
            .join(model, and_(col(entry.entity) == entity, col(entry.entity_id) == col(model.id)))
            .where(col(model.account_id) == account_id)
            for entity, model, entry in (
                ("promise", Promise, aliased(AuditEntry)),
                ("handoff", Handoff, aliased(AuditEntry)),
            )
        ),
    ).subquery()
    return (
        select(AuditEntry, Person.user_id, func.count().over())
        .join(ids, ids.c.id == AuditEntry.id)
        .outerjoin(Person, col(Person.id) == AuditEntry.actor_id)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(limit)
    )
