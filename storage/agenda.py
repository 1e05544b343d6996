"""What only the weekly sync agenda lists (PRODUCT §9): the handoffs made in a week with their
status, and the promises kept and broken in it. The numbers and lists it shares with the
portfolio (renewals, silence, promises due, handoffs waiting, rates) are in `storage.metrics`;
these follow its conventions (`owners` narrows to the accounts of those CS owners, `Listing`
holds the first `limit` items and the total, events count in `[since, now)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account
from storage.audit import AuditEntry
from storage.handoffs import Handoff
from storage.metrics import BROKEN_ACTIONS, KEPT_ACTIONS, Listing, Owners
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
    """Slack user IDs."""


@dataclass(frozen=True)
class ClosedPromise:
    promise_id: int
    account_name: str
    text: str
    kept: bool
    """True: kept (or one occurrence of a recurring promise kept); False: broken."""
    at: datetime
    note: str | None
    owner: str | None
    """Slack user ID of who keeps it."""


def new_handoffs(
    *, session: Session, since: datetime, now: datetime, owners: Owners = None, limit: int = 10
) -> Listing[NewHandoff]:
    """Handoffs made in `[since, now)`, oldest first, with their status."""
    where = _scope(and_(col(Handoff.created_at) >= since, col(Handoff.created_at) < now), owners)
    cs, sales = aliased(Person), aliased(Person)
    query = (
        select(Handoff, Account.name, sales.user_id, cs.user_id)
        .join(Account, col(Account.id) == Handoff.account_id)
        .join(sales, col(sales.id) == Handoff.sales_rep_id)
        .join(cs, col(cs.id) == Handoff.cs_owner_id)
        .where(where)
        .order_by(col(Handoff.created_at), col(Handoff.id))
        .limit(limit)
    )
    items = tuple(
        NewHandoff(
            handoff_id=_id(handoff.id),
            account_name=name,
            created_at=handoff.created_at,
            status=handoff.status,
            accepted_at=handoff.accepted_at,
            sales_rep=sales_user,
            cs_owner=cs_user,
        )
        for handoff, name, sales_user, cs_user in session.exec(query).all()
    )
    total = (
        select(func.count())
        .select_from(Handoff)
        .join(Account, col(Account.id) == Handoff.account_id)
        .where(where)
    )
    return Listing(items, int(session.exec(total).one()))


def closed_promises(
    *, session: Session, since: datetime, now: datetime, owners: Owners = None, limit: int = 10
) -> Listing[ClosedPromise]:
    """Promises kept and broken in `[since, now)` (the events `metrics.closed_counts` counts),
    broken first, then the latest first."""
    actions = KEPT_ACTIONS + BROKEN_ACTIONS
    where = _scope(
        and_(
            col(AuditEntry.entity) == "promise",
            col(AuditEntry.action).in_(actions),
            col(AuditEntry.at) >= since,
            col(AuditEntry.at) < now,
        ),
        owners,
    )
    keeper = aliased(Person)
    broken_first = col(AuditEntry.action).in_(BROKEN_ACTIONS).desc()
    query = (
        select(AuditEntry, Promise, Account.name, keeper.user_id)
        .join(Promise, col(Promise.id) == AuditEntry.entity_id)
        .join(Account, col(Account.id) == Promise.account_id)
        .outerjoin(keeper, col(keeper.id) == Promise.owner_id)
        .where(where)
        .order_by(broken_first, col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(limit)
    )
    items = tuple(
        ClosedPromise(
            promise_id=_id(promise.id),
            account_name=name,
            text=promise.text,
            kept=entry.action in KEPT_ACTIONS,
            at=entry.at,
            note=entry.note,
            owner=owner,
        )
        for entry, promise, name, owner in session.exec(query).all()
    )
    total = (
        select(func.count())
        .select_from(AuditEntry)
        .join(Promise, col(Promise.id) == AuditEntry.entity_id)
        .join(Account, col(Account.id) == Promise.account_id)
        .where(where)
    )
    return Listing(items, int(session.exec(total).one()))


def _scope(where: ColumnElement[bool], owners: Owners) -> Any:
    if owners is None:
        return where
    return and_(where, col(Account.cs_owner_id).in_(list(owners)))


def _id(value: int | None) -> int:
    assert value is not None, "stored rows have ids"
    return value
