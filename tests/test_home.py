"""The Home tab: signed `app_home_opened` events publish each person's own view (`views.publish`
on the fake Slack API); buttons on it work like those on reminder DMs; a request that changes
someone's data republishes their Home."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from commands.reminders.dm import Action
from storage.accounts import Account, fold_name
from storage.db import session_scope
from storage.people import Person, Role
from storage.promises import Promise
from storage.reminders import Reminder, ReminderItem, ReminderKind, ReminderStatus
from testkit.signing import block_actions_body, event_body, slash_command_body
from tests.conftest import NOW, ShellSession, SlackServer
from tests.metrics_data import build_world

JSON = dict[str, Any]


async def open_home(server: SlackServer, user_id: str, *, seen: int = 0) -> JSON:
    """Opens the person's Home tab; returns the view published for them."""
    event = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D0001",
        "tab": "home",
        "event_ts": "1700000000.000100",
    }
    response = await server.post(event_body(event, event_id=f"Ev{user_id}{seen}"))
    assert response.status_code == 200, response.text
    return (await published(server, user_id, seen + 1))[-1]


async def published(server: SlackServer, user_id: str, count: int) -> list[JSON]:
    calls = await server.slack.await_for(
        "views.publish", count=count, predicate=lambda b: b.get("user_id") == user_id
    )
    views = [c["view"] if isinstance(c["view"], dict) else json.loads(c["view"]) for c in calls]
    assert all(v["type"] == "home" and len(v["blocks"]) <= 100 for v in views)
    return views


def shown(view: JSON) -> str:
    lines: list[str] = []
    for block in view["blocks"]:
        if isinstance(block.get("text"), dict):
            lines.append(block["text"]["text"])
        lines += [f["text"] for f in block.get("fields") or []]
        for element in block.get("elements") or []:
            text = element.get("text", "")
            lines.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(lines)


def buttons(view: JSON) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e.get("value", ""))
        for block in view["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
    ]


def world_with_reminders(engine: Engine) -> dict[str, int]:
    """The hand-computed portfolio, with two reminders for aiko: one open (P1 overdue), one
    snoozed until tomorrow."""
    with session_scope(engine) as session:
        world = build_world(session)
        aiko = world.aiko.id or 0
        due = Reminder(
            key="promise:p1:overdue",
            kind=ReminderKind.PROMISE.value,
            detail="overdue-1",
            person_id=aiko,
            account_id=world.accounts["Alpha"].id,
            promise_id=world.promise_ids["P1"],
            status=ReminderStatus.SENT.value,
            sent_at=NOW - timedelta(hours=1),
        )
        later = Reminder(
            key="renewal:alpha:30",
            kind=ReminderKind.RENEWAL.value,
            detail="30",
            person_id=aiko,
            account_id=world.accounts["Alpha"].id,
            status=ReminderStatus.SNOOZED.value,
            sent_at=NOW - timedelta(days=1),
            snoozed_until=NOW + timedelta(days=1),
        )
        session.add_all([due, later])
        session.flush()
        items = [
            ReminderItem(message_key="reminder:UCS:1", reminder_id=due.id or 0),
            ReminderItem(message_key="reminder:UCS:1", reminder_id=later.id or 0, position=1),
        ]
        session.add_all(items)
        session.flush()
        return {"due": due.id or 0, "item": items[0].id or 0, "P1": world.promise_ids["P1"]}


async def test_a_cs_rep_sees_reminders_handoffs_accounts_and_promises(
    server: SlackServer, engine: Engine
) -> None:
    ids = world_with_reminders(engine)
    view = await open_home(server, "UCS")  # aiko reads Japanese
    text = shown(view)
    for part in (
        "Kakehashi: あなたのお客さま",
        "<@UCS> · カスタマーサクセス",
        "*リマインダー* (2件)",
        f"P-{ids['P1']}",  # the overdue promise, described as its reminder DM does
        "までスヌーズ中です。",
        "*あなたの引き受けを待っている引き継ぎ*(2件)",
        "*Alpha* (<@USALES> から",
        "*担当アカウント* (2件。更新日、最終接触、未完了の約束)",
        "Alpha",
        "Beta",
        "*あなたが守る約束* (5件)",
    ):
        assert part in text, (part, text)
    assert "ポートフォリオ" not in text and "Gamma" not in text  # not a manager; not theirs
    pressed = buttons(view)
    item = str(ids["item"])
    assert (Action.DONE, item) in pressed and (Action.KEPT, item) in pressed
    assert (Action.SNOOZE_TOMORROW, item) in pressed
    assert [a for a, _ in pressed].count("handoff_accept") == 2
    assert server.slack.rejections == []


async def test_a_sales_rep_sees_their_handoffs_and_the_promises_they_made(
    server: SlackServer, engine: Engine
) -> None:
    world_with_reminders(engine)
    view = await open_home(server, "USALES")  # kenji reads English
    text = shown(view)
    for part in (
        "<@USALES> · sales",
        "*Your handoffs* (9)",
        "waiting to be accepted since",
        "→ <@UCS>: accepted",
        "*Promises you made* (12; open, and closed in the last 30 days)",
        "*overdue* since",
        "— kept",
        "— *broken*",
        "— waived",
    ):
        assert part in text, (part, text)
    assert "more" not in text  # 9 handoffs and 12 promises: all shown
    assert "*Reminders*" not in text and "Your accounts" not in text
    assert server.slack.rejections == []


