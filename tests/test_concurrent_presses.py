"""Presses and commands at the same moment change things once (issue 19 item 3): signed requests
sent together into the real Bolt app; one of them does it, the others are told it was done
already, and by whom."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import date

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.runtime import Runtime
from commands.context import FixedClock
from storage.audit import AuditEntry
from storage.promises import Recurrence
from testkit.signing import block_actions_body, slash_command_body
from tests import handoff_data, test_promise, test_reminders, test_slack_handoff
from tests.conftest import NOW, SlackServer
from tests.handoff_data import form_values


def audited(engine: Engine, entity: str) -> Counter[str]:
    with Session(engine) as session:
        rows = session.exec(select(AuditEntry.action).where(col(AuditEntry.entity) == entity))
        return Counter(rows)


async def promise_commands(server: SlackServer, text: str, user_id: str, times: int) -> list[str]:
    urls = [server.slack.new_response_url() for _ in range(times)]
    bodies = [slash_command_body("/promise", text, user_id, response_url=url) for url in urls]
    responses = await asyncio.gather(*(server.post(body) for body in bodies))
    assert [r.status_code for r in responses] == [200] * times
    replies = [await server.reply_to(url) for url in urls]
    return [test_promise.shown(reply) for reply in replies]


async def test_ten_accept_presses_at_once_accept_the_handoff_once(
    server: SlackServer, engine: Engine
) -> None:
    view = await test_slack_handoff.open_form(server, "Initech <@UCS|aiko>")
    assert await test_slack_handoff.submit(server, view, form_values()) == {}

    presses = [
        test_slack_handoff.press(server, "UCS", "handoff_accept", "1:card", channel_id="DUCS")
        for _ in range(10)
    ]
    answers = [json.dumps(a, ensure_ascii=False) for a in await asyncio.gather(*presses)]

    assert audited(engine, "handoff")["accept"] == 1
    assert len([a for a in answers if "✅ <@UCS> さんが" in a]) == 1
    already = [a for a in answers if "引き受け済み" in a]
    assert len(already) == 9 and all("<@UCS>" in a for a in already)


async def test_six_kept_commands_at_once_close_the_promise_once(
    server: SlackServer, engine: Engine
) -> None:
    ids = test_promise.seed(engine)
    test_promise.add(engine, ids["acme"], "Workshop", date(2026, 12, 1), ids["aiko"], ids["kenji"])

    replies = await promise_commands(server, "kept P-1", "USALES", 6)

    assert audited(engine, "promise") == Counter({"kept": 1})
    assert len([r for r in replies if r.startswith(":white_check_mark: *P-1* kept")]) == 1
    already = [r for r in replies if r.startswith("*P-1* was already kept (<@USALES>")]
    assert len(already) == 5


async def test_six_kept_commands_at_once_count_one_occurrence_of_a_recurring_promise(
    server: SlackServer, engine: Engine
) -> None:
    ids = test_promise.seed(engine)
    test_promise.add(engine, ids["acme"], "Weekly call", date(2026, 11, 27), ids["aiko"],
                     ids["kenji"], recurrence=Recurrence.WEEK.value)  # fmt: skip

    replies = await promise_commands(server, "kept P-1", "USALES", 6)

    assert audited(engine, "promise") == Counter({"kept_occurrence": 1})
    row = test_promise.promise_row(engine, 1)
    assert (row.kept_count, row.due_date) == (1, date(2026, 12, 4))
    assert len([r for r in replies if "Kept 1 so far; next due Dec 4, 2026." in r]) == 1
    already = [r for r in replies if "the occurrence due Nov 27, 2026 was already kept" in r]
    assert len(already) == 5
    assert NOW.date() < date(2026, 11, 27)  # kept early: the next one is not due yet


async def test_six_handoffs_of_one_new_account_at_once_make_one_account_and_one_handoff(
    server: SlackServer, engine: Engine
) -> None:
    view = await test_slack_handoff.open_form(server, "Initech <@UCS|aiko>")
    submits = [test_slack_handoff.submit(server, view, form_values()) for _ in range(6)]
    answers = await asyncio.gather(*submits)

    assert len([a for a in answers if a == {}]) == 1  # saved, the form closes
    refused = [a["errors"]["account"] for a in answers if a != {}]
    assert len(refused) == 5
    assert all(r.startswith("Initech K.K. already has a pending handoff, H-1 to") for r in refused)
    counts = handoff_data.counts(engine)
    assert (counts["Account"], counts["Handoff"]) == (1, 1)


async def test_six_kept_presses_on_a_reminder_at_once_close_the_promise_once(
    server: SlackServer, runtime: Runtime, engine: Engine, clock: FixedClock
) -> None:
    pid = test_reminders.tokyo_rep_with_a_promise(engine, date(2026, 11, 30))
    test_reminders.deliver_due(runtime, "2026-11-30T09:05+09:00")
    [dm] = server.slack.calls_to("chat.postMessage")
    item = test_reminders.buttons(dm)["reminders.kept"][0]
    clock.at = test_reminders.at("2026-11-30T11:00+09:00")

    urls = [server.slack.new_response_url() for _ in range(6)]
    bodies = [
        block_actions_body("UCS", "reminders.kept", item, channel_id="DUCS", response_url=url)
        for url in urls
    ]
    responses = await asyncio.gather(*(server.post(body) for body in bodies))
    assert [r.status_code for r in responses] == [200] * 6
    for url in urls:
        await server.reply_to(url)

    assert audited(engine, "promise")["kept"] == 1
    assert audited(engine, "reminder")["kept"] <= 1
    assert test_promise.promise_row(engine, pid).status == "kept"
