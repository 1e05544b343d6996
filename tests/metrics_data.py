"""A portfolio whose every number is computed by hand (used by the metrics, portfolio and Home
tab tests).

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

from sqlmodel import Session

from storage import promises
from storage.accounts import Account, fold_name
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus, Recurrence
from storage.touches import Touch

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)
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


def build_world(session: Session) -> Fixture:
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
