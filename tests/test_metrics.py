"""The shared portfolio numbers, on the fixture of `tests.metrics_data` (computed by hand there)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, col, select

from storage import metrics
from storage.accounts import Account
from storage.audit import AuditEntry
from storage.metrics import Amount, Group
from storage.promises import Promise
from tests.metrics_data import DAY, HOUR, NOW, SILENCE, TODAY, Fixture, build_world

SINCE = NOW - timedelta(days=30)


@pytest.fixture
def world(session: Session) -> Fixture:
    return build_world(session)


def jpy(amount: int) -> Amount:
    return Amount("JPY", Decimal(amount))


def usd(amount: int) -> Amount:
    return Amount("USD", Decimal(amount))


def test_accounts_and_value_by_stage_never_add_currencies(session: Session, world: Fixture) -> None:
    assert metrics.by_stage(session=session) == (
        Group("onboarding", 2, (usd(7000),)),
        Group("active", 2, (jpy(1_200_000),)),
        Group("at_risk", 1, (jpy(800_000),)),
        Group("churned", 1, (usd(3000),)),
    )
    assert metrics.by_touch_model(session=session) == (
        Group("high", 3, (jpy(1_200_000), usd(2000))),
        Group("low", 1, (usd(5000),)),
        Group("tech", 1, (jpy(800_000),)),
    )


def test_renewals_in_the_next_90_days(session: Session, world: Fixture) -> None:
    found = metrics.renewals(session=session, today=TODAY, within_days=90)
    # Delta's renewal date passed yesterday and it is not marked renewed: overdue, listed first.
    assert found == metrics.Renewals(count=3, values=(jpy(1_200_000), usd(7000)), overdue=1)
    listed = metrics.upcoming_renewals(session=session, today=TODAY, within_days=90, limit=3)
    assert [r.name for r in listed.items] == ["Delta", "Alpha", "Zeta"]
    assert (listed.total, listed.more) == (4, 1)
    assert listed.items[1].cs_owner == "UCS" and listed.items[2].cs_owner is None
    assert listed.items[1].value == jpy(1_200_000)


def test_promises_overdue_due_soon_kept_and_broken(session: Session, world: Fixture) -> None:
    counts = metrics.promise_counts(session=session, today=TODAY, since=SINCE, now=NOW)
    assert counts == metrics.PromiseCounts(overdue=2, due_soon=2, kept=3, broken=2)
    assert counts.kept_rate == Decimal("0.6")
    assert metrics.PromiseCounts(0, 0, 0, 0).kept_rate is None
    overdue = metrics.due_promises(session=session, today=TODAY, overdue_only=True)
    assert [p.promise_id for p in overdue.items] == [
        world.promise_ids["P1"],
        world.promise_ids["P7"],
    ]
    due = metrics.due_promises(session=session, today=TODAY, within_days=14, limit=3)
    assert [p.promise_id for p in due.items] == [
        world.promise_ids["P1"],
        world.promise_ids["P7"],
        world.promise_ids["P2"],
    ]
    assert due.total == 4 and due.items[0].owner == "UCS" and due.items[0].account_name == "Alpha"
    soon = metrics.due_promises(session=session, today=TODAY, within_days=14, upcoming_only=True)
    assert [p.promise_id for p in soon.items] == [
        world.promise_ids["P2"],
        world.promise_ids["P3"],
    ]


def test_handoffs_pending_oldest_and_median_time_to_accept(
    session: Session, world: Fixture
) -> None:
    stats = metrics.handoff_stats(session=session, since=SINCE, now=NOW)
    assert stats.pending == 2
    assert stats.oldest is not None and stats.oldest.handoff_id == world.handoff_ids["H2"]
    assert stats.oldest.account_name == "Alpha" and stats.oldest.cs_owner == "UCS"
    assert stats.oldest.sales_rep == "USALES"
    assert stats.accepted == 5  # 1 h, 2 h, 6 h, 30 h, 50 h
    assert stats.median_to_accept == 6 * HOUR
    ben = metrics.handoff_stats(session=session, since=SINCE, now=NOW, owners=[world.ben.id or 0])
    assert (ben.pending, ben.oldest, ben.accepted) == (0, None, 2)
    assert ben.median_to_accept == 26 * HOUR  # (2 h + 50 h) / 2
    none = metrics.handoff_stats(session=session, since=NOW, now=NOW)
    assert (none.accepted, none.median_to_accept) == (0, None)


def test_silent_accounts_past_their_touch_model_threshold(session: Session, world: Fixture) -> None:
    assert metrics.silent_count(session=session, now=NOW, silence_days=SILENCE) == 3
    listed = metrics.silent_accounts(session=session, now=NOW, silence_days=SILENCE)
    assert [s.name for s in listed.items] == ["Gamma", "Beta", "Delta"]  # longest silent first
    assert listed.items[0].silent_since == NOW - 100 * DAY  # the handoff's acceptance
    assert listed.items[2].silent_since == NOW - 14 * DAY
    quieter = {"high": 0, "low": 45, "tech": 90}  # 0: never silent
    assert metrics.silent_count(session=session, now=NOW, silence_days=quieter) == 2
    a_minute_earlier = NOW - timedelta(minutes=1)  # Delta's 14 days are not over yet
    assert metrics.silent_count(session=session, now=a_minute_earlier, silence_days=SILENCE) == 2


def test_one_line_per_cs_owner_with_trouble_first(session: Session, world: Fixture) -> None:
    lines = metrics.owner_lines(session=session, today=TODAY, now=NOW, silence_days=SILENCE)
    assert lines == (
        metrics.OwnerLine(world.ben.id, "UCS2", 2, (jpy(800_000),), 1, 2),
        metrics.OwnerLine(world.aiko.id, "UCS", 2, (jpy(1_200_000), usd(5000)), 1, 1),
        metrics.OwnerLine(None, None, 1, (usd(2000),), 0, 0),
    )


def test_the_portfolio_narrowed_to_owners(session: Session, world: Fixture) -> None:
    whole = metrics.portfolio(session=session, today=TODAY, now=NOW, silence_days=SILENCE)
    assert whole.accounts == 6 and whole.silent == 3 and whole.renewals.count == 3
    assert whole.promises.kept_rate == Decimal("0.6")
    assert len(whole.owners) == 3
    aiko = metrics.portfolio(
        session=session, today=TODAY, now=NOW, silence_days=SILENCE, owners=[world.aiko.id or 0]
    )
    assert aiko.by_stage == (
        Group("onboarding", 1, (usd(5000),)),
        Group("active", 1, (jpy(1_200_000),)),
    )
    assert aiko.renewals == metrics.Renewals(2, (jpy(1_200_000), usd(5000)))
    assert aiko.promises == metrics.PromiseCounts(overdue=1, due_soon=2, kept=3, broken=0)
    assert aiko.promises.kept_rate == 1
    assert (aiko.handoffs.pending, aiko.handoffs.accepted) == (2, 3)
    assert aiko.handoffs.median_to_accept == 6 * HOUR  # 1 h, 6 h, 30 h
    assert aiko.silent == 1
    assert [line.owner for line in aiko.owners] == ["UCS"]
    both = metrics.portfolio(
        session=session,
        today=TODAY,
        now=NOW,
        silence_days=SILENCE,
        owners=[world.aiko.id or 0, world.ben.id or 0],
    )
    assert both.accounts == 5 and both.silent == 3 and both.promises.broken == 2
    nobody = metrics.portfolio(
        session=session, today=TODAY, now=NOW, silence_days=SILENCE, owners=[]
    )
    assert (nobody.accounts, nobody.silent, nobody.renewals.count, nobody.owners) == (0, 0, 0, ())
    assert nobody.promises.kept_rate is None and nobody.handoffs.oldest is None


def test_an_empty_database_has_no_numbers(session: Session) -> None:
    empty = metrics.portfolio(session=session, today=TODAY, now=NOW, silence_days=SILENCE)
    assert empty.by_stage == () and empty.by_touch_model == () and empty.owners == ()
    assert empty.renewals == metrics.Renewals(0, ())
    assert empty.handoffs == metrics.HandoffStats(0, None, 0, None)


@pytest.mark.parametrize("days", [1, 7, 30, 90, 400])
def test_a_teams_kept_and_broken_are_every_closure_of_its_accounts(
    session: Session, world: Fixture, days: int
) -> None:
    """Per CS owner, the promises kept and broken (a recurring promise's kept occurrences among
    them, with no `closed_at`) are exactly those of the audit trail on their accounts, over any
    window: narrowing a team to the promises that can have closed in it leaves none out."""
    since = NOW - timedelta(days=days)
    entries = session.exec(
        select(AuditEntry, Account.cs_owner_id)
        .join(Promise, col(Promise.id) == AuditEntry.entity_id)
        .join(Account, col(Account.id) == Promise.account_id)
        .where(AuditEntry.entity == "promise", AuditEntry.at >= since, AuditEntry.at < NOW)
    ).all()
    for owner in {a.cs_owner_id for a in world.accounts.values()} - {None}:
        mine = [e.action for e, o in entries if o == owner]
        expected = (
            sum(a in metrics.KEPT_ACTIONS for a in mine),
            sum(a in metrics.BROKEN_ACTIONS for a in mine),
        )
        counts = metrics.closed_counts(session=session, since=since, now=NOW, owners=[owner])
        assert counts == expected, owner
    if days >= 30:  # the fixture's kept occurrences are among them
        assert any(e.action == "kept_occurrence" for e, _ in entries)
