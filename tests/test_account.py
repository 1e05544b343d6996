"""`/account`: the card, your accounts, and owner / stage / renewal changes, through signed Slack
requests into the real Bolt app (replies read off the fake Slack), the parser, and the shell."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from bot.runtime import Runtime
from commands.account import (
    ChangeOwner,
    ChangeRenewal,
    ChangeStage,
    ListMine,
    Problem,
    ShowCard,
    parse,
)
from storage import handoffs
from storage.accounts import Account, Stage
from storage.audit import AuditEntry, record
from storage.handoffs import Contact, Handoff, HandoffMessage
from storage.people import Person, Role
from storage.promises import Promise
from storage.touches import Touch
from testkit.signing import block_actions_body, slash_command_body, view_submission_body
from tests.conftest import NOW, ShellSession, SlackServer
from tests.factories import make_account, make_person

TODAY = date(2026, 11, 23)


# ---- helpers --------------------------------------------------------------------------------


async def account_command(server: SlackServer, text: str, user_id: str) -> dict[str, Any]:
    url = server.slack.new_response_url()
    response = await server.post(slash_command_body("/account", text, user_id, response_url=url))
    assert response.status_code == 200, response.text
    return await server.reply_to(url)


def shown(reply: dict[str, Any]) -> str:
    """Every text a person sees in the reply: headers, sections, their fields, buttons."""
    parts: list[str] = []
    for block in reply.get("blocks") or []:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"]["text"])
        parts.extend(f["text"] for f in block.get("fields") or [])
        parts.extend(e["text"]["text"] for e in block.get("elements") or [] if "text" in e)
    return "\n".join(parts)


def person(session: Session, user_id: str, name: str, role: Role | None) -> Person:
    return make_person(session, user_id=user_id, name=name, role=role)


def company(session: Session, name: str, **values: Any) -> Account:
    return make_account(session, name=name, at=NOW, **values)


def seed(engine: Engine) -> dict[str, int]:
    """kenji (sales) sold 株式会社ACME to aiko (CS); sara is support; ben is CS on nothing."""
    with Session(engine) as session:
        kenji = person(session, "USALES", "kenji", Role.SALES)
        aiko = person(session, "UCS", "aiko", Role.CS)
        person(session, "UCS2", "ben", Role.CS)
        person(session, "USUPPORT", "sara", Role.SUPPORT)
        acme = company(
            session,
            "株式会社ACME",
            external_id="CRM-001",
            sales_owner_id=kenji.id,
            cs_owner_id=aiko.id,
            touch_model="high",
            plan="Enterprise",
            arr=Decimal(1_200_000),
            currency="JPY",
            contract_start=date(2026, 11, 1),
            renewal_date=date(2027, 11, 1),
            stage="onboarding",
        )
        ids = {"acme": acme.id or 0, "kenji": kenji.id or 0, "aiko": aiko.id or 0}
        session.commit()
        return ids


def account_row(engine: Engine, account_id: int) -> Account:
    with Session(engine) as session:
        found = session.get(Account, account_id)
        assert found is not None
        return found


def account_audit(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """The audit trail's account entries (refusals are recorded too, as `permission`)."""
    with Session(engine) as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.entity == "account").order_by(col(AuditEntry.id))
        ).all()
        return [(e.action, e.changes) for e in entries]


