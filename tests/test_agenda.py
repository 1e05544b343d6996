"""The weekly agenda, on a fixture whose every line is written out by hand below; and at the
scale of 5,000 accounts and 20,000 promises, within Block Kit's limits.

The agenda is for the week ending Monday 2026-11-23 09:00 in Tokyo (00:00 UTC): the week is
[Nov 16 00:00 UTC, Nov 23 00:00 UTC) and today (in Tokyo) is Nov 23. Silence: high 14 days,
low 45, tech 90.

| account           | CS   | model | stage    | value      | renewal      | last sign of contact |
|-------------------|------|-------|----------|------------|--------------|----------------------|
| Alpha             | aiko | high  | active   | ¥1,200,000 | Dec 3 (+10)  | touch 3 days ago     |
| <!channel> & Beta | aiko | low   | onboard. | $5,000     | Feb 21 (+90) | created 50 days ago  |
| Gamma             | ben  | tech  | at_risk  | ¥800,000   | Feb 22 (+91) | accepted 100 days ago|
| Delta             | ben  | high  | churned  | $3,000     | Nov 28 (+5)  | (churned)            |

Handoffs: H1 Alpha made Nov 18, accepted Nov 19 12:00 (1.5 days); H2 Beta made Nov 20, pending;
H3 Gamma made Aug 10, accepted Aug 15 (outside 90 days); H4 Gamma made Nov 10, pending;
H5 Delta made Nov 1, accepted Nov 3 12:00 (2.5 days). Median over 90 days: (1.5 + 2.5) / 2 = 2.0.

Promises (owned by the CS owner): P1 Alpha due Nov 20 (3 days overdue); P2 Beta due Nov 30;
P3 Gamma due Dec 7 (+14, included); P4 Gamma due Dec 8 (+15, not); P5 Alpha kept Nov 19;
P6 Gamma broken Nov 21 ("Customer postponed"); P7 Alpha kept Nov 10 (before the week);
P8 Delta due Nov 1 (churned: not listed). Kept: this week 1 of 2 (50%), 90 days 2 of 3 (67%).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert
from sqlmodel import Session, col, select

from bot import blockkit
from commands.agenda.compose import AgendaScope, compose
from commands.agenda.shared import SharedReadings
from commands.i18n import Translator
from commands.ui import Divider, Header, Message, Note, Section
from storage import metrics, promises
from storage.accounts import Account
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus
from storage.touches import Touch
from testkit.fake_slack import block_errors
from tests.factories import make_account, make_handoff, make_person
from tests.slack_text import slack

END = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Monday 09:00 in Tokyo
TOKYO = ZoneInfo("Asia/Tokyo")
SILENCE = {"high": 14, "low": 45, "tech": 90}
DAY = timedelta(days=1)
HOSTILE = "<!channel> & Beta"
# As Slack shows them: the sections are read through `slack`.
SALES, CS, CS2 = "<@USALES>", "<@UCS>", "<@UCS2>"
HOSTILE_TEXT = "<@U0001> guide'; DROP TABLE promises; --"


@dataclass
class World:
    aiko: Person
    ben: Person
    kenji: Person


def _person(session: Session, user_id: str, role: Role) -> Person:
    return make_person(session, user_id=user_id, role=role)


def _account(
    session: Session,
    name: str,
    owner: Person,
    sales: Person,
    model: str,
    stage: str,
    arr: int,
    currency: str,
    renewal: date,
    created: datetime = END - 200 * DAY,
) -> int:
    account = make_account(
        session,
        name=name,
        at=created,
        cs_owner_id=owner.id,
        sales_owner_id=sales.id,
        touch_model=model,
        stage=stage,
        arr=Decimal(arr),
        currency=currency,
        renewal_date=renewal,
    )
    assert account.id is not None
    return account.id


def _handoff(
    session: Session,
    account_id: int,
    world: World,
    owner: Person,
    made: datetime,
    accepted: datetime | None = None,
) -> None:
    make_handoff(
        session,
        account=session.get_one(Account, account_id),
        sales_rep=world.kenji,
        cs_owner=owner,
        at=made,
        goals="goals",
        status=(HandoffStatus.ACCEPTED if accepted else HandoffStatus.PENDING).value,
        accepted_at=accepted,
        accepted_by_id=owner.id if accepted else None,
    )


def _promise(
    session: Session,
    account_id: int,
    owner: Person,
    text: str,
    due: date | None,
    *,
    closed: tuple[PromiseStatus, datetime, str | None] | None = None,
) -> int:
    promise = promises.add(
        session=session,
        account_id=account_id,
        text=text,
        due_date=due,
        recurrence=None,
        owner_id=owner.id,
        promised_by_id=None,
        actor=owner,
        at=END - 60 * DAY,
    )
    if closed:
        status, at, note = closed
        promises.close(
            session=session, promise=promise, status=status, note=note, actor=owner, at=at
        )
    assert promise.id is not None
    return promise.id


def build_world(session: Session) -> World:
    world = World(
        aiko=_person(session, "UCS", Role.CS),
        ben=_person(session, "UCS2", Role.CS),
        kenji=_person(session, "USALES", Role.SALES),
    )
    aiko, ben, kenji = world.aiko, world.ben, world.kenji
    alpha = _account(
        session, "Alpha", aiko, kenji, "high", "active", 1_200_000, "JPY", date(2026, 12, 3)
    )
    beta = _account(
        session,
        HOSTILE,
        aiko,
        kenji,
        "low",
        "onboarding",
        5000,
        "USD",
        date(2027, 2, 21),
        created=END - 50 * DAY,
    )
    gamma = _account(
        session, "Gamma", ben, kenji, "tech", "at_risk", 800_000, "JPY", date(2027, 2, 22)
    )
    delta = _account(
        session, "Delta", ben, kenji, "high", "churned", 3000, "USD", date(2026, 11, 28)
    )
    session.add(Touch(account_id=alpha, person_id=aiko.id, note="call", at=END - 3 * DAY))
    _handoff(
        session,
        alpha,
        world,
        aiko,
        datetime(2026, 11, 18, tzinfo=UTC),
        datetime(2026, 11, 19, 12, tzinfo=UTC),
    )
    _handoff(session, beta, world, aiko, datetime(2026, 11, 20, tzinfo=UTC))
    _handoff(
        session,
        gamma,
        world,
        ben,
        datetime(2026, 8, 10, tzinfo=UTC),
        datetime(2026, 8, 15, tzinfo=UTC),
    )
    _handoff(session, gamma, world, ben, datetime(2026, 11, 10, tzinfo=UTC))
    _handoff(
        session,
        delta,
        world,
        ben,
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 3, 12, tzinfo=UTC),
    )
    _promise(session, alpha, aiko, "Monthly training session", date(2026, 11, 20))
    _promise(session, beta, aiko, HOSTILE_TEXT, date(2026, 11, 30))
    _promise(session, gamma, ben, "Quarterly review", date(2026, 12, 7))
    _promise(session, gamma, ben, "Custom report", date(2026, 12, 8))
    _promise(
        session,
        alpha,
        aiko,
        "Kickoff deck",
        None,
        closed=(PromiseStatus.KEPT, datetime(2026, 11, 19, tzinfo=UTC), None),
    )
    _promise(
        session,
        gamma,
        ben,
        "Onsite visit",
        None,
        closed=(
            PromiseStatus.BROKEN,
            datetime(2026, 11, 21, tzinfo=UTC),
            "Customer postponed <!here>",
        ),
    )
    _promise(
        session,
        alpha,
        aiko,
        "Old promise",
        None,
        closed=(PromiseStatus.KEPT, datetime(2026, 11, 10, tzinfo=UTC), None),
    )
    _promise(session, delta, ben, "Churned promise", date(2026, 11, 1))
    session.flush()
    return world


def agenda(
    session: Session,
    locale: str = "en",
    owners: tuple[int, ...] | None = None,
    team: tuple[str, ...] = (),
) -> Message:
    scope = AgendaScope(end=END, silence_days=SILENCE, owners=owners, team=team, room=blockkit.ROOM)
    return compose(session, Translator(locale, TOKYO), scope)


def sections(message: Message) -> list[str]:
    return [slack(b.text) for b in message.blocks if isinstance(b, Section)]


def p(session: Session, text: str) -> int:
    """A promise's number, found by its text."""
    promise = session.exec(select(Promise).where(Promise.text == text)).one()
    assert promise.id is not None
    return promise.id


