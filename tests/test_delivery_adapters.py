"""Delivery wired into the adapters: a request that writes to the outbox is delivered at once
(Slack: in a worker thread after the reply; shell: printed right after the reply), and the
`kakehashi jobs run-due | preview | failed` command line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.delivery import deliver_in_background, slack_delivery
from bot.runtime import Runtime
from commands.context import Context
from commands.registry import CommandSpec
from commands.ui import Message, Outcome, message_to_json
from jobs.delivery import DELIVERY_EVENT
from storage.db import session_scope
from storage.outbox import OutboxMessage, enqueue
from testkit.fake_slack import FakeSlack
from testkit.signing import slash_command_body
from tests.conftest import NOW, ShellSession, SlackServer


def ping(ctx: Context, text: str) -> Outcome:
    """A test command: DMs its caller and posts to #CSALES, once per distinct text."""
    for recipient in (ctx.actor.user_id, "CSALES"):
        enqueue(
            session=ctx.session,
            key=f"ping:{text}:{recipient}",
            kind="ping",
            recipient=recipient,
            payload=message_to_json(Message.plain(f"ping {text}")),
            at=ctx.now,
        )
    return Outcome(reply=Message.plain("pong"))


def quiet(ctx: Context, text: str) -> Outcome:
    return Outcome(reply=Message.plain("nothing to send"))


def with_test_commands(runtime: Runtime) -> Runtime:
    runtime.registry.commands["ping"] = CommandSpec("ping", ping)
    runtime.registry.commands["quiet"] = CommandSpec("quiet", quiet)
    return runtime


# ---- shell ---------------------------------------------------------------------------------


def test_the_shell_prints_a_delivered_dm_right_after_the_reply(shell: ShellSession) -> None:
    with_test_commands(shell.shell.runtime)

    printed = shell.run("/ping one")

    assert printed.splitlines() == [
        "» /ping one",
        "pong",
        "→ to @mika:",
        "  ping one",
        "→ to #CSALES:",
        "  ping one",
    ]
    again = shell.run("/ping one", "/quiet")  # same keys: nothing new is owed
    assert again.splitlines() == ["» /ping one", "pong", "» /quiet", "nothing to send"]
    with Session(shell.shell.runtime.engine) as session:
        sent = session.exec(select(OutboxMessage)).all()
        assert {r.status for r in sent} == {"sent"} and len(sent) == 2


# ---- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def runtime(runtime: Runtime, engine: Engine) -> Runtime:
    """The conftest runtime, with the test commands and delivery after each request."""
    with_test_commands(runtime)
    delivery = slack_delivery(runtime.settings, engine)
    runtime.on_outbox = deliver_in_background(delivery, runtime.clock)
    return runtime


async def test_a_slash_command_that_enqueues_gets_its_dms_delivered_once(
    server: SlackServer, slack: FakeSlack, engine: Engine
) -> None:
    url = slack.new_response_url()
    response = await server.post(slash_command_body("/ping", "hello", "UCS", response_url=url))
    assert response.status_code == 200

    reply = await server.reply_to(url)
    posted = await slack.await_for("chat.postMessage", count=2)

    assert reply["text"] == "pong"
    assert {p["channel"] for p in posted} == {"UCS", "CSALES"}
    assert all(p["metadata"]["event_type"] == DELIVERY_EVENT for p in posted)
    assert slack.messages("UCS")[0]["text"] == "ping hello"
    await server.post(slash_command_body("/ping", "hello", "UCS", response_url=url))
    await server.post(slash_command_body("/quiet", "", "UCS", response_url=url))
    with Session(engine) as session:
        assert {r.status for r in session.exec(select(OutboxMessage)).all()} == {"sent"}
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert slack.rejections == []


# ---- command line --------------------------------------------------------------------------


def put(engine: Engine, key: str, recipient: str, *, later: timedelta = timedelta(0)) -> None:
    with session_scope(engine) as session:
        enqueue(
            session=session,
            key=key,
            kind="reminder",
            recipient=recipient,
            payload=message_to_json(Message.plain(key)),
            at=NOW,
            not_before=NOW + later,
        )


def test_jobs_failed_lists_permanent_failures_with_their_reason(
    cli_env: None, engine: Engine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "failed"]) == 0
    assert capsys.readouterr().out == "No delivery has failed.\n"
    put(engine, "reminder:gone", "UGONE")
    put(engine, "reminder:archived", "COLD")
    put(engine, "reminder:ok", "UCS")
    slack.fail_next("chat.postMessage", error="user_not_found")
    slack.fail_next("chat.postMessage", error="is_archived")

    assert main(["jobs", "run-due", "--at", "2026-11-23T10:00+09:00"]) == 0
    assert capsys.readouterr().out == "reminder reminder:ok → UCS\n"
    assert main(["jobs", "failed"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("reminder reminder:archived → COLD: is_archived")
    assert lines[1].endswith("reminder reminder:gone → UGONE: user_not_found")
    assert main(["jobs", "run-due"]) == 0  # failed for good: not retried
    assert capsys.readouterr().out == ""
    assert len(slack.calls_to("chat.postMessage")) == 3


def test_jobs_preview_lists_what_is_due_and_sends_nothing(
    cli_env: None, engine: Engine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    put(engine, "reminder:now", "UCS")
    put(engine, "reminder:tomorrow", "UCS", later=timedelta(days=1))

    assert main(["jobs", "preview", "--at", "2026-11-23T01:00:00+00:00"]) == 0
    assert capsys.readouterr().out == "reminder reminder:now → UCS\n"
    assert main(["jobs", "preview", "--at", "2026-11-24T10:00"]) == 0  # naive: UTC by default
    assert capsys.readouterr().out.splitlines() == [
        "reminder reminder:now → UCS",
        "reminder reminder:tomorrow → UCS",
    ]
    assert slack.calls_to("chat.postMessage") == []


def test_jobs_run_due_sends_only_what_is_due_at_the_given_instant(
    cli_env: None, engine: Engine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    put(engine, "reminder:tomorrow", "UCS", later=timedelta(days=1))

    assert main(["jobs", "run-due", "--at", "2026-11-23T12:00+00:00"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["jobs", "run-due", "--at", "2026-11-24T01:00+00:00"]) == 0
    assert capsys.readouterr().out == "reminder reminder:tomorrow → UCS\n"
    assert main(["jobs", "run-due", "--at", "2026-11-24T01:00+00:00"]) == 0
    assert capsys.readouterr().out == ""
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01", "<!channel>", "'; DROP TABLE outbox"])
def test_a_malformed_at_is_a_usage_error(
    cli_env: None, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "run-due", "--at", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kakehashi: --at must be an ISO-8601 date and time")
    assert err.count("\n") == 1  # one line


def test_run_due_needs_the_bot_token(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    assert main(["jobs", "run-due"]) == 2
    assert capsys.readouterr().err == (
        "kakehashi: SLACK_BOT_TOKEN or Teams (TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET, "
        "TEAMS_TENANT_ID) is required by `kakehashi jobs run-due`\n"
    )