def refusals(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        query = select(AuditEntry).where(AuditEntry.entity == "permission")
        return [e.changes for e in session.exec(query.order_by(col(AuditEntry.id))).all()]


# ---- the parser -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ListMine()),
        ("   ", ListMine()),
        ("help", Problem("account.usage")),
        ("ACME", ShowCard("ACME")),
        ("Globex Inc.", ShowCard("Globex Inc.")),
        ("ACME owner \ue000UCS\ue001", ChangeOwner("ACME", "UCS")),
        ("ACME 担当 \ue000UCS\ue001", ChangeOwner("ACME", "UCS")),
        ("ACME owner aiko", Problem("account.owner.need_mention", "aiko")),
        ("ACME owner <!channel>", Problem("account.owner.need_mention", "<!channel>")),
        ("ACME owner", Problem("account.owner.usage")),
        ("ACME stage active", ChangeStage("ACME", Stage.ACTIVE)),
        ("ACME STAGE At Risk", ChangeStage("ACME", Stage.AT_RISK)),
        ("ACME stage at-risk", ChangeStage("ACME", Stage.AT_RISK)),
        ("ACME stage リスクあり", ChangeStage("ACME", Stage.AT_RISK)),
        ("ACME ステージ 解約", ChangeStage("ACME", Stage.CHURNED)),
        ("ＡＣＭＥ　ｓｔａｇｅ　ａｃｔｉｖｅ", ChangeStage("ACME", Stage.ACTIVE)),
        ("ACME stage overlord", Problem("account.stage.unknown", "overlord")),
        ("ACME stage 🎉", Problem("account.stage.unknown", "🎉")),
        ("Stage Inc. stage renewed", ChangeStage("Stage Inc.", Stage.RENEWED)),
        ("ACME renewal 2027-04-01", ChangeRenewal("ACME", date(2027, 4, 1))),
        ("ACME renewal 2027/4/1", ChangeRenewal("ACME", date(2027, 4, 1))),
        ("ACME 更新日 ２０２７－０４－０１", ChangeRenewal("ACME", date(2027, 4, 1))),
        ("ACME renewal 2027年4月1日", ChangeRenewal("ACME", date(2027, 4, 1))),
        ("ACME renewal Apr 1", ChangeRenewal("ACME", date(2027, 4, 1))),
        (
            "ACME renewal 2027-02-30",
            Problem("date.impossible", "2027-02-30", {"value": "2027-02-30"}),
        ),
        ("ACME renewal next year", Problem("account.renewal.bad_date", "next year")),
        (
            "ACME renewal 4/1",
            Problem(
                "date.ambiguous", "4/1", {"value": "4/1", "choices": "`2027-04-01` / `2027-01-04`"}
            ),
        ),
        ("ACME renewal", Problem("account.renewal.usage")),
        ("AC\x00ME\x07", ShowCard("ACME")),
        ("x" * 10_000, Problem("account.name_too_long")),
        ("x" * 10_000 + " stage active", Problem("account.name_too_long")),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse(text, today=TODAY) == expected


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_the_parser_never_raises(text: str) -> None:
    assert isinstance(
        parse(text, today=TODAY),
        ListMine | ShowCard | ChangeOwner | ChangeStage | ChangeRenewal | Problem,
    )


# ---- the card -------------------------------------------------------------------------------


async def test_the_card_shows_the_account_at_a_glance(
    server: SlackServer, engine: Engine, runtime: Runtime
) -> None:
    ids = seed(engine)
    with Session(engine) as session:
        kenji, aiko = session.get(Person, ids["kenji"]), session.get(Person, ids["aiko"])
        assert kenji is not None and aiko is not None

        def promise(text: str, due: date | None, **extra: Any) -> None:
            session.add(
                Promise(
                    account_id=ids["acme"],
                    text=text,
                    due_date=due,
                    owner_id=aiko.id,
                    promised_by_id=kenji.id,
                    created_at=NOW,
                    **extra,
                )
            )

        promise("Monthly report", TODAY + timedelta(days=5), recurrence="month")
        promise("Training <!channel>", TODAY - timedelta(days=3))
        promise("No date yet", None)
        promise("Already kept", TODAY - timedelta(days=9), status="kept")
        session.add(
            Touch(
                account_id=ids["acme"],
                person_id=aiko.id,
                channel="call",
                note="Kickoff call",
                at=NOW - timedelta(days=2),
            )
        )
        session.add(
            Touch(
                account_id=ids["acme"],
                person_id=kenji.id,
                channel="email",
                note="older",
                at=NOW - timedelta(days=20),
            )
        )
        handoff = handoffs.Handoff(
            account_id=ids["acme"],
            sales_rep_id=kenji.id or 0,
            cs_owner_id=aiko.id or 0,
            goals="Cut onboarding to 2 weeks",
            problems="Legacy CSV exports",
            risks="Champion may leave",
            created_at=NOW - timedelta(days=3),
        )
        session.add(handoff)
        session.flush()
        session.add(
            Contact(
                account_id=ids["acme"],
                handoff_id=handoff.id,
                name="Tanaka",
                role="CTO",
                email="tanaka@acme.example",
            )
        )
        session.add(
            HandoffMessage(
                handoff_id=handoff.id or 0,
                author_id=aiko.id or 0,
                kind="question",
                text="Who signs off?",
                at=NOW - timedelta(1),
            )
        )
        support = session.exec(select(Person).where(Person.user_id == "USUPPORT")).one()
        session.add(
            HandoffMessage(
                handoff_id=handoff.id or 0,
                author_id=support.id or 0,
                kind="question",
                text="Which SSO?",
                at=NOW - timedelta(2),
            )
        )
        session.add(
            HandoffMessage(
                handoff_id=handoff.id or 0,
                author_id=kenji.id or 0,
                kind="answer",
                text="The CTO",
                at=NOW - timedelta(hours=5),
            )
        )
        record(
            session=session,
            actor=kenji,
            at=NOW - timedelta(hours=1),
            entity="account",
            entity_id=ids["acme"],
            action="stage",
            changes={"stage": ["active", "at_risk"]},
        )
        session.commit()

    reply = await account_command(server, "acme", "USALES")
    text = shown(reply)  # kenji reads English
    assert reply["response_type"] == "ephemeral"
    assert reply["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "株式会社ACME"},
    }
    for expected in (
        "*Stage*\nOnboarding",
        "*Touch model*\nHigh touch",
        "*CS owner*\n<@UCS>",
        "*Sales owner*\n<@USALES>",
        "*Plan*\nEnterprise",
        "¥1,200,000",
        "Nov 1, 2026",
        "Nov 1, 2027 (343 days left)",
        "CRM-001",
        "*Last touch:* Nov 21, 2026 10:00 AM · <@UCS> · call\nKickoff call",
        "*Open promises* (3, 1 overdue)",
        "*Handoff* `H-1` from <@USALES> to <@UCS>: pending since",
        "Cut onboarding to 2 weeks",
        "Legacy CSV exports",
        "Champion may leave",
        "Tanaka · CTO · tanaka@acme.example",
        "*Latest changes*",
        "<@USALES> · changed: stage: active → at risk",
    ):
        assert expected in text, expected
    # Overdue first and marked, then by due date, undated last; closed promises are not shown.
    promises = text[text.index("*Open promises*") : text.index("*Handoff*")]
    assert (
        promises.index("*overdue* `P-2` Training &lt;!channel&gt;")
        < promises.index("Monthly report")
        < promises.index("No date yet")
    )
    assert "Already kept" not in text and "<!channel>" not in text
    assert "(every month)" in promises
    # The thread, newest first.
    assert text.index("A · <@USALES>") < text.index("Q · <@UCS>") < text.index("Q · <@USUPPORT>")
    buttons = reply["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Log touch", "Add promise"]
    assert {b["value"] for b in buttons} == {str(ids["acme"])}
    assert server.slack.rejections == []
    # The people the card names are read together: three more authors in the thread, in none
    # of the other roles, cost the card no more statements.
    statements = count_statements(engine, lambda: runtime.run_command("USALES", "account", "acme"))
    with Session(engine) as session:
        thread = session.exec(select(Handoff)).one().id or 0
        for n in range(3):
            author = make_person(session, user_id=f"UASK{n}", role=Role.SUPPORT)
            session.add(
                HandoffMessage(handoff_id=thread, author_id=author.id or 0, kind="question",
                               text=f"Question {n}", at=NOW - timedelta(minutes=n))
            )  # fmt: skip
        session.commit()
    assert count_statements(engine, lambda: runtime.run_command("USALES", "account", "acme")) == (
        statements
    )
    assert "Q · <@UASK0>" in shown(await account_command(server, "acme", "USALES"))


def count_statements(engine: Engine, work: Callable[[], object]) -> int:
    """How many statements `work` runs on the database in this thread (the server's own
    background work runs in others)."""
    here, ran = threading.get_ident(), [0]

    def statement(*_args: Any) -> None:
        ran[0] += threading.get_ident() == here

    event.listen(engine, "before_cursor_execute", statement)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", statement)
    return ran[0]


async def test_the_card_speaks_japanese_to_a_japanese_locale(
    server: SlackServer, engine: Engine
) -> None:
    seed(engine)
    text = shown(await account_command(server, "CRM-001", "UCS"))
    for expected in (
        "*ステージ*\nオンボーディング",
        "ハイタッチ",
        "¥1,200,000",
        "2027年11月1日(あと343日)",
        "*最終接触:* まだ記録がありません。",
        "*未完了の約束*(0件、期限超過 0件)",
        "*引き継ぎ:* 記録はありません。",
    ):
        assert expected in text, expected


async def test_a_long_history_stays_within_block_kit_limits(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    with Session(engine) as session:
        long = "長い約束の本文 <@U0001> " * 100
        session.add_all(
            Promise(
                account_id=ids["acme"],
                text=f"{i} {long}",
                owner_id=ids["aiko"],
                due_date=TODAY + timedelta(days=i - 250),
                created_at=NOW,
            )
            for i in range(500)
        )
        session.add_all(
            Touch(
                account_id=ids["acme"],
                person_id=ids["aiko"],
                note="x" * 5000,
                at=NOW - timedelta(minutes=i),
            )
            for i in range(2000)
        )
        session.flush()
        handoff = Handoff(
            account_id=ids["acme"],
            sales_rep_id=ids["kenji"],
            cs_owner_id=ids["aiko"],
            goals="g" * 10_000,
            problems="p" * 10_000,
            risks="r" * 10_000,
            created_at=NOW,
        )
        session.add(handoff)
        session.flush()
        session.add_all(
            Contact(
                account_id=ids["acme"],
                handoff_id=handoff.id,
                name="n" * 200,
                role="r" * 200,
                email="e" * 300,
            )
            for _ in range(40)
        )
        session.add_all(
            HandoffMessage(
                handoff_id=handoff.id or 0,
                author_id=ids["aiko"],
                kind="question",
                text="q" * 5000,
                at=NOW,
            )
            for _ in range(60)
        )
        for _ in range(300):
            record(
                session=session,
                actor=None,
                at=NOW,
                entity="account",
                entity_id=ids["acme"],
                action="update",
                changes={"name": ["a" * 3000, "b" * 3000]},
                note="n" * 999,
            )
        session.commit()

    reply = await account_command(server, "ACME", "USALES")
    assert server.slack.rejections == []
    assert len(reply["blocks"]) <= 50
    text = shown(reply)
    assert "*Open promises* (500, 250 overdue)" in text
    # Each list shows what fits, newest or most urgent first, and counts the rest.
    for title, total in (
        ("*Open promises*", 500),
        ("*Key contacts*", 40),
        ("*Questions and answers*", 60),
        ("*Latest changes*", 300),
    ):
        section = next(
            b["text"]["text"]
            for b in reply["blocks"]
            if b["type"] == "section" and b.get("text", {}).get("text", "").startswith(title)
        )
        lines = section.splitlines()
        shown_items = len(lines) - 2  # the title and "and N more"
        assert shown_items >= 1, title
        assert lines[-1] == f"…and {total - shown_items} more", title
    assert text.index("`P-1` 0 長い") < text.index("`P-2` 1 長い")  # overdue: oldest first


async def test_an_account_without_anything_yet(server: SlackServer, engine: Engine) -> None:
    with Session(engine) as session:
        company(session, "Bare Co")
        session.commit()
    text = shown(await account_command(server, "bare", "USALES"))
    for expected in (
        "*Stage*\nOnboarding",
        "*CS owner*\n—",
        "*Contract value (per year)*\n—",
        "*Renewal*\n—",
        "No open promises.",
        "No changes recorded yet.",
    ):
        assert expected in text
    assert server.slack.rejections == []


async def test_lookups_that_do_not_find_one_account(server: SlackServer, engine: Engine) -> None:
    seed(engine)
    with Session(engine) as session:
        company(session, "ACME Inc.")
        session.commit()
    several = shown(await account_command(server, "acme stage churned", "USALES"))
    assert "株式会社ACME" in several and "ACME Inc." in several
    nothing = shown(await account_command(server, "<!channel>", "USALES"))
    assert "<!channel>" not in nothing and "&lt;!channel&gt;" in nothing
    dropped = shown(await account_command(server, "'; DROP TABLE accounts; --", "USALES"))
    assert "DROP TABLE" in dropped  # quoted back as text, nothing run
    with Session(engine) as session:
        stages = session.exec(select(Account.stage)).all()
    assert set(stages) == {"onboarding"}
    assert server.slack.rejections == []


async def test_bad_input_says_what_was_wrong(server: SlackServer, engine: Engine) -> None:
    seed(engine)
    cases = {
        "help": "Usage: `/account ACCOUNT`",
        "ACME stage overlord": "“overlord” is not a stage",
        "ACME renewal someday": "“someday” is not a date",
        "ACME owner aiko": "Pick the new CS owner with @",
        "ACME owner": "Say who the new CS owner is",
        "x" * 10_000: "longer than 200 characters",
        "ACME stage <@U0001> 🎉": "“@U0001 🎉” is not a stage",  # a mention quoted as text
        "ACME stage " + "y" * 10_000: "“" + "y" * 79 + "…” is not a stage",
    }
    for text, expected in cases.items():
        assert expected in shown(await account_command(server, text, "USALES")), text[:40]
    assert account_row(engine, 1).stage == "onboarding"
    assert server.slack.rejections == []


# ---- changes --------------------------------------------------------------------------------


async def test_a_manager_reassigns_the_cs_owner_and_open_promises_follow(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    with Session(engine) as session:
        session.add(
            Promise(account_id=ids["acme"], text="Open", owner_id=ids["aiko"], created_at=NOW)
        )
        session.add(
            Promise(
                account_id=ids["acme"],
                text="Done",
                owner_id=ids["aiko"],
                status="kept",
                created_at=NOW,
            )
        )
        session.commit()
    reply = await account_command(server, "ACME owner <@UCS2|ben>", "UMANAGER")
    assert "<@UCS2>" in shown(reply) and "CS 担当" in shown(reply)  # mika reads Japanese
    with Session(engine) as session:
        acme = session.get(Account, ids["acme"])
        ben = session.exec(select(Person).where(Person.user_id == "UCS2")).one()
        assert acme is not None and acme.cs_owner_id == ben.id
        owners = dict(session.exec(select(Promise.text, Promise.owner_id)).all())
        assert owners == {"Open": ben.id, "Done": ids["aiko"]}
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "owner")).one()
        assert entry.changes == {"cs_owner": ["UCS", "UCS2"], "promises_moved": 1}
        actor = session.get(Person, entry.actor_id)
        assert actor is not None and actor.user_id == "UMANAGER"
    card = shown(await account_command(server, "ACME", "USALES"))
    assert "<@UMANAGER> · changed: CS owner: <@UCS> → <@UCS2>, open promises moved: 1" in card


async def test_only_managers_reassign_and_a_refusal_changes_nothing(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    for user in ("USALES", "UCS", "USUPPORT"):
        text = shown(await account_command(server, "ACME owner <@UCS2|ben>", user))
        assert "change an account's CS owner" in text or "CS 担当を変更できるのは" in text
        assert "<@UMANAGER>" in text
    assert account_row(engine, ids["acme"]).cs_owner_id == ids["aiko"]
    assert account_audit(engine) == []
    about = {"permission": "reassign_cs_owner", "about": f"account:{ids['acme']}"}
    assert refusals(engine) == [about] * 3


async def test_owner_must_be_a_person_other_than_the_sales_owner(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    await account_command(server, "role <@UCS2|ben> manager", "UMANAGER")
    cases = {
        "ACME owner <@UBOTUSER|bot>": "is a bot",
        "ACME owner <@UNOBODY|x>": "can't find <@UNOBODY>",
        "ACME owner <@USALES|kenji>": "is this account's sales owner",
        "ACME owner <@UCS|aiko>": "already the CS owner",
    }
    with Session(engine) as session:
        person(session, "UCS2", "ben", Role.MANAGER)
        session.commit()
    for text, expected in cases.items():
        assert expected in shown(await account_command(server, text, "UCS2")), text
    assert account_row(engine, ids["acme"]).cs_owner_id == ids["aiko"]


async def test_owners_change_stage_and_renewal_and_it_is_audited(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    stage = shown(await account_command(server, "ACME stage at_risk", "USALES"))
    assert stage == "*株式会社ACME* is now at stage *at risk* (was onboarding)."
    renewal = shown(await account_command(server, "CRM-001 renewal 2027-12-01", "UCS"))
    assert (
        renewal == "*株式会社ACME* の更新日を 2027年12月1日 に変更しました(以前は 2027年11月1日)。"
    )
    again = shown(await account_command(server, "ACME stage リスクあり", "USALES"))
    assert "already at stage *at risk*" in again
    acme = account_row(engine, ids["acme"])
    assert (acme.stage, acme.renewal_date) == ("at_risk", date(2027, 12, 1))
    assert acme.updated_at == NOW
    with Session(engine) as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.entity == "account").order_by(col(AuditEntry.id))
        ).all()
        assert [(e.action, e.changes) for e in entries] == [
            ("stage", {"stage": ["onboarding", "at_risk"]}),
            ("renewal", {"renewal_date": ["2027-11-01", "2027-12-01"]}),
        ]


async def test_others_may_not_change_stage_or_renewal(server: SlackServer, engine: Engine) -> None:
    ids = seed(engine)
    text = shown(await account_command(server, "ACME stage churned", "USUPPORT"))
    assert text.startswith("Only the account's CS owner, its sales owner or a manager")
    assert "<@UCS>" in text and "<@USALES>" in text and "<@UMANAGER>" in text
    text = shown(await account_command(server, "ACME renewal 2028-01-01", "UCS2"))
    assert "Only the account's CS owner" in text
    manager = shown(await account_command(server, "ACME stage active", "UMANAGER"))
    assert "アクティブ" in manager
    acme = account_row(engine, ids["acme"])
    assert (acme.stage, acme.renewal_date) == ("active", date(2027, 11, 1))
    assert account_audit(engine) == [("stage", {"stage": ["onboarding", "active"]})]
    assert [r["permission"] for r in refusals(engine)] == ["change_account"] * 2


async def test_renewal_must_follow_the_contract_start(server: SlackServer, engine: Engine) -> None:
    ids = seed(engine)
    text = shown(await account_command(server, "ACME renewal 2026-11-01", "USALES"))
    assert text == (
        "The renewal date Nov 1, 2026 must be after the contract start, Nov 1, 2026; "
        "nothing changed."
    )
    assert account_row(engine, ids["acme"]).renewal_date == date(2027, 11, 1)


# ---- the buttons ----------------------------------------------------------------------------


async def press(server: SlackServer, user_id: str, action_id: str, value: str) -> None:
    body = block_actions_body(
        user_id, action_id, value, response_url=server.slack.new_response_url()
    )
    response = await server.post(body)
    assert response.status_code == 200, response.text


async def test_log_touch_opens_the_touch_form_and_the_card_shows_it(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    card = await account_command(server, "ACME", "UCS2")
    log_touch = card["blocks"][-1]["elements"][0]
    await press(server, "UCS2", log_touch["action_id"], log_touch["value"])
    view = (await server.slack.await_for("views.open"))[0]["view"]
    assert view["callback_id"] == "touch.log"
    assert "株式会社ACME" in view["blocks"][0]["text"]["text"]  # for this account: not asked
    assert {b["block_id"] for b in view["blocks"][1:]} == {"channel", "note"}
    values = {
        "channel": {"value": {"type": "static_select", "selected_option": {"value": "meeting"}}},
        "note": {"value": {"type": "plain_text_input", "value": "QBR <!here>"}},
    }
    body = view_submission_body("UCS2", "touch.log", values, view["private_metadata"])
    assert (await server.post(body)).status_code == 200
    await server.slack.await_for("chat.postEphemeral")
    text = shown(await account_command(server, "ACME", "UCS2"))
    assert "· <@UCS2> · meeting\nQBR &lt;!here&gt;" in text
    with Session(engine) as session:
        assert session.exec(select(Touch.account_id)).all() == [ids["acme"]]
    assert server.slack.rejections == []


async def test_add_promise_opens_the_promise_form_for_the_account(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    await press(server, "USUPPORT", "account.add_promise", str(ids["acme"]))
    view = (await server.slack.await_for("views.open"))[0]["view"]
    assert view["callback_id"] == "promise.add"
    assert "account" not in {b.get("block_id") for b in view["blocks"]}
    assert server.slack.rejections == []


async def test_a_button_for_an_account_that_is_gone(server: SlackServer, engine: Engine) -> None:
    seed(engine)
    for value in ("999", "9" * 5000, "-1", "１", "", "'; DROP TABLE accounts; --"):
        url = server.slack.new_response_url()
        body = block_actions_body("UCS", "account.log_touch", value, response_url=url)
        assert (await server.post(body)).status_code == 200
        assert "もう存在しません" in shown(await server.reply_to(url)), value[:20]
    assert server.slack.calls_to("views.open") == []


# ---- your accounts --------------------------------------------------------------------------


async def test_account_alone_lists_the_accounts_you_own(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    with Session(engine) as session:
        session.add(
            Promise(
                account_id=ids["acme"],
                text="late",
                owner_id=ids["aiko"],
                due_date=TODAY - timedelta(days=1),
                created_at=NOW,
            )
        )
        session.add(
            Touch(
                account_id=ids["acme"], person_id=ids["aiko"], note="hi", at=NOW - timedelta(days=1)
            )
        )
        company(session, "Not mine")
        session.commit()
    text = shown(await account_command(server, "", "USALES"))
    assert text.startswith("*Your accounts* (1)")
    assert (
        "*株式会社ACME* · onboarding · renewal Nov 1, 2027 (343 days left) · "
        "1 open promise (1 overdue) · last touch Nov 22, 2026"
    ) in text
    assert "Not mine" not in text
    nothing = shown(await account_command(server, "", "UCS2"))
    assert nothing.startswith("You own no accounts yet.")


async def test_three_hundred_accounts_stay_within_limits(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    with Session(engine) as session:
        for i in range(300):
            company(
                session,
                f"Customer {i:03} " + "名" * 150,
                cs_owner_id=ids["aiko"],
                renewal_date=TODAY + timedelta(days=i),
            )
        session.commit()
    reply = await account_command(server, "", "UCS")
    assert server.slack.rejections == []
    text = shown(reply)
    assert "*担当アカウント*(301件)" in text and "…ほか 261件" in text
    assert text.index("Customer 000") < text.index("Customer 001")


# ---- the shell ------------------------------------------------------------------------------


def test_the_card_and_changes_in_the_shell(shell: ShellSession) -> None:
    out = shell.run(
        ":as ben",
        "/account Globex",
        "/account Globex stage renewed",
        "/account",
        ":as sara",
        "/account Globex stage churned",
    )
    assert "== Globex Inc. ==" in out
    assert re.search(r"\[\d+\] Log touch  \[\d+\] Add promise", out)
    assert "*Globex Inc.* is now at stage *renewed* (was active)." in out
    assert "*Your accounts* (" in out and "*Globex Inc.* · renewed · renewal" in out
    assert "Only the account's CS owner, its sales owner or a manager" in out


def test_the_demo_company_card_in_the_shell(shell: ShellSession) -> None:
    """The demo's ACME: an accepted handoff with a question and its answer, promises (one
    overdue), a touch, and the audit trail; さくら商事 was marked at risk by aiko."""
    out = shell.run(":as sara", "/account CRM-001", "/account CRM-003")
    card = out[out.index("== 株式会社ACME ==") : out.index("» /account CRM-003")]
    assert "accepted by @aiko" in card and "田中 由紀 · CTO" in card
    assert card.index("A · @kenji") < card.index("Q · @aiko")  # newest first
    assert ":warning: *overdue* `P-" in card and "*Last touch:*" in card
    assert "`H-1` accepted: status: pending → accepted" in card
    assert "@aiko · changed: stage: active → at risk" in out[out.index("» /account CRM-003") :]


def test_the_latest_changes_speak_the_readers_words_not_stored_values(
    shell: ShellSession,
) -> None:
    japanese = shell.run(":as aiko", "/account Globex")
    changes = japanese[japanese.index("*最近の変更*") :]
    assert "状態: 未完了 → 不履行" in changes and "繰り返し: 毎週" in changes
    assert not re.search(r"期限: [0-9]{4}-", changes), changes
    english = shell.run(":as ben", "/account Globex")
    changes = english[english.index("*Latest changes*") :]
    assert "repeats: every week" in changes and re.search(r"due: [A-Z][a-z]{2} [0-9]", changes)
    assert "*Stage*\nActive" in english and "*Touch model*\nLow touch" in english
