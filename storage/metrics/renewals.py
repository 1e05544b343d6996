"""Renewals coming up and overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account, is_live, renewal_overdue
from storage.metrics.query import (
    Amount,
    Lister,
    Listing,
    Owners,
    _amounts,
    _count,
    _day,
    _id,
    _pairs,
    _scope,
    bytewise,
)
from storage.people import Person


@dataclass(frozen=True)
class Renewal:
    account_id: int
    name: str
    renewal_date: date
    cs_owner: str | None
    """The platform's user id of the CS owner."""
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

    return Lister(_scope(rows, owners), soonest, details, renewal)


def _renewing(today: date, within_days: int) -> ColumnElement[bool]:
    return and_(
        is_live(),
        col(Account.renewal_date) >= today,
        col(Account.renewal_date) <= today + timedelta(days=within_days),
    )
