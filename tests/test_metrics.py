"""The shared portfolio numbers, on a fixture whose every number is computed by hand below.

Today is 2026-11-23 (`NOW`); the window for kept/broken promises and time to accept is the last
30 days. Silence thresholds: high 14, low 45, tech 90 days.

| account | CS owner | model | stage      | value       | renewal  | last sign of contact        |
|---------|----------|-------|------------|-------------|----------|-----------------------------|
| Alpha   | aiko     | high  | active     | ¥1,200,000  | today+10 | touch 3 days ago            |
| Beta    | aiko     | low   | onboarding | $5,000      | today+90 | touch 50 days ago (silent)  |
| Gamma   | ben      | tech  | at_risk    | ¥800,000    | today+91 | accepted 100 days ago (silent)|
| Delta   | ben      | high  | active     | none (USD)  | today-1  | touch 14 days ago (silent)  |
| Epsilon | ben      | low   | churned    | $3,000      | today+5  | none (churned: not counted) |
| Zeta    | nobody   | high  | onboarding | $2,000      | today+30 | created yesterday           |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from storage import metrics, promises
from storage.accounts import Account, fold_name
from storage.handoffs import Handoff, HandoffStatus
from storage.metrics import Amount, Group
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus, Recurrence
from storage.touches import Touch

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)
SINCE = NOW - timedelta(days=30)
SILENCE = {"high": 14, "low": 45, "tech": 90}
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass
class Fixture:
    aiko: Person
    ben: Person
    kenji: Person
    accounts: dict[str, Account]
    promise_ids: dict[str, int]
    handoff_ids: dict[str, int]


def _person(session: Session, user_id: str, role: Role) -> Person:
    row = Person(user_id=user_id, name=user_id.lower(), role=role.value)
    session.add(row)
    session.flush()
    return row


def _account(
    session: Session,
    name: str,
    owner: Person | None,
    model: str,
    stage: str,
    arr: str | None,
    currency: str,
    renewal: date,
    created: datetime = NOW - 200 * DAY,
) -> Account:
    row = Account(
        name=name,
        name_key=fold_name(name),
        cs_owner_id=owner.id if owner else None,
        touch_model=model,
        stage=stage,
        arr=Decimal(arr) if arr else None,
        currency=currency,
        renewal_date=renewal,
        created_at=created,
        updated_at=created,
    )
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def world(session: Session) -> Fixture:
    aiko = _person(session, "UCS", Role.CS)
    ben = _person(session, "UCS2", Role.CS)
    kenji = _person(session, "USALES", Role.SALES)
    a = {
        "Alpha": _account(
            session, "Alpha", aiko, "high", "active", "1200000", "JPY", TODAY + 10 * DAY
        ),
        "Beta": _account(
            session, "Beta", aiko, "low", "onboarding", "5000", "USD", TODAY + 90 * DAY
        ),
        "Gamma": _account(
            session, "Gamma", ben, "tech", "at_risk", "800000", "JPY", TODAY + 91 * DAY
        ),
        "Delta": _account(session, "Delta", ben, "high", "active", None, "USD", TODAY - DAY),
        "Epsilon": _account(
            session, "Epsilon", ben, "low", "churned", "3000", "USD", TODAY + 5 * DAY
        ),
        "Zeta": _account(
            session, "Zeta", None, "high", "onboarding", "2000", "USD", TODAY + 30 * DAY, NOW - DAY
        ),
    }
    for name, ago in (("Alpha", 3 * DAY), ("Beta", 50 * DAY), ("Delta", 14 * DAY)):
        session.add(Touch(account_id=a[name].id or 0, note="call", at=NOW - ago))
        session.add(Touch(account_id=a[name].id or 0, note="older", at=NOW - ago - 30 * DAY))

    def promise(name: str, due: date | None, recurrence: Recurrence | None = None) -> Promise:
        acct = a[name]
        return promises.add(
            session=session,
            account_id=acct.id or 0,
            text=f"promise on {name}",
            due_date=due,
            recurrence=recurrence,
            owner_id=acct.cs_owner_id,
            promised_by_id=kenji.id,
            actor=kenji,
            at=NOW - 120 * DAY,
        )

    p = {
        "P1": promise("Alpha", TODAY - 5 * DAY),  # overdue
        "P2": promise("Alpha", TODAY),  # due soon (today counts)
        "P3": promise("Beta", TODAY + 14 * DAY),  # due soon (last day)
        "P4": promise("Beta", TODAY + 15 * DAY),  # later
        "P5": promise("Gamma", None),  # undated
        "P6": promise("Epsilon", TODAY - 10 * DAY),  # churned account: not counted
        "P7": promise("Delta", TODAY - DAY),  # overdue
        "P8": promise("Alpha", TODAY - 20 * DAY),
        "P9": promise("Gamma", TODAY - 20 * DAY),
        "P10": promise("Beta", TODAY - 50 * DAY),
        "P11": promise("Beta", TODAY - 14 * DAY, Recurrence.WEEK),
        "P12": promise("Epsilon", TODAY - 20 * DAY),
        "P13": promise("Delta", TODAY - 20 * DAY),
    }

    def close(key: str, status: PromiseStatus, ago: timedelta) -> None:
        promises.close(
            session=session, promise=p[key], status=status, note="n", actor=aiko, at=NOW - ago
        )

    close("P8", PromiseStatus.KEPT, 2 * DAY)  # kept
    close("P9", PromiseStatus.BROKEN, 10 * DAY)  # broken
    close("P10", PromiseStatus.KEPT, 40 * DAY)  # before the window
    close("P12", PromiseStatus.BROKEN, 3 * DAY)  # broken (churned accounts count here)
    close("P13", PromiseStatus.WAIVED, DAY)  # neither
    for ago, next_due in ((12 * DAY, TODAY - 7 * DAY), (5 * DAY, TODAY + 20 * DAY)):
        promises.keep_occurrence(  # kept, twice
            session=session,
            promise=p["P11"],
            next_due=next_due,
            note=None,
            actor=aiko,
            at=NOW - ago,
        )

    def handoff(name: str, created: datetime, accepted: datetime | None = None) -> Handoff:
        acct = a[name]
        row = Handoff(
            account_id=acct.id or 0,
            sales_rep_id=kenji.id or 0,
            cs_owner_id=acct.cs_owner_id or aiko.id or 0,
            status=HandoffStatus.ACCEPTED.value if accepted else HandoffStatus.PENDING.value,
            goals="goals",
            created_at=created,
            accepted_at=accepted,
        )
        session.add(row)
        session.flush()
        return row

    h = {
        "H1": handoff("Beta", NOW - 3 * DAY),  # pending
        "H2": handoff("Alpha", NOW - 6 * DAY),  # pending, the oldest
        "H3": handoff("Epsilon", NOW - 30 * DAY),  # pending on a churned account: not counted
        "H4": handoff("Gamma", NOW - 101 * DAY, NOW - 100 * DAY),  # before the window
        "H5": handoff("Delta", NOW - 20 * DAY, NOW - 20 * DAY + 2 * HOUR),  # 2 h
        "H6": handoff("Alpha", NOW - 10 * DAY, NOW - 10 * DAY + 30 * HOUR),  # 30 h
        "H7": handoff("Alpha", NOW - 8 * DAY, NOW - 8 * DAY + 6 * HOUR),  # 6 h
        "H8": handoff("Delta", NOW - 25 * DAY, NOW - 25 * DAY + 50 * HOUR),  # 50 h
        "H9": handoff("Alpha", NOW - 5 * DAY, NOW - 5 * DAY + HOUR),  # 1 h
    }
    session.flush()
    return Fixture(
        aiko=aiko,
        ben=ben,
        kenji=kenji,
        accounts=a,
        promise_ids={k: v.id or 0 for k, v in p.items()},
        handoff_ids={k: v.id or 0 for k, v in h.items()},
    )


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
    assert found == metrics.Renewals(count=3, values=(jpy(1_200_000), usd(7000)))
    listed = metrics.upcoming_renewals(session=session, today=TODAY, within_days=90, limit=2)
    assert [r.name for r in listed.items] == ["Alpha", "Zeta"]
    assert (listed.total, listed.more) == (3, 1)
    assert listed.items[0].cs_owner == "UCS" and listed.items[1].cs_owner is None
    assert listed.items[0].value == jpy(1_200_000)


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
