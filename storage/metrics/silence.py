"""Silent accounts: live accounts nobody has contacted for their touch model's threshold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, literal, or_, type_coerce
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.accounts import Account, is_live, silent_cutoff
from storage.metrics.query import Lister, Listing, Owners, _count, _id, _scope, bytewise
from storage.people import Person
from storage.types import UTCDateTime


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

    return Lister(rows, longest, details, quiet)


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
