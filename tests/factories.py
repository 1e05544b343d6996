"""Rows that tests build: people, accounts, handoffs and promises, made one way.

Each function adds its row to the session, flushes it (so its id is set) and returns it; the
caller commits. Times are always given by the caller: no row is stamped with the wall clock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from sqlmodel import Session, select

from storage.accounts import Account, fold_name
from storage.handoffs import Handoff
from storage.people import Person, Role
from storage.promises import Promise

Row = TypeVar("Row", Person, Account, Handoff, Promise)


def make_person(
    session: Session,
    *,
    user_id: str,
    name: str | None = None,
    role: Role | None = None,
    **fields: Any,
) -> Person:
    """The person with this user ID (made if missing, named after it unless `name` is given),
    with the given role and fields."""
    row = session.exec(select(Person).where(Person.user_id == user_id)).first()
    row = row or Person(user_id=user_id, name=user_id.lower() if name is None else name)
    row.role = role.value if role else None
    for key, value in fields.items():
        setattr(row, key, value)
    return _added(session, row)


def make_account(session: Session, *, name: str, at: datetime, **fields: Any) -> Account:
    """An account named `name` (its match key folded from it), created and updated `at`."""
    row = Account(name=name, name_key=fold_name(name), created_at=at, updated_at=at, **fields)
    return _added(session, row)


def make_handoff(
    session: Session,
    *,
    account: Account,
    sales_rep: Person,
    cs_owner: Person,
    at: datetime,
    goals: str = "Go live",
    **fields: Any,
) -> Handoff:
    """A handoff of `account` from `sales_rep` to `cs_owner`, pending unless `status` says."""
    row = Handoff(
        account_id=_id(account.id),
        sales_rep_id=_id(sales_rep.id),
        cs_owner_id=_id(cs_owner.id),
        goals=goals,
        created_at=at,
        **fields,
    )
    return _added(session, row)


def make_promise(
    session: Session,
    *,
    account_id: int,
    text: str,
    at: datetime,
    due: date | None = None,
    owner_id: int | None = None,
    promised_by_id: int | None = None,
    **fields: Any,
) -> Promise:
    """A promise on the account, made `at`, open unless `status` says otherwise."""
    row = Promise(
        account_id=account_id,
        text=text,
        due_date=due,
        owner_id=owner_id,
        promised_by_id=promised_by_id,
        created_at=at,
        **fields,
    )
    return _added(session, row)


def _added(session: Session, row: Row) -> Row:
    session.add(row)
    session.flush()
    return row


def _id(value: int | None) -> int:
    assert value is not None, "flush the row first"
    return value