def h(session: Session, account: str, status: HandoffStatus) -> int:
    row = session.exec(
        select(Handoff)
        .join(Account, col(Account.id) == Handoff.account_id)
        .where(Account.name == account, Handoff.status == status.value)
    ).one()
    assert row.id is not None
    return row.id


def test_every_section_matches_the_hand_built_expectation(session: Session) -> None:
    build_world(session)
    message = agenda(session)
    h1, h2 = h(session, "Alpha", HandoffStatus.ACCEPTED), h(session, HOSTILE, HandoffStatus.PENDING)
    h4 = h(session, "Gamma", HandoffStatus.PENDING)
    beta = "&lt;!channel&gt; &amp; Beta"
    assert message.blocks[0] == Header("Weekly Sales × CS sync · Nov 16, 2026 – Nov 23, 2026")
    assert isinstance(message.blocks[1], Note) and slack(message.blocks[1].text).startswith(
        "All accounts."
    )
    assert sections(message) == [
        "*New handoffs this week*\n"
        f"• H-{h1} *Alpha* · {SALES} → {CS} · accepted Nov 19, 2026\n"
        f"• H-{h2} *{beta}* · {SALES} → {CS} · waiting for {CS} to accept",
        "*Handoffs waiting to be accepted* (oldest first)\n"
        f"• H-{h4} *Gamma* · {SALES} → {CS2} · waiting since Nov 10, 2026 (13 days)\n"
        f"• H-{h2} *{beta}* · {SALES} → {CS} · waiting since Nov 20, 2026 (3 days)",
        "*Overdue promises*\n"
        f"• P-{p(session, 'Monthly training session')} *Alpha*: Monthly training session"
        f" · {CS} · due Nov 20, 2026 (3 days overdue)",
        "*Promises due in the next 14 days*\n"
        f"• P-{p(session, HOSTILE_TEXT)} *{beta}*: &lt;@U0001&gt; guide'; DROP TABLE promises; --"
        f" · {CS} · due Nov 30, 2026\n"
        f"• P-{p(session, 'Quarterly review')} *Gamma*: Quarterly review · {CS2}"
        " · due Dec 7, 2026",
        "*Promises kept and broken this week*\n"
        f"• ❌ broken · P-{p(session, 'Onsite visit')} *Gamma*: Onsite visit · {CS2}"
        " · “Customer postponed &lt;!here&gt;”\n"
        f"• ✅ kept · P-{p(session, 'Kickoff deck')} *Alpha*: Kickoff deck · {CS}",
        "*Renewals in the next 90 days*\n"
        f"• *Alpha* · renews Dec 3, 2026 (in 10 days) · ¥1,200,000 · {CS}\n"
        f"• *{beta}* · renews Feb 21, 2027 (in 90 days) · $5,000.00 · {CS}",
        "*Silent accounts* (no touch past their threshold, longest first)\n"
        f"• *Gamma* · no touch for 100 days (tech touch) · {CS2}\n"
        f"• *{beta}* · no touch for 50 days (low touch) · {CS}",
        "*Our shared numbers*\n"
        "Accounts and contract value by stage:\n"
        "• onboarding: 1 account · $5,000.00\n"
        "• active: 1 account · ¥1,200,000\n"
        "• at risk: 1 account · ¥800,000\n"
        "• churned: 1 account · $3,000.00\n"
        "Promises kept: 50% (1 of 2) this week · 67% (2 of 3) over 90 days\n"
        "Median time to accept a handoff: 2.0 days (2 accepted in 90 days)",
    ]
    assert sum(isinstance(b, Divider) for b in message.blocks) == 8
    assert block_errors(blockkit.blocks(message)) == []


