"""Lookups for many accounts and people at once (the CSV import): a query per few hundred keys,
never one per row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.accounts import Account
from storage.people import Person

CHUNK = 500
"""Keys per `IN (…)`: well under SQLite's and PostgreSQL's parameter limits."""

_T = TypeVar("_T")


def chunks(values: Iterable[_T], size: int = CHUNK) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def by_external_id(*, session: Session, external_ids: Iterable[str]) -> dict[str, Account]:
    found: dict[str, Account] = {}
    for batch in chunks(sorted(set(external_ids))):
        for account in session.exec(select(Account).where(col(Account.external_id).in_(batch))):
            assert account.external_id is not None
            found[account.external_id] = account
    return found


def by_name_key(*, session: Session, keys: Iterable[str]) -> dict[str, list[Account]]:
    """Accounts per folded name (`fold_name`), oldest first."""
    found: dict[str, list[Account]] = {}
    for batch in chunks(sorted(set(keys))):
        query = select(Account).where(col(Account.name_key).in_(batch)).order_by(col(Account.id))
        for account in session.exec(query):
            found.setdefault(account.name_key, []).append(account)
    return found


def people_by_user_id(
    *, session: Session, user_ids: Iterable[str], platform: str = "slack"
) -> dict[str, Person]:
    found: dict[str, Person] = {}
    for batch in chunks(sorted(set(user_ids))):
        query = select(Person).where(Person.platform == platform, col(Person.user_id).in_(batch))
        for person in session.exec(query):
            found[person.user_id] = person
    return found


def people_by_email(*, session: Session, emails: Iterable[str]) -> dict[str, Person]:
    """Keyed by the lower-cased email; when two people share one, the first met wins."""
    found: dict[str, Person] = {}
    for batch in chunks(sorted({e.lower() for e in emails})):
        email = func.lower(col(Person.email))
        query = select(Person).where(email.in_(batch)).order_by(col(Person.id))
        for person in session.exec(query):
            found.setdefault((person.email or "").lower(), person)
    return found