async def test_a_manager_sees_the_portfolio_headline(server: SlackServer, engine: Engine) -> None:
    world_with_reminders(engine)
    view = await open_home(server, "UMANAGER")
    text = shown(view)
    assert "*ポートフォリオ* (詳細は `/portfolio`)" in text
    assert (
        "*アカウント数*\n6" in text
        and "*約束の履行率(過去30日)*\n60% (履行 3件、不履行 2件)" in text
    )
    assert "対応待ちのものはありません" in text  # mika owns nothing herself
    assert server.slack.rejections == []


async def test_someone_without_a_role_is_pointed_at_the_commands(server: SlackServer) -> None:
    view = await open_home(server, "UCS2")
    assert "Nothing is waiting for you" in shown(view)


async def test_three_hundred_accounts_stay_within_100_blocks(
    server: SlackServer, engine: Engine
) -> None:
    with session_scope(engine) as session:
        rep = Person(user_id="UCS", role=Role.CS.value)
        session.add(rep)
        session.flush()
        for i in range(300):
            account = Account(
                name=f"株式会社とても長い名前のお客さま{i}" * 3,
                name_key=fold_name(f"顧客{i}"),
                cs_owner_id=rep.id,
                arr=Decimal(1000),
                currency="JPY",
                renewal_date=NOW.date() + timedelta(days=i),
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(account)
            session.flush()
            session.add(
                Promise(
                    account_id=account.id or 0,
                    text="研修を毎月実施" * 20,
                    owner_id=rep.id,
                    due_date=NOW.date(),
                    created_at=NOW,
                )
            )
            reminder = Reminder(
                key=f"r{i}",
                kind=ReminderKind.PROMISE.value,
                person_id=rep.id or 0,
                account_id=account.id,
                status=ReminderStatus.SENT.value,
                sent_at=NOW,
            )
            session.add(reminder)
            session.flush()
            session.add(ReminderItem(message_key="m", reminder_id=reminder.id or 0))
    view = await open_home(server, "UCS")
    text = shown(view)
    assert "*担当アカウント* (300件" in text and "…ほか 260件" in text  # 40 shown
    assert "*リマインダー* (300件)" in text and "…ほか 290件" in text
    assert len(view["blocks"]) <= 100
    assert server.slack.rejections == []


async def test_done_on_the_home_tab_handles_the_reminder_and_republishes(
    server: SlackServer, engine: Engine
) -> None:
    ids = world_with_reminders(engine)
    view = await open_home(server, "UCS")
    body = block_actions_body(
        "UCS", Action.DONE, str(ids["item"]), view={"id": view.get("id", "V1"), "type": "home"}
    )
    response = await server.post(body)
    assert response.status_code == 200
    again = (await published(server, "UCS", 2))[-1]
    assert "*リマインダー* (1件)" in shown(again)
    with Session(engine) as session:
        reminder = session.get(Reminder, ids["due"])
        assert reminder is not None and reminder.status == ReminderStatus.DONE.value
    assert server.slack.calls_to("response_url") == []  # nothing to redraw: the Home was
    assert server.slack.rejections == []


async def test_a_refused_button_on_the_home_tab_answers_in_a_dm(
    server: SlackServer, engine: Engine
) -> None:
    ids = world_with_reminders(engine)
    body = block_actions_body(
        "USALES", Action.DONE, str(ids["item"]), view={"id": "V1", "type": "home"}
    )
    await server.post(body)
    dm = await server.slack.await_for(
        "chat.postMessage", predicate=lambda b: b["channel"] == "USALES"
    )
    assert "<@UMANAGER>" in json.dumps(dm[-1], ensure_ascii=False)
    with Session(engine) as session:
        reminder = session.get(Reminder, ids["due"])
        assert reminder is not None and reminder.status == ReminderStatus.SENT.value


async def test_a_touch_republishes_the_owners_home(server: SlackServer, engine: Engine) -> None:
    world_with_reminders(engine)
    await open_home(server, "UCS")
    url = server.slack.new_response_url()
    body = slash_command_body(
        "/touch", "Beta call: checked in on the rollout", "UCS2", response_url=url
    )
    await server.post(body)
    await server.reply_to(url)
    again = (await published(server, "UCS", 2))[-1]  # aiko owns Beta: her Home is redrawn
    assert "Beta" in shown(again)
    with Session(engine) as session:
        assert session.exec(select(Person).where(Person.user_id == "UCS2")).one()


def test_the_shell_shows_your_home_tab(shell: ShellSession) -> None:
    out = shell.run(":as aiko", ":home", ":as mika", ":home")
    assert "あなたのお客さま" in out or "your customers" in out
    assert "ACME" in out  # aiko's demo account
    assert "Portfolio summary" not in out  # the Home tab shows the headline, not the whole summary
