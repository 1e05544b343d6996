"""Accounts by stage and by touch model, with their values per currency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.accounts import Account, Stage, is_live
from storage.metrics.query import Group, Owners, _amounts, _scope

STAGES = [s.value for s in Stage]
"""Lifecycle order: how `by_stage` lists its groups."""


def by_stage(*, session: Session, owners: Owners = None) -> tuple[Group, ...]:
    """Accounts and contract value per stage (churned included), in lifecycle order."""
    return _groups(session, col(Account.stage), owners, STAGES, live_only=False)


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
