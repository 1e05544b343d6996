"""A small sample company for `kakehashi shell --demo`: people in every role and a few accounts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from storage import people, promises, touches
from storage.accounts import Account, Stage, TouchModel, fold_name
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus, Recurrence
from storage.touches import TouchChannel

MANAGER = "U0DEMOMGR"

PEOPLE = [
    # user id, name, role, time zone, Slack locale (None: KAKEHASHI_LOCALE decides)
    (MANAGER, "mika", Role.MANAGER, "Asia/Tokyo", None),
    ("U0DEMOSLS", "kenji", Role.SALES, "Asia/Tokyo", "ja-JP"),
    ("U0DEMOCS1", "aiko", Role.CS, "Asia/Tokyo", "ja-JP"),
    ("U0DEMOCS2", "ben", Role.CS, "America/New_York", "en-US"),
    ("U0DEMOSUP", "sara", Role.SUPPORT, "Europe/London", "en-GB"),
    ("U0DEMONEW", "taro", None, "Asia/Tokyo", "ja-JP"),
]


def load_demo(*, session: Session, now: datetime) -> bool:
    """Adds the sample company once; returns False when it is already there."""
    if people.get_by_user_id(session=session, user_id=MANAGER) is not None:
        return False
    by_name: dict[str, Person] = {}
    for user_id, name, role, tz, locale in PEOPLE:
        person = Person(
            user_id=user_id,
            name=name,
            tz=tz,
            locale=locale,
            email=f"{name}@example.com",
            profile_fetched_at=now,
        )
        session.add(person)
        session.flush()
        if role is not None:
            people.set_role(
                session=session, person=person, role=role, actor=None, at=now, note="demo"
            )
        by_name[name] = person
    for account in _accounts(by_name, now):
        session.add(account)
    session.flush()
    _promises_and_touches(session, by_name, now)
    return True


def _accounts(by_name: dict[str, Person], now: datetime) -> list[Account]:
    today = now.date()

    def account(
        name: str,
        cs: str,
        touch: TouchModel,
        arr: int,
        currency: str,
        started: int,
        stage: Stage,
        external_id: str,
    ) -> Account:
        start = today - timedelta(days=started)
        return Account(
            name=name,
            name_key=fold_name(name),
            external_id=external_id,
            sales_owner_id=by_name["kenji"].id,
            cs_owner_id=by_name[cs].id,
            touch_model=touch.value,
            arr=Decimal(arr),
            currency=currency,
            contract_start=start,
            renewal_date=date(start.year + 1, start.month, min(start.day, 28)),
            stage=stage.value,
            created_at=now,
            updated_at=now,
        )

    return [
        account(
            "株式会社ACME",
            "aiko",
            TouchModel.HIGH,
            1_200_000,
            "JPY",
            20,
            Stage.ONBOARDING,
            "CRM-001",
        ),
        account("Globex Inc.", "ben", TouchModel.LOW, 24_000, "USD", 300, Stage.ACTIVE, "CRM-002"),
        account(
            "さくら商事株式会社",
            "aiko",
            TouchModel.TECH,
            360_000,
            "JPY",
            700,
            Stage.AT_RISK,
            "CRM-003",
        ),
    ]


def _promises_and_touches(session: Session, by_name: dict[str, Person], now: datetime) -> None:
    """Promises open, overdue, kept and broken, and a few touches: さくら商事 has gone quiet."""
    today = now.date()
    kenji, aiko, ben = by_name["kenji"], by_name["aiko"], by_name["ben"]
    accounts = {a.external_id: a for a in session.exec(select(Account)).all()}

    def promise(crm: str, text: str, due: int | None, by: Person, made: int,
                recurrence: Recurrence | None = None) -> Promise:  # fmt: skip
        account = accounts[crm]
        return promises.add(
            session=session, account_id=account.id or 0, text=text,
            due_date=today + timedelta(days=due) if due is not None else None,
            recurrence=recurrence,
            owner_id=account.cs_owner_id, promised_by_id=by.id, actor=by,
            at=now - timedelta(days=made),
        )  # fmt: skip

    promise("CRM-001", "SSO の再設定に立ち会う", 5, kenji, 20)
    promise("CRM-001", "管理者向けトレーニングを実施", -4, kenji, 20)
    kickoff = promise("CRM-001", "キックオフミーティングを開催", -12, kenji, 20)
    promises.close(session=session, promise=kickoff, status=PromiseStatus.KEPT, note=None,
                   actor=aiko, at=now - timedelta(days=13))  # fmt: skip
    promise("CRM-002", "Send the API rate-limit plan", -6, kenji, 40)
    weekly = promise("CRM-002", "Weekly check-in call", -14, ben, 30, Recurrence.WEEK)
    for week in range(2):
        promises.keep_occurrence(session=session, promise=weekly,
                                 next_due=today - timedelta(days=7 - 7 * week), note=None,
                                 actor=ben, at=now - timedelta(days=14 - 7 * week))  # fmt: skip
    status_call = promise("CRM-002", "Daily status mail in the first month", -20, kenji, 60)
    promises.close(session=session, promise=status_call, status=PromiseStatus.BROKEN,
                   note="Sent weekly instead; the customer was told late.", actor=ben,
                   at=now - timedelta(days=18))  # fmt: skip
    promise("CRM-003", "導入事例インタビューについて相談", None, kenji, 100)
    for crm, person, channel, note, days in [
        ("CRM-001", aiko, TouchChannel.CALL, "SSO の再設定日程を田中さんと調整", 2),
        ("CRM-001", kenji, TouchChannel.MEETING, "キックオフ(先方 CTO・情シス 3 名)", 13),
        ("CRM-002", ben, TouchChannel.EMAIL, "Sent the Q4 usage summary", 9),
        ("CRM-003", aiko, TouchChannel.CHAT, "ヘルプセンターの記事を案内", 100),
    ]:
        touches.log(session=session, account_id=accounts[crm].id or 0, person_id=person.id,
                    channel=channel, note=note, at=now - timedelta(days=days))  # fmt: skip