def test_narrowed_to_a_team_only_their_accounts_are_listed(session: Session) -> None:
    world = build_world(session)
    assert world.ben.id is not None
    message = agenda(session, owners=(world.ben.id,), team=("UCS2",))
    text = "\n".join(sections(message))
    assert "Alpha" not in text and "Beta" not in text
    assert "*Gamma* · no touch for 100 days" in text and "Quarterly review" in text
    assert "No new handoffs this week." in text
    assert "• churned: 1 account · $3,000.00" in text and "onboarding" not in text
    assert "Promises kept: 0% (0 of 1) this week · 0% (0 of 1) over 90 days" in text
    note = message.blocks[1]
    assert isinstance(note, Note) and slack(note.text).startswith(
        "Accounts whose CS owner is <@UCS2>."
    )


def test_a_teams_agenda_section_by_section(session: Session) -> None:
    """Ben's accounts only: Gamma (at risk) and Delta (churned: counted by stage and in the
    median time to accept, listed nowhere)."""
    world = build_world(session)
    assert world.ben.id is not None
    message = agenda(session, owners=(world.ben.id,), team=("UCS2",))
    h4 = h(session, "Gamma", HandoffStatus.PENDING)
    assert sections(message) == [
        "*New handoffs this week*\nNo new handoffs this week.",
        "*Handoffs waiting to be accepted* (oldest first)\n"
        f"• H-{h4} *Gamma* · {SALES} → {CS2} · waiting since Nov 10, 2026 (13 days)",
        "*Overdue promises*\nNo promise is overdue.",
        "*Promises due in the next 14 days*\n"
        f"• P-{p(session, 'Quarterly review')} *Gamma*: Quarterly review · {CS2}"
        " · due Dec 7, 2026",
        "*Promises kept and broken this week*\n"
        f"• ❌ broken · P-{p(session, 'Onsite visit')} *Gamma*: Onsite visit · {CS2}"
        " · “Customer postponed &lt;!here&gt;”",
        "*Renewals in the next 90 days*\nNo renewal in the next 90 days.",
        "*Silent accounts* (no touch past their threshold, longest first)\n"
        f"• *Gamma* · no touch for 100 days (tech touch) · {CS2}",
        "*Our shared numbers*\n"
        "Accounts and contract value by stage:\n"
        "• at risk: 1 account · ¥800,000\n"
        "• churned: 1 account · $3,000.00\n"
        "Promises kept: 0% (0 of 1) this week · 0% (0 of 1) over 90 days\n"
        "Median time to accept a handoff: 2.5 days (1 accepted in 90 days)",
    ]


