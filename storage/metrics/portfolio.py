"""The portfolio in one reading (`portfolio`) and each CS owner's line (`owner_lines`); the
conventions every figure follows are in `storage.metrics`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage import people
from storage.accounts import Account, is_live
from storage.audit import CLOSURE_ACTIONS
from storage.metrics.handoffs import HandoffStats, handoff_stats
from storage.metrics.promises import BROKEN_ACTIONS, KEPT_ACTIONS, PromiseCounts, promise_counts
from storage.metrics.query import Amount, Group, Owners, _amounts, _scope
from storage.metrics.renewals import Renewals, renewals
from storage.metrics.silence import _silent, silent_count
from storage.metrics.stages import by_stage, by_touch_model
from storage.promises import Promise, PromiseStatus

assert sorted(KEPT_ACTIONS + BROKEN_ACTIONS) == sorted(CLOSURE_ACTIONS)


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
    user_ids = people.user_ids(session=session, person_ids=accounts)
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
