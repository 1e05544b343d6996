"""A small sample company for `kakehashi shell --demo`: people in every role and a few accounts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from storage import crm_events, handoffs, people, promises, touches
from storage.accounts import Account, Stage, TouchModel, fold_name
from storage.audit import record
from storage.crm_events import CrmSource
from storage.handoffs import AccountFacts, HandoffNotes, NewContact, SalePromise
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


DEMO_MARKER = "CRM-001"
"""The first demo account's CRM id: when it exists, the demo company was loaded."""


def load_demo(*, session: Session, now: datetime) -> bool:
    """Adds the sample company once; returns False when it is already there."""
    loaded = select(Account.id).where(Account.external_id == DEMO_MARKER)
    if session.exec(loaded).first() is not None:
        return False
    by_name: dict[str, Person] = {}
    for user_id, name, role, tz, locale in PEOPLE:
        # A demo person may exist already (KAKEHASHI_MANAGERS seeds U0DEMOMGR, say).
        person = people.get_or_create(session=session, user_id=user_id)
        person.name, person.tz, person.locale = name, tz, locale
        person.email, person.profile_fetched_at = f"{name}@example.com", now
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
    _handoffs(session, by_name, now)
    _account_history(session, by_name, now)
    _promises_and_touches(session, by_name, now)
    _reminders(session, by_name, now)
    _won_deal(session, now)
    return True


WON_DEAL = {
    "type": "deal.won",
    "deal": {
        "id": "DEMO-DEAL-1",
        "name": "Pied Piper 年間契約",
        "amount": 2400000,
        "currency": "JPY",
        "owner_email": "kenji@example.com",
        "contract_start": "2027-01-01",
        "renewal_date": "2027-12-31",
        "products": ["Enterprise", "SSO"],
    },
    "account": {"id": "CRM-PIEDPIPER", "name": "Pied Piper株式会社", "domain": "piedpiper.example"},
    "contacts": [
        {"name": "Richard Hendricks", "role": "CEO", "email": "richard@piedpiper.example"}
    ],
    "promises": [{"text": "SSO setup call in the first week", "due": None, "repeat": None}],
}
"""A deal won in the CRM, waiting for the scheduler: kenji is asked to hand it off (PRODUCT
§14)."""


def _won_deal(session: Session, now: datetime) -> None:
    crm_events.store(
        session=session, source=CrmSource.WEBHOOK, events=[("demo-won-deal", WON_DEAL)], at=now
    )


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
            # Known since the contract started, so silence is counted from then, not from today.
            created_at=now - timedelta(days=started),
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


def _handoffs(session: Session, by_name: dict[str, Person], now: datetime) -> None:
    """株式会社ACME was handed to aiko and accepted the next day; a new customer waits for ben
    (three days now, so the waiting-handoff reminders have something to say)."""
    acme = session.exec(select(Account).where(Account.external_id == "CRM-001")).one()
    kenji = by_name["kenji"]
    accepted = handoffs.hand_off(
        session=session,
        account=acme,
        facts=AccountFacts(
            name=acme.name,
            touch_model=acme.touch_model,
            plan="Enterprise, 300 seats",
            arr=acme.arr,
            currency=acme.currency,
            contract_start=acme.contract_start or now.date(),
            renewal_date=acme.renewal_date or now.date() + timedelta(days=365),
        ),
        notes=HandoffNotes(
            goals="Cut new-hire onboarding from 3 months to 1; measured by active seats.",
            problems="SSO setup failed twice during the trial.",
            risks="The sponsoring manager moves to another division in April.",
            contacts=(NewContact("田中 由紀", "CTO", "tanaka@acme.example.jp"),),
            promises=(
                SalePromise(
                    "月次の利用状況レポート", now.date() + timedelta(days=10), Recurrence.MONTH
                ),
            ),
        ),
        sales_rep=kenji,
        cs_owner=by_name["aiko"],
        at=now - timedelta(days=20),
    )
    handoffs.accept(
        session=session, handoff=accepted, by=by_name["aiko"], at=now - timedelta(days=19)
    )
    today = now.date()
    handoffs.hand_off(
        session=session,
        account=None,
        facts=AccountFacts(
            name="Initech LLC",
            touch_model=TouchModel.LOW.value,
            plan="Team, 40 seats",
            arr=Decimal(18_000),
            currency="USD",
            contract_start=today,
            renewal_date=date(today.year + 1, today.month, min(today.day, 28)),
        ),
        notes=HandoffNotes(
            goals="Replace spreadsheets for the support team by the end of next quarter.",
            contacts=(NewContact("Peter Gibbons", "Team lead", "peter@initech.example"),),
            promises=(SalePromise("Admin training session", today + timedelta(days=14), None),),
        ),
        sales_rep=kenji,
        cs_owner=by_name["ben"],
        at=now - timedelta(days=3),
    )


def _account_history(session: Session, by_name: dict[str, Person], now: datetime) -> None:
    """What the account cards show beyond the facts: aiko's question about the ACME handoff and
    kenji's answer, and さくら商事 marked at risk by aiko (the stage it has)."""
    acme = session.exec(select(Account).where(Account.external_id == "CRM-001")).one()
    handoff = handoffs.latest_for_account(session=session, account_id=acme.id)
    assert handoff is not None
    question = handoffs.add_message(
        session=session,
        handoff=handoff,
        author=by_name["aiko"],
        kind=handoffs.MessageKind.QUESTION,
        text="SSO の再設定はどなたと進める予定ですか？",
        at=now - timedelta(days=19, hours=-1),
    )
    handoffs.add_message(
        session=session,
        handoff=handoff,
        author=by_name["kenji"],
        kind=handoffs.MessageKind.ANSWER,
        text="情報システム部の佐藤さんです。CTO の田中さんも同席されます。",
        at=now - timedelta(days=19, hours=-3),
        reply_to=question,
    )
    sakura = session.exec(select(Account).where(Account.external_id == "CRM-003")).one()
    record(
        session=session,
        actor=by_name["aiko"],
        at=now - timedelta(days=10),
        entity="account",
        entity_id=sakura.id,
        action="stage",
        changes={"stage": [Stage.ACTIVE.value, Stage.AT_RISK.value]},
    )


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


def _reminders(session: Session, by_name: dict[str, Person], now: datetime) -> None:
    """A promise for the reminders to show as the shell's clock moves (`:time`): ben promised
    Globex security answers in two days, so "due in 2 days" reaches him in his New York morning,
    "due today" two days later, and "overdue" weekly after that."""
    globex = session.exec(select(Account).where(Account.external_id == "CRM-002")).one()
    assert globex.id is not None
    promises.add(
        session=session,
        account_id=globex.id,
        text="Answer the security questionnaire",
        due_date=now.date() + timedelta(days=2),
        recurrence=None,
        owner_id=by_name["ben"].id,
        promised_by_id=by_name["kenji"].id,
        actor=by_name["kenji"],
        at=now,
    )
