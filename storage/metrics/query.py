"""The small query framework of the portfolio figures: owner scope, lists read from one statement
(`Lister`), and the helpers every figure shares."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, Protocol, Self, TypeVar

from sqlalchemy import ColumnElement, case, func
from sqlmodel import Session, col, select

from storage.accounts import Account

_T = TypeVar("_T")


class _Query(Protocol):
    def where(self, *clauses: Any) -> Self: ...


class _Joinable(_Query, Protocol):
    def join(self, target: Any, onclause: Any) -> Self: ...


_Q = TypeVar("_Q", bound=_Query)


_J = TypeVar("_J", bound=_Joinable)


Owners = Collection[int] | None
"""CS owner person ids to narrow to; None is everyone."""


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


def _scope(query: _Q, owners: Owners) -> _Q:
    """Narrows a query that involves `Account` to the accounts of these CS owners."""
    if owners is None:
        return query
    return query.where(col(Account.cs_owner_id).in_(list(owners)))


@dataclass(frozen=True)
class Lister(Generic[_T]):
    """A list read the way `first` describes: lean `rows` (an id first, then what
    `order(columns)` sorts by) narrowed to the owners in scope; `details(first)`, the rows of
    the first few joined to what their items show, each made with `item(*detail row)`."""

    rows: Any
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


def first_rows(rows: Any, order: Callable[[Any], Sequence[Any]], limit: int) -> Any:
    """The first `limit` rows of the subquery `rows` in `order(its columns)`, as a subquery."""
    return select(*rows.c).order_by(*order(rows.c)).limit(limit).subquery()


def bytewise(session: Session, text: Any) -> Any:
    """`text` compared by code point, as Python compares strings : SQLite's
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


def _id(value: int | None) -> int:
    assert value is not None, "stored rows have ids"
    return value


def _day(value: date | None) -> date:
    assert value is not None, "selected for having a date"
    return value