def statements(session: Session) -> list[str]:
    """The SQL statements the session's connection runs from now on."""
    ran: list[str] = []
    event.listen(session.connection(), "before_cursor_execute", lambda *a: ran.append(a[2]))
    return ran


def test_agendas_composed_together_read_each_question_once(session: Session) -> None:
    world = build_world(session)
    assert world.ben.id is not None
    everyone = AgendaScope(end=END, silence_days=SILENCE)
    ben = AgendaScope(end=END, silence_days=SILENCE, owners=(world.ben.id,), team=("UCS2",))
    next_week = AgendaScope(end=END + 7 * DAY, silence_days=SILENCE)
    fresh = [
        (scope, locale, compose(session, Translator(locale, TOKYO), scope))
        for scope in (everyone, ben, next_week)
        for locale in ("en", "ja")
    ]
    shared = SharedReadings()
    ran = statements(session)
    for scope, locale, expected in fresh:
        before = len(ran)
        assert compose(session, Translator(locale, TOKYO), scope, shared) == expected
        asked = len(ran) - before
        # The first agenda of a scope reads; the same scope in another language reads nothing.
        assert asked > 0 if locale == "en" else asked == 0, (scope, locale, asked)


def test_in_japanese(session: Session) -> None:
    build_world(session)
    message = agenda(session, "ja")
    assert message.blocks[0] == Header(
        "営業 × CS 週次ミーティング・アジェンダ(2026年11月16日〜2026年11月23日)"
    )
    text = "\n".join(sections(message))
    assert f"• *Alpha* · 更新日 2026年12月3日(あと10日) · ¥1,200,000 · {CS}" in text
    assert "• アクティブ: 1件 · ¥1,200,000" in text
    assert "約束の履行率: 今週50%(2件中 1件) · 過去90日 67%(3件中 2件)" in text
    assert "(3日超過)" in text


