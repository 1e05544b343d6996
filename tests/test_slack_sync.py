"""`/sync` end to end: signed slash commands into the real Bolt app, agendas posted by
`kakehashi jobs run-due` to the fake Slack Web API. The clock stands at Monday 2026-11-23 10:00
in Tokyo (01:00 UTC)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.cli import main
from storage.agenda.subscriptions import SyncSubscription
from storage.audit import AuditEntry
from storage.outbox import OutboxMessage
from testkit.fake_slack import FakeSlack
from testkit.signing import slash_command_body
from tests.conftest import SlackServer
from tests.test_slack_kakehashi import reply_text


async def sync(
    server: SlackServer, text: str, user_id: str = "USALES", channel_id: str = "C0001"
) -> dict[str, Any]:
    url = server.slack.new_response_url()
    body = slash_command_body("/sync", text, user_id, channel_id=channel_id, response_url=url)
    response = await server.post(body)
    assert response.status_code == 200, response.text
    return await server.reply_to(url)


def run_due(at: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["jobs", "run-due", "--at", at]) == 0
    return capsys.readouterr().out.splitlines()


def shown(reply: dict[str, Any]) -> str:
    """Every text of a message: sections, headers and context (small print) blocks."""
    texts = []
    for block in reply.get("blocks") or []:
        texts.append((block.get("text") or {}).get("text", ""))
        texts += [e.get("text", "") for e in block.get("elements") or [] if isinstance(e, dict)]
    return "\n".join(texts)


def header(message: dict[str, Any]) -> str:
    return str(message["blocks"][0]["text"]["text"])


def subscriptions(engine: Engine) -> list[SyncSubscription]:
    with Session(engine) as session:
        return list(session.exec(select(SyncSubscription)).all())


async def test_subscribed_monday_0900_tokyo_posts_once_a_week(
    server: SlackServer,
    slack: FakeSlack,
    engine: Engine,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reply = await sync(server, "weekly mon 09:00 Asia/Tokyo")
    assert reply["response_type"] == "ephemeral"
    assert reply_text(reply) == (
        "Done: this channel will get the weekly Sales × CS agenda every *Monday at 09:00* "
        "(Asia/Tokyo), for every account, in the default language (English). "
        "First post: *Nov 30, 2026 9:00 AM*. `/sync preview` shows it now; `/sync off` stops it."
    )
    assert run_due("2026-11-30T08:59+09:00", capsys) == []  # not yet
    assert run_due("2026-11-30T09:00+09:00", capsys) == ["agenda agenda:C0001:2026-11-30 → C0001"]
    assert run_due("2026-11-30T09:00+09:00", capsys) == []  # a second run posts nothing
    assert run_due("2026-11-30T15:00+09:00", capsys) == []
    assert run_due("2026-12-07T09:00+09:00", capsys) == ["agenda agenda:C0001:2026-12-07 → C0001"]
    posted = slack.messages("C0001")
    assert [header(m) for m in posted] == [
        "Weekly Sales × CS sync · Nov 23, 2026 – Nov 30, 2026",
        "Weekly Sales × CS sync · Nov 30, 2026 – Dec 7, 2026",
    ]
    assert posted[0]["metadata"]["event_payload"] == {"key": "agenda:C0001:2026-11-30"}
    assert slack.rejections == []


async def test_an_agenda_more_than_a_day_late_is_skipped_and_logged(
    server: SlackServer,
    slack: FakeSlack,
    engine: Engine,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await sync(server, "weekly mon 09:00 Asia/Tokyo")
    with caplog.at_level(logging.WARNING):
        assert run_due("2026-12-01T09:01+09:00", capsys) == []  # the bot was down a day
    assert "skipped agenda agenda:C0001:2026-11-30" in caplog.text
    with Session(engine) as session:
        row = session.exec(select(OutboxMessage)).one()
        assert row.status == "skipped" and "late" in (row.last_error or "")
    # Down for three weeks: only the latest week is looked at, and the missed ones are logged.
    with caplog.at_level(logging.WARNING):
        assert run_due("2026-12-21T20:00+09:00", capsys) == [
            "agenda agenda:C0001:2026-12-21 → C0001"
        ]
    assert "agendas for C0001 were not posted on 2026-12-14, 2026-12-07" in caplog.text
    assert len(slack.messages("C0001")) == 1


async def test_the_schedule_and_its_next_post_in_the_channels_zone(
    server: SlackServer, engine: Engine
) -> None:
    reply = await sync(server, "")
    assert "This channel gets no weekly agenda" in reply_text(reply)
    # ben's Slack time zone is New York: without ZONE, the schedule is read there.
    reply = await sync(server, "weekly fri 16:30 team <@UCS|aiko> <@UCS2|ben> lang ja", "UCS2")
    assert "every *Friday at 16:30* (America/New_York)" in reply_text(reply)
    reply = await sync(server, "", "USALES")
    assert reply_text(reply) == (
        "This channel gets the weekly Sales × CS agenda every *Friday at 16:30* "
        "(America/New_York), for the accounts whose CS owner is <@UCS>, <@UCS2>, in Japanese. "
        "Next post: *Nov 27, 2026 4:30 PM*."
    )
    reply = await sync(server, "", "UMANAGER")  # mika reads Japanese
    assert "毎週 *金曜日 16:30*(America/New_York)" in reply_text(reply)
    assert "次回: *2026年11月27日 16:30*" in reply_text(reply)
    (subscription,) = subscriptions(engine)
    assert (subscription.weekday, subscription.hour, subscription.minute) == (4, 16, 30)
    assert subscription.locale == "ja" and len(subscription.team) == 2


async def test_a_channel_the_bot_is_not_in_is_explained_and_nothing_is_saved(
    server: SlackServer, slack: FakeSlack, engine: Engine
) -> None:
    slack.channels["C0002"] = {"id": "C0002", "is_channel": True, "is_member": False}
    reply = await sync(server, "weekly mon 09:00", channel_id="C0002")
    assert "/invite @Kakehashi" in reply_text(reply) and "Nothing was saved" in reply_text(reply)
    slack.fail_next("conversations.info", error="channel_not_found")  # private, bot not in it
    reply = await sync(server, "weekly mon 09:00", channel_id="G0003")
    assert "/invite @Kakehashi" in reply_text(reply)
    slack.channels["C0004"] = {"id": "C0004", "is_member": True, "is_archived": True}
    reply = await sync(server, "weekly mon 09:00", channel_id="C0004")
    assert "archived" in reply_text(reply)
    reply = await sync(server, "weekly mon 09:00", channel_id="D0005")
    assert "Weekly agendas are posted to channels" in reply_text(reply)
    assert subscriptions(engine) == []
    assert [c["channel"] for c in slack.calls_to("conversations.info")] == [
        "C0002",
        "G0003",
        "C0004",
    ]


async def test_preview_is_only_for_the_caller(
    server: SlackServer, slack: FakeSlack, engine: Engine
) -> None:
    reply = await sync(server, "preview", "UMANAGER")  # no schedule: mika's own language
    assert reply["response_type"] == "ephemeral"
    assert "プレビューです" in shown(reply)
    assert reply["blocks"][1]["text"]["text"].startswith("営業 × CS 週次ミーティング")
    await sync(server, "weekly mon 09:00 Asia/Tokyo lang en")
    reply = await sync(server, "preview", "UMANAGER")  # the channel's language from now on
    assert reply["blocks"][1]["text"]["text"] == (
        "Weekly Sales × CS sync · Nov 16, 2026 – Nov 23, 2026"
    )
    assert "プレビューです" in shown(reply)  # the note speaks to mika in Japanese
    # In a DM: the portfolio in the caller's own language, and where agendas go.
    reply = await sync(server, "preview", "USALES", channel_id="D0001")
    assert reply["response_type"] == "ephemeral"
    assert "Agendas are posted to channels" in shown(reply) and "This channel" not in shown(reply)
    assert reply["blocks"][1]["text"]["text"].startswith("Weekly Sales × CS sync")
    assert slack.calls_to("chat.postMessage") == []
    assert slack.rejections == []
    with Session(engine) as session:
        assert session.exec(select(OutboxMessage)).all() == []


async def test_only_whoever_set_it_up_or_a_manager_changes_or_stops_it(
    server: SlackServer, engine: Engine
) -> None:
    await sync(server, "weekly mon 09:00 Asia/Tokyo", "USALES")
    for text in ("weekly tue 10:00", "off"):
        reply = await sync(server, text, "UCS2")
        assert reply_text(reply) == (
            "Only whoever set up this channel's agenda, or a manager, can change or stop it. "
            "Ask <@USALES> or a manager (<@UMANAGER>)."
        )
        (subscription,) = subscriptions(engine)
        assert (subscription.weekday, subscription.hour) == (0, 9)
    reply = await sync(server, "weekly tue 10:00", "USALES")  # its creator may change it
    assert "*Tuesday at 10:00*" in reply_text(reply)
    reply = await sync(server, "off", "UMANAGER")  # and a manager may stop it
    assert "停止しました" in reply_text(reply)
    assert subscriptions(engine) == []
    with Session(engine) as session:
        actions = session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "sync")
            .order_by(col(AuditEntry.id))
        ).all()
    assert actions == ["subscribe", "change", "unsubscribe"]


async def test_a_changed_schedule_posts_on_its_new_day_only(
    server: SlackServer,
    slack: FakeSlack,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await sync(server, "weekly mon 09:00 Asia/Tokyo")
    await sync(server, "weekly tue 10:00 Asia/Tokyo")
    assert run_due("2026-11-30T09:30+09:00", capsys) == []
    assert run_due("2026-12-01T10:00+09:00", capsys) == ["agenda agenda:C0001:2026-12-01 → C0001"]
    assert main(["jobs", "preview", "--at", "2026-12-08T10:00+09:00"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "agenda → C0001 (week ending 2026-12-08T10:00+09:00)"
    ]
    assert len(slack.messages("C0001")) == 1


async def test_bad_input_answers_with_what_is_wrong_and_saves_nothing(
    server: SlackServer, engine: Engine
) -> None:
    cases = {
        "help": "Usage: `/sync weekly DAY HH:MM",
        "frobnicate": "I don't know “frobnicate”.",
        "weekly": "Say the day and the time",
        "weekly funday 09:00": "“funday” is not a day of the week",
        "weekly mon 9": "“9” is not a time of day",
        "weekly mon 09:00 Mars/Base": "“Mars/Base” is not a time zone I know",
        "weekly mon 09:00 team <!channel>": "“&lt;!channel&gt;” is not a person picked with @",
        "weekly mon 09:00 team <@U0001|x>": "I can't find <@U0001>",
        "weekly mon 09:00 team <@UBOTUSER|bot>": "<@UBOTUSER> is a bot",
        "weekly mon 09:00 '; DROP TABLE sync_subscriptions; --": "is not a time zone I know",
        "weekly mon 09:00 lang klingon": "“klingon” is not a language I speak",
        "x" * 10_000: "I don't know “xxxxxxxx",
        "weekly ＭＯＮ ０９：００ UTC\x00\x07": "Done: this channel",  # control characters dropped
    }
    for text, expected in cases.items():
        reply = await sync(server, text, "UCS2")
        shown = reply_text(reply)
        assert expected in shown, (text[:40], shown)
        assert len(shown) < 1000 and "<!channel>" not in shown
        if not expected.startswith("Done"):
            assert subscriptions(engine) == [], text[:40]
    assert server.slack.rejections == []


async def test_sync_is_in_the_help(server: SlackServer) -> None:
    url = server.slack.new_response_url()
    await server.post(slash_command_body("/kakehashi", "help", "USALES", response_url=url))
    assert "`/sync weekly DAY HH:MM [ZONE] [team @a @b …] [lang ja|en]`" in reply_text(
        await server.reply_to(url)
    )
