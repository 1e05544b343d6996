"""Accounts by stage and by touch model, with their values per currency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
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