def test_an_empty_portfolio_gives_a_short_friendly_agenda(session: Session) -> None:
    message = agenda(session)
    assert sections(message) == [
        "*New handoffs this week*\nNo new handoffs this week.",
        "*Handoffs waiting to be accepted* (oldest first)\nNo handoff is waiting.",
        "*Overdue promises*\nNo promise is overdue.",
        "*Promises due in the next 14 days*\nNo promise is due in the next 14 days.",
        "*Promises kept and broken this week*\nNo promise was kept or broken this week.",
        "*Renewals in the next 90 days*\nNo renewal in the next 90 days.",
        "*Silent accounts* (no touch past their threshold, longest first)\n"
        "No account has gone silent.",
        "*Our shared numbers*\nAccounts and contract value by stage:\n• No accounts yet.\n"
        "Promises kept: none closed this week · none closed over 90 days\n"
        "Median time to accept a handoff: no handoff accepted in 90 days",
    ]


def test_5000_accounts_and_20000_promises_stay_within_block_kit_limits(session: Session) -> None:
    """Hostile, long names everywhere: every section still fits and ends with "and N more"."""
    aiko = _person(session, "UCS", Role.CS)
    kenji = _person(session, "USALES", Role.SALES)
    rng = random.Random(6)
    long_name = "&<>" * 60  # 180 characters that escape to 720
    session.execute(
        insert(Account),
        [
            {
                "name": f"{long_name}{i}",
                "name_key": f"k{i}",
                "cs_owner_id": aiko.id,
                "sales_owner_id": kenji.id,
                "touch_model": rng.choice(["high", "low", "tech"]),
                "stage": rng.choice(["onboarding", "active", "at_risk", "renewed", "churned"]),
                "arr": Decimal(rng.randint(1, 10_000_000)),
                "currency": rng.choice(["JPY", "USD", "EUR"]),
                "renewal_date": date(2026, 11, 23) + timedelta(days=rng.randint(0, 120)),
                "created_at": END - 400 * DAY,
                "updated_at": END - 400 * DAY,
            }
            for i in range(5000)
        ],
    )
    ids = [a.id for a in session.exec(select(Account)).all()]
    session.execute(
        insert(Promise),
        [
            {
                "account_id": rng.choice(ids),
                "text": "<!channel> " + "約束" * 500,
                "owner_id": aiko.id,
                "status": "open",
                "due_date": date(2026, 11, 23) + timedelta(days=rng.randint(-30, 14)),
                "created_at": END - 60 * DAY,
                "kept_count": 0,
                "source": "command",
            }
            for _ in range(20_000)
        ],
    )
    session.execute(
        insert(Handoff),
        [
            {
                "account_id": account_id,
                "sales_rep_id": kenji.id,
                "cs_owner_id": aiko.id,
                "status": "pending",
                "goals": "g",
                "created_at": END - rng.randint(0, 20) * DAY,
            }
            for account_id in ids[:1500]
        ],
    )
    for locale in ("en", "ja"):
        message = agenda(session, locale)
        rendered = blockkit.blocks(message)
        assert block_errors(rendered) == []
        assert len(rendered) <= 50
        texts = sections(message)
        assert all(len(text) <= blockkit.SECTION_TEXT for text in texts)
        more = "more" if locale == "en" else "ほか"
        listed = texts[:4] + texts[5:7]  # every list except kept/broken (none this week)
        assert all(more in text.splitlines()[-1] for text in listed), [t[-80:] for t in listed]
        assert "<!channel>" not in "".join(texts)
        overdue = metrics.due_promises(
            session=session, today=date(2026, 11, 23), overdue_only=True, limit=0
        ).total
        shown = [line for line in texts[2].splitlines() if line.startswith("• ")]
        left = int(re.sub(r"\D", "", texts[2].splitlines()[-1]))
        assert 0 < len(shown) <= 10 and len(shown) + left == overdue > 5000


def test_a_renewal_due_today_says_today(session: Session) -> None:
    world = build_world(session)
    today = END.astimezone(TOKYO).date()
    _account(session, "Renews Today", world.ben, world.kenji, "low", "active", 100, "USD", today)
    for locale, expected in (("en", "renews Nov 23, 2026 (today)"), ("ja", "(本日)")):
        text = "\n".join(sections(agenda(session, locale)))
        line = next(x for x in text.splitlines() if "Renews Today" in x)
        assert expected in line, line


