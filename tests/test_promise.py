"""`/promise`: record, list and close promises, through the parser, signed Slack requests into the
real Bolt app (replies read off the fake Slack), and the shell."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from commands.context import FixedClock
from commands.promise import (
    AddPromise,
    ClosePromise,
    ListPromises,
    OpenForm,
    Problem,
    ShowHelp,
    parse,
)
from commands.promise_close import Verdict
from commands.promise_grammar import PromiseLine
from storage.audit import AuditEntry
from storage.people import Person, Role
from storage.promises import Promise, Recurrence
from testkit.signing import slash_command_body, view_submission_body
from tests.conftest import NOW, ShellSession, SlackServer
from tests.factories import make_account, make_person, make_promise

TODAY = date(2026, 11, 23)
WEEK, MONTH = Recurrence.WEEK, Recurrence.MONTH


# ---- the parser -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", OpenForm()),
        ("  \x00 ", OpenForm()),
        ("help", ShowHelp()),
        (
            "ACME: Workshop by 2026-12-15",
            AddPromise("ACME", PromiseLine("Workshop", date(2026, 12, 15))),
        ),
        (
            "株式会社ACME：月次レポート 毎月",
            AddPromise("株式会社ACME", PromiseLine("月次レポート", None, MONTH)),
        ),
        (
            "Globex Inc.: Sync every week by 2026-12-01",
            AddPromise("Globex Inc.", PromiseLine("Sync", date(2026, 12, 1), WEEK)),
        ),
        ("List Corp: Training", AddPromise("List Corp", PromiseLine("Training"))),
        ("ACME: note: with colons", AddPromise("ACME", PromiseLine("note: with colons"))),
        ("list", ListPromises()),
        ("LIST acme", ListPromises(account="acme")),
        ("list overdue", ListPromises(overdue=True)),
        ("一覧 期限切れ", ListPromises(overdue=True)),
        ("list \ue000UCS\ue001", ListPromises(user_id="UCS")),
        ("list @aiko", Problem("promise.list.need_mention", {"value": "@aiko"})),
        ("list <!channel>", Problem("promise.list.need_mention", {"value": "<!channel>"})),
        ("kept P-12", ClosePromise(12, Verdict.KEPT, None)),
        ("kept p12 delivered on site", ClosePromise(12, Verdict.KEPT, "delivered on site")),
        ("ｋｅｐｔ　Ｐ－１２", ClosePromise(12, Verdict.KEPT, None)),
        ("broken P-3 trainer ill", ClosePromise(3, Verdict.BROKEN, "trainer ill")),
        ("守った P-12", ClosePromise(12, Verdict.KEPT, None)),
        ("守れなかった　Ｐ－３　講師が急病", ClosePromise(3, Verdict.BROKEN, "講師が急病")),
        ("免除 #3 不要になった", ClosePromise(3, Verdict.WAIVE, "不要になった")),
        ("不履行 P-3", Problem("promise.close.need_note", {"verb": "broken"})),
        ("履行 P-7", ClosePromise(7, Verdict.KEPT, None)),
        ("取り下げ P-7 先方と合意", ClosePromise(7, Verdict.WAIVE, "先方と合意")),
        (
            "waive #3 customer: no longer needed",
            ClosePromise(3, Verdict.WAIVE, "customer: no longer needed"),
        ),
        ("broken P-3", Problem("promise.close.need_note", {"verb": "broken"})),
        ("waive P-3   ", Problem("promise.close.need_note", {"verb": "waive"})),
        ("kept", Problem("promise.close.need_number", {"verb": "kept"})),
        ("kept P-abc", Problem("promise.close.need_number", {"verb": "kept"})),
        ("kept P-99999999999999999999", Problem("promise.close.need_number", {"verb": "kept"})),
        ("broken P-3 " + "x" * 10_000, Problem("promise.close.note_too_long", {"limit": "1000"})),
        ("ACME Workshop by 2026-12-15", Problem("promise.need_colon", {})),
        (": Workshop", Problem("lookup.missing", {})),
        ("ACME:", Problem("promise_line.empty", {})),
        ("ACME: by 2026-12-15", Problem("promise_line.no_text", {})),
        ("ACME: Workshop by 2026-02-30", Problem("date.impossible", {"value": "2026-02-30"})),
        (
            "ACME: Workshop by 2026-11-01",
            Problem("promise_line.past_date", {"value": "2026-11-01"}),
        ),
        ("ACME: " + "x" * 10_000, Problem("promise_line.too_long", {"limit": "500"})),
        ("x" * 10_000 + ": Workshop", Problem("promise.account_too_long", {"limit": "200"})),
        ("'; DROP TABLE promises; --", Problem("promise.need_colon", {})),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert parse(text, today=TODAY) == expected


# ---- helpers ----------------------------------------------------------------------------------


async def promise_command(server: SlackServer, text: str, user_id: str) -> str:
    url = server.slack.new_response_url()
    response = await server.post(slash_command_body("/promise", text, user_id, response_url=url))
    assert response.status_code == 200, response.text
    reply = await server.reply_to(url)
    assert reply["response_type"] == "ephemeral"
    return shown(reply)


def shown(reply: dict[str, Any]) -> str:
    parts: list[str] = []
    for block in reply.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts.extend(e["text"] for e in block.get("elements") or [] if "text" in e)
    return "\n".join(parts)


def person(session: Session, user_id: str, name: str, role: Role | None) -> Person:
    return make_person(session, user_id=user_id, name=name, role=role)


def seed(engine: Engine) -> dict[str, int]:
    """kenji (sales) sold 株式会社ACME to aiko (CS) and Globex to ben (CS); two Hooli companies
    fold to the same name."""
    with Session(engine) as session:
        kenji = person(session, "USALES", "kenji", Role.SALES)
        aiko = person(session, "UCS", "aiko", Role.CS)
        ben = person(session, "UCS2", "ben", Role.CS)
        ids = {"kenji": kenji.id or 0, "aiko": aiko.id or 0, "ben": ben.id or 0}
        for key, name, crm, cs in [
            ("acme", "株式会社ACME", "CRM-001", aiko),
            ("globex", "Globex Inc.", "CRM-002", ben),
            ("hooli1", "Hooli Inc.", "CRM-020", ben),
            ("hooli2", "Hooli LLC", "CRM-021", ben),
        ]:
            row = make_account(session, name=name, at=NOW, external_id=crm,
                               sales_owner_id=kenji.id, cs_owner_id=cs.id)  # fmt: skip
            ids[key] = row.id or 0
        session.commit()
        return ids


def add(engine: Engine, account_id: int, text: str, due: date | None, owner: int, by: int,
        **extra: Any) -> int:  # fmt: skip
    with Session(engine) as session:
        row = make_promise(session, account_id=account_id, text=text, at=NOW, due=due,
                           owner_id=owner, promised_by_id=by, **extra)  # fmt: skip
        session.commit()
        return row.id or 0


def promise_row(engine: Engine, promise_id: int) -> Promise:
    with Session(engine) as session:
        found = session.get(Promise, promise_id)
        assert found is not None
        return found


def snapshot(engine: Engine) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    with Session(engine) as session:
        rows = session.exec(select(Promise).order_by(col(Promise.id))).all()
        refused = col(AuditEntry.action) == "refused"  # refusals are recorded, nothing else
        audits = session.exec(select(func.count()).select_from(AuditEntry).where(~refused)).one()
        return tuple(r.model_dump() for r in rows), audits


# ---- record -----------------------------------------------------------------------------------


async def test_a_promise_is_recorded_with_its_number_owner_and_audit(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    text = await promise_command(server, "acme: Monthly usage report by 2026-12-01 every month",
                                 "USALES")  # fmt: skip
    assert text == (
        "Recorded *P-1* for *株式会社ACME*: Monthly usage report (due Dec 1, 2026, every month). "
        "Kept by <@UCS>."
    )
    stored = promise_row(engine, 1)
    assert (stored.text, stored.due_date, stored.recurrence, stored.status) == (
        "Monthly usage report",
        date(2026, 12, 1),
        "month",
        "open",
    )
    assert (stored.owner_id, stored.promised_by_id, stored.source) == (
        ids["aiko"],
        ids["kenji"],
        "command",
    )
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.entity == "promise")).one()
    assert (entry.action, entry.actor_id, entry.at) == ("create", ids["kenji"], NOW)
    assert server.slack.rejections == []


async def test_replies_in_japanese_and_recurring_promises_get_a_first_due_date(
    server: SlackServer, engine: Engine
) -> None:
    seed(engine)
    text = await promise_command(server, "ＣＲＭ－００１：定例会 毎週", "UCS")
    assert text == (
        "*株式会社ACME* への約束 *P-1* を記録しました: 定例会(期限 2026年11月30日、毎週)。"
        "担当: <@UCS>"
    )
    assert promise_row(engine, 1).due_date == TODAY + timedelta(weeks=1)


async def test_dates_are_read_as_people_write_them_in_both_languages(
    server: SlackServer, engine: Engine
) -> None:
    """NOW is Monday 2026-11-23 10:00 in Tokyo; words like "Friday" count from there."""
    seed(engine)
    server.slack.add_user("UCS", name="aiko", tz="Asia/Tokyo", locale="ja-JP")
    written = {
        "acme: 導入研修 12月15日まで": ("導入研修", date(2026, 12, 15)),
        "acme: 定例資料 2026年12月20日まで": ("定例資料", date(2026, 12, 20)),
        "acme: Send report by Friday": ("Send report", date(2026, 11, 27)),
        "acme: Report by Dec 18": ("Report", date(2026, 12, 18)),
        "acme: Cut API errors by 20%": ("Cut API errors by 20%", None),
        "acme: Kickoff 明日まで": ("Kickoff", date(2026, 11, 24)),
        "acme: Review by 2026/12/18": ("Review", date(2026, 12, 18)),
        "acme: 振り返り 来週まで": ("振り返り", date(2026, 11, 30)),
    }
    for number, (typed, (text, due)) in enumerate(written.items(), 1):
        reply = await promise_command(server, typed, "UCS")
        assert f"*P-{number}*" in reply, (typed, reply)
        stored = promise_row(engine, number)
        assert (stored.text, stored.due_date) == (text, due), typed


async def test_relative_dates_count_from_the_day_where_the_person_is(
    server: SlackServer, engine: Engine
) -> None:
    """At NOW it is already Monday in Tokyo but still Sunday evening in Los Angeles."""
    seed(engine)
    server.slack.add_user("USALES", name="kenji", tz="America/Los_Angeles", locale="en-US")
    server.slack.add_user("UCS", name="aiko", tz="Asia/Tokyo", locale="ja-JP")
    await promise_command(server, "acme: Call back by tomorrow", "USALES")
    await promise_command(server, "acme: 折り返し連絡 明日まで", "UCS")
    assert promise_row(engine, 1).due_date == date(2026, 11, 23)
    assert promise_row(engine, 2).due_date == date(2026, 11, 24)


async def test_ambiguous_dates_are_asked_about_in_the_persons_language(
    server: SlackServer, engine: Engine
) -> None:
    seed(engine)
    before = snapshot(engine)
    server.slack.add_user("UCS", name="aiko", tz="Asia/Tokyo", locale="ja-JP")
    text = await promise_command(server, "acme: 研修 12/01まで", "UCS")
    assert "「12/01」は読む人によって別の日になります" in text
    assert "`2026-12-01` / `2027-01-12`" in text
    assert snapshot(engine) == before


async def test_bad_input_is_answered_and_nothing_is_stored(
    server: SlackServer, engine: Engine
) -> None:
    seed(engine)
    before = snapshot(engine)
    cases = {
        "Acme Workshop": "Put a colon after the account",
        "acme: Workshop by 2026-02-30": "“2026-02-30” is not a real date",
        "acme: Workshop by 12/18": "means different days to different readers; write `2026-12-18`",
        "acme: 研修 12/01まで": "“12/01” means different days",
        "acme: Workshop by 2026-11-01": "2026-11-01 is in the past",
        "acme: by 2026-12-01": "Say what was promised",
        "acme: " + "x" * 10_000: "at most 500 characters",
        "x" * 10_000: "Put a colon",
        "x" * 10_000 + ": y": "at most 200 characters",
        "hooli: Training": "Several accounts match “hooli”: *Hooli Inc.* (CRM-020), *Hooli LLC*",
        "acm: Training": "No account matches “acm”. Did you mean *株式会社ACME* (CRM-001)?",
        "<!channel>: Training": "No account matches “&lt;!channel&gt;”",
        "'; DROP TABLE promises; --: x": "No account matches “'; DROP TABLE promises; --”",
        "kept P-1": "There is no promise P-1",
        "broken P-1": "Add a note saying why",
        "kept Q": "Say which promise by its number",
        "frobnicate": "Put a colon",
        "help": "Usage:",
    }
    for typed, expected in cases.items():
        text = await promise_command(server, typed, "USALES")
        assert expected in text, (typed[:40], text)
    assert snapshot(engine) == before
    assert server.slack.rejections == []


async def test_typed_markup_is_shown_never_executed(server: SlackServer, engine: Engine) -> None:
    seed(engine)
    text = await promise_command(server, "acme: <!here> call <@U0001> & 🎉\x07 by 2026-12-01",
                                 "USALES")  # fmt: skip
    assert "&lt;!here&gt; call @U0001 &amp; 🎉" in text
    assert "<!here>" not in text and "<@U0001>" not in text
    # Stored as the neutral mention, whichever platform it was typed on.
    assert promise_row(engine, 1).text == "<!here> call \ue000U0001\ue001 & 🎉"


# ---- list -------------------------------------------------------------------------------------


async def test_lists_are_due_first_marked_overdue_and_narrowed(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    acme, globex, aiko, ben, kenji = (ids[k] for k in ("acme", "globex", "aiko", "ben", "kenji"))
    add(engine, acme, "Undated", None, aiko, kenji)
    add(engine, acme, "Late workshop", TODAY - timedelta(days=3), aiko, kenji)
    add(engine, globex, "Globex report", TODAY + timedelta(days=5), ben, ben)
    add(engine, acme, "Kept already", TODAY - timedelta(days=9), aiko, kenji, status="kept")
    text = await promise_command(server, "list", "USALES")
    lines = text.splitlines()
    assert lines[0] == "*Open promises* (3), due first"
    assert lines[1] == (
        ":warning: *P-2* · *株式会社ACME* · Late workshop · *overdue*, due Nov 20, 2026 · <@UCS>"
    )
    assert lines[2].startswith("*P-3* · *Globex Inc.* · Globex report · due Nov 28, 2026")
    assert lines[3] == "*P-1* · *株式会社ACME* · Undated · no due date · <@UCS>"
    assert "Kept already" not in text

    assert "P-3" not in await promise_command(server, "list acme", "USALES")
    # One level of emphasis: Slack cannot nest it, and `**…* …*` shows stray stars.
    assert "*Open promises to Globex Inc.* (1)" in await promise_command(
        server, "list CRM-002", "USALES"
    )
    server.slack.add_user("UCS", name="aiko", tz="Asia/Tokyo", locale="ja-JP")
    japanese = await promise_command(server, "list acme", "UCS")
    assert japanese.startswith("*株式会社ACME への未完了の約束*(2件、期限の近い順)"), japanese
    overdue = await promise_command(server, "list overdue", "USALES")
    assert "P-2" in overdue and "P-1" not in overdue and "P-3" not in overdue
    by_ben = await promise_command(server, "list <@UCS2|ben>", "USALES")
    assert "P-3" in by_ben and "P-2" not in by_ben
    assert "none" in await promise_command(server, "list <@UMANAGER|mika>", "USALES")
    assert "Several accounts match" in await promise_command(server, "list hooli", "USALES")
    japanese = await promise_command(server, "list overdue", "UCS")
    assert "*期限超過*、期限 2026年11月20日" in japanese


async def test_a_long_list_stays_within_block_kit_limits(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    with Session(engine) as session:
        for n in range(500):
            session.add(Promise(account_id=ids["acme"], text=f"Promise {n} " + "é" * 400,
                                due_date=TODAY + timedelta(days=n % 40), owner_id=ids["aiko"],
                                created_at=NOW))  # fmt: skip
        session.commit()
    text = await promise_command(server, "list", "UCS2")
    assert "*Open promises* (500), due first" in text and "…and 470 more." in text
    assert server.slack.rejections == []


# ---- close ------------------------------------------------------------------------------------


async def test_kept_broken_and_waived_are_recorded_with_who_when_and_why(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    acme, aiko, kenji = ids["acme"], ids["aiko"], ids["kenji"]
    kept, broken, waived = (add(engine, acme, f"Promise {n}", TODAY, aiko, kenji) for n in "abc")
    # aiko keeps the account, kenji made the promises, mika is a manager: each may close.
    assert "*P-1* を守られた約束として記録しました" in await promise_command(
        server, "kept P-1", "UCS"
    )
    text = await promise_command(server, f"broken P-{broken} trainer ill <!here>", "USALES")
    assert text == "*P-2* recorded as broken: Promise b (*株式会社ACME*). The note is kept with it."
    text = await promise_command(server, f"waive p{waived} moved to January", "UMANAGER")
    assert text.startswith("*P-3* を取り下げました")
    rows = [promise_row(engine, i) for i in (kept, broken, waived)]
    assert [r.status for r in rows] == ["kept", "broken", "waived"]
    assert [r.close_note for r in rows] == [None, "trainer ill <!here>", "moved to January"]
    manager = rows[2].closed_by_id
    assert rows[0].closed_by_id == aiko and rows[1].closed_by_id == kenji and manager
    assert all(r.closed_at == NOW for r in rows)
    with Session(engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.entity == "promise")
                               .order_by(col(AuditEntry.id))).all()  # fmt: skip
    assert [(e.entity_id, e.action, e.actor_id, e.note) for e in entries] == [
        (kept, "kept", aiko, None),
        (broken, "broken", kenji, "trainer ill <!here>"),
        (waived, "waived", manager, "moved to January"),
    ]
    again = await promise_command(server, "kept P-2", "USALES")
    assert again.startswith("*P-2* was already recorded as broken (<@USALES>,")
    assert promise_row(engine, broken).status == "broken"


async def test_only_owner_maker_or_manager_may_close_and_refusal_changes_nothing(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    promise_id = add(engine, ids["acme"], "Workshop", TODAY, ids["aiko"], ids["kenji"])
    before = snapshot(engine)
    for verb in ("kept P-1", "broken P-1 no", "waive P-1 no"):
        text = await promise_command(server, verb, "UCS2")  # ben: CS, but not on this account
        assert text.startswith("Only the account's CS owner, the person who made the promise, "
                               "or a manager can close it."), text  # fmt: skip
        assert "<@UCS>" in text and "<@USALES>" in text and "<@UMANAGER>" in text
    assert snapshot(engine) == before
    assert "守られた約束" in await promise_command(server, "kept P-1", "UMANAGER")
    assert promise_row(engine, promise_id).status == "kept"


async def test_recurring_promises_count_each_kept_occurrence(
    server: SlackServer, engine: Engine, clock: FixedClock
) -> None:
    ids = seed(engine)
    with Session(engine) as session:
        from storage import promises

        made = promises.add(session=session, account_id=ids["acme"], text="Monthly report",
                            due_date=date(2027, 1, 31), recurrence=MONTH, owner_id=ids["aiko"],
                            promised_by_id=ids["kenji"], actor=None, at=NOW)  # fmt: skip
        session.commit()
        promise_id = made.id or 0
    first = await promise_command(server, f"kept P-{promise_id}", "USALES")
    assert first.endswith("Kept 1 so far; next due Feb 28, 2027.")
    # Keeping applies to the occurrence that is due: the next one only once Jan 31 has passed.
    again = await promise_command(server, f"kept P-{promise_id}", "USALES")
    assert again == (
        f"*P-{promise_id}*: the occurrence due Jan 31, 2027 was already kept (<@USALES>, "
        "Nov 23, 2026 10:00 AM); nothing changed. The next is due Feb 28, 2027."
    )
    assert promise_row(engine, promise_id).kept_count == 1
    clock.at = datetime(2027, 2, 1, 1, 0, tzinfo=UTC)
    second = await promise_command(server, f"kept P-{promise_id} sent on time", "USALES")
    assert second.endswith("Kept 2 so far; next due Mar 31, 2027.")  # back to the 31st
    row = promise_row(engine, promise_id)
    assert (row.status, row.kept_count, row.due_date) == ("open", 2, date(2027, 3, 31))
    assert "waived" in await promise_command(server, f"waive P-{promise_id} contract ended",
                                             "USALES")  # fmt: skip
    assert promise_row(engine, promise_id).status == "waived"


# ---- the form ---------------------------------------------------------------------------------


def form_values(**fields: str | None) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}
    for field, value in fields.items():
        if field == "due":
            values[field] = {"value": {"type": "datepicker", "selected_date": value}}
        elif field == "repeat":
            option = {"value": value} if value else None
            values[field] = {"value": {"type": "static_select", "selected_option": option}}
        else:
            values[field] = {"value": {"type": "plain_text_input", "value": value}}
    return values


async def submit(server: SlackServer, user_id: str, metadata: str, **fields: str | None
                 ) -> dict[str, Any]:  # fmt: skip
    private = json.dumps({"m": metadata, "c": "C0001"})
    body = view_submission_body(user_id, "promise.add", form_values(**fields), private)
    response = await server.post(body)
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


async def test_promise_alone_opens_the_form_and_submitting_records_it(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    url = server.slack.new_response_url()
    await server.post(slash_command_body("/promise", "", "USALES", response_url=url))
    [opened] = await server.slack.await_for("views.open")
    view = opened["view"]
    assert view["callback_id"] == "promise.add"
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == [
        "account",
        "text",
        "due",
        "repeat",
    ]
    answer = await submit(server, "USALES", "", account="globex", text="Quarterly review",
                          due="2026-12-20", repeat="month")  # fmt: skip
    assert answer.get("response_action") is None
    [posted] = await server.slack.await_for("chat.postEphemeral")
    assert "Recorded *P-1* for *Globex Inc.*" in json.dumps(posted, ensure_ascii=False)
    row = promise_row(engine, 1)
    assert (row.account_id, row.due_date, row.recurrence, row.promised_by_id) == (
        ids["globex"],
        date(2026, 12, 20),
        "month",
        ids["kenji"],
    )
    assert server.slack.rejections == []


async def test_form_errors_are_shown_on_the_fields_and_nothing_is_saved(
    server: SlackServer, engine: Engine
) -> None:
    ids = seed(engine)
    before = snapshot(engine)
    answer = await submit(server, "USALES", "", account="hooli", text=" ", due="2026-11-01",
                          repeat="yearly")  # fmt: skip
    assert answer["response_action"] == "errors"
    errors = answer["errors"]
    assert set(errors) == {"account", "text", "due", "repeat"}
    assert "Several accounts match" in errors["account"]
    answer = await submit(server, "USALES", "", account="x" * 10_000, text="x" * 10_000)
    assert set(answer["errors"]) == {"account", "text"}
    # From the account card: the account is fixed by the form's metadata.
    answer = await submit(server, "USALES", "999999", text="Training")
    assert set(answer["errors"]) == {"account"}
    assert snapshot(engine) == before
    answer = await submit(server, "UCS", str(ids["acme"]), text="Training <!channel>")
    assert answer.get("response_action") is None
    assert promise_row(engine, 1).text == "Training <!channel>"


async def test_field_errors_reach_slack_as_plain_text(server: SlackServer, engine: Engine) -> None:
    seed(engine)
    answer = await submit(server, "USALES", "", account="<Hooli & co>", text="Training")
    error = answer["errors"]["account"]
    assert "<Hooli & co>" in error  # Slack shows field errors as typed: nothing to unescape
    assert "&lt;" not in error and "&amp;" not in error and "*" not in error


# ---- the shell --------------------------------------------------------------------------------


def test_record_list_and_close_in_the_shell(shell: ShellSession) -> None:
    shell.run(":as kenji")
    out = shell.run("/promise ACME: Security review by 2026-12-10")
    found = re.search(r"P-([0-9]+)", out)
    assert found and "株式会社ACME" in out, out
    assert "Security review" in shell.run("/promise list ACME")
    assert "Security review" in shell.run(f"/promise kept P-{found[1]}")
    assert "Security review" not in shell.run("/promise list ACME")
    form = shell.run("/promise", "Globex", "Pilot extension", "", "")
    assert "Globex Inc." in form and "Pilot extension" in form
    shell.run(":as taro")
    refused = shell.run("/promise waive P-1 not needed")
    assert "Only the account's CS owner" in refused or "CS 担当者" in refused


def test_the_forms_date_field_reads_dates_as_the_command_does(shell: ShellSession) -> None:
    shell.run(":as kenji")
    printed = shell.run("/promise", "Globex", "Pilot review", "2026/12/18", "")
    assert "Pilot review" in printed and "2026年12月18日" in printed, printed
    printed = shell.run("/promise", "Globex", "Usage review", "12/18", "", "Dec 20", "")
    assert "「12/18」は読む人によって別の日になります" in printed
    assert "2026年12月20日" in printed
