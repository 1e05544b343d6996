"""A small sample company for `kakehashi shell --demo`: people in every role and a few accounts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from storage import people
from storage.accounts import Account, Stage, TouchModel, fold_name
from storage.people import Person, Role

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