def _crowded_world(session: Session, rng: random.Random) -> list[int]:
    """Six CS owners with accounts that tie on everything an agenda sorts by: a few names (in
    cases and scripts whose order depends on the collation), renewal and due dates, creation
    times; and closures of every kind in the week and the longer window. Returns the owners."""
    sales = _person(session, "USALES", Role.SALES)
    world = World(aiko=sales, ben=sales, kenji=sales)
    owners = [_person(session, f"UCS{i}", Role.CS) for i in range(6)]
    names = ["alpha", "Alpha", "ALPHA", "Ärzte", "アルファ", "ｱﾙﾌｧ", "株式会社アルファ", "🚀", "b"]
    for i in range(240):
        owner = rng.choice(owners)
        made = END - rng.choice([1, 2, 30, 200]) * DAY
        account = _account(
            session,
            rng.choice(names),
            owner,
            sales,
            rng.choice(["high", "low", "tech"]),
            rng.choice(["onboarding", "active", "at_risk", "renewed", "churned"]),
            rng.randint(1, 9) * 1000,
            rng.choice(["JPY", "USD"]),
            date(2026, 11, 23) + rng.choice([0, 3, 3, 40, 100]) * DAY,
            created=made,
        )
        if rng.random() < 0.5:
            at = END - rng.choice([2, 20, 60]) * DAY
            session.add(Touch(account_id=account, person_id=owner.id, note="call", at=at))
        accepted = made + DAY if rng.random() < 0.5 else None
        _handoff(session, account, world, owner, made, accepted if i % 7 else None)
        for _ in range(3):
            due = date(2026, 11, 23) + rng.choice([-20, -1, 0, 5, 5, 30]) * DAY
            promise = _promise(session, account, owner, f"Promise {i}", due)
            closing = rng.random()
            if closing < 0.5:
                continue
            stored = session.get(Promise, promise)
            assert stored is not None
            at = END - DAY * rng.choice([1, 1, 3, 30]) - timedelta(hours=i % 2)
            if closing < 0.6:
                promises.keep_occurrence(
                    session=session, promise=stored, next_due=due, note=None, actor=owner, at=at
                )
            else:
                status = rng.choice([PromiseStatus.KEPT, PromiseStatus.BROKEN])
                promises.close(
                    session=session, promise=stored, status=status, note=None, actor=owner, at=at
                )
    session.flush()
    return [o.id for o in owners if o.id is not None]


def test_agendas_composed_in_one_sweep_are_the_ones_read_alone(session: Session) -> None:
    """A sweep's agendas share what they read: every one is the agenda read for it alone, item
    for item and in order, in English and Japanese."""
    owners = _crowded_world(session, random.Random(11))
    nobody = max(owners) + 100  # owns no account
    teams = [(owners[0],), (owners[0], owners[1]), (owners[1], owners[3], owners[5]), (nobody,)]
    teams += [(owners[2], nobody), tuple(owners), ()]
    shared = SharedReadings()
    for team in teams:
        scope = AgendaScope(end=END, silence_days=SILENCE, owners=team or None)
        for locale in ("en", "ja"):
            own = compose(session, Translator(locale, TOKYO), scope)
            assert compose(session, Translator(locale, TOKYO), scope, shared) == own, team


def test_a_sweep_reads_each_question_once(session: Session) -> None:
    owners = _crowded_world(session, random.Random(12))
    team = (owners[0], owners[1])
    shared = SharedReadings()
    ran = statements(session)
    asked = []
    for _ in range(3):  # three channels that follow the same team at the same slot
        before = len(ran)
        compose(session, Translator("en", TOKYO), AgendaScope(END, SILENCE, team), shared)
        asked.append(len(ran) - before)
    assert asked[0] > 0 and asked[1:] == [0, 0], asked
    before = len(ran)
    compose(session, Translator("en", TOKYO), AgendaScope(END, SILENCE, (owners[2],)), shared)
    assert len(ran) - before == asked[0]  # another team asks its own questions
