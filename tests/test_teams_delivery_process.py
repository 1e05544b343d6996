"""Reminders and agendas on Teams through the real command line (`kakehashi jobs run-due --at`,
`kakehashi run`) against the fake Bot Connector: each message once, through 429s, 500s and a
SIGKILL; a person Teams cannot reach is a failure with the reason and their managers are told
once. People and conversation references are seeded as the Teams handlers store them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.teams_transport import MAY_HAVE_LANDED, SENDING
from commands.ui import Message, message_to_json
from storage.accounts import TouchModel
from storage.agenda.subscriptions import SyncSubscription
from storage.db import make_engine, session_scope
from storage.outbox import OutboxMessage, OutboxStatus, enqueue
from storage.people import Person, Role
from testkit.fake_slack import FakeSlack
from testkit.fake_teams import TENANT_ID, Failure, FakeTeams, start_fake_teams
from tests.conftest import NOW, SECRET, TOKEN, clean_environ, free_port, run_kakehashi
from tests.test_reminders import account, promise

ROOT = Path(__file__).parent.parent
EACH = 8
"""Reminders per person in the SIGKILL test: enough that the kill lands mid-queue."""


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    fake, server = start_fake_teams()
    yield fake
    server.shutdown()


def env(teams: FakeTeams, database_url: str) -> dict[str, str]:
    return {
        **teams.settings(),
        "DATABASE_URL": database_url,
        "KAKEHASHI_TICK_SECONDS": "1",
        "KAKEHASHI_TIMEZONE": "Asia/Tokyo",
        "PYTHONPATH": str(ROOT),
    }


def reference(teams: FakeTeams, aad: str, conversation: str, kind: str) -> dict[str, Any]:
    """What `bot.teams_people.reference_of` stores from an activity."""
    return {
        "serviceUrl": teams.url,
        "conversation": {"id": conversation, "conversationType": kind, "tenantId": TENANT_ID},
        "user": {"id": f"29:{aad}", "aadObjectId": aad, "name": aad[:4]},
    }


def teams_person(
    engine: Engine,
    teams: FakeTeams,
    *,
    tz: str = "Asia/Tokyo",
    role: Role | None = None,
    reachable: bool = True,
) -> tuple[int, str]:
    """A Teams person (id, Entra object id) with their personal chat's reference."""
    aad = str(uuid.uuid4())
    with session_scope(engine) as session:
        row = Person(
            platform="teams",
            user_id=aad,
            name=f"person {aad[:4]}",
            tz=tz,
            locale="en-US",
            role=role.value if role else None,
            profile_fetched_at=NOW + timedelta(days=400),
            delivery_ref=(
                reference(teams, aad, f"a:personal-{aad}", "personal") if reachable else None
            ),
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id, aad


def posted(teams: FakeTeams) -> Counter[str]:
    """Delivery key → how many activities carried it."""
    with teams.lock:
        return Counter(str(a["channelData"]["kakehashiKey"]) for a in teams.activities)


def card_text(activity: dict[str, Any]) -> str:
    return str(activity["attachments"][0]["content"])


def run_due(teams: FakeTeams, database_url: str, cwd: Path, when: str) -> str:
    done = run_kakehashi("jobs", "run-due", "--at", when, env=env(teams, database_url), cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def outbox(engine: Engine) -> dict[str, OutboxMessage]:
    with Session(engine) as session:
        return {row.key: row for row in session.exec(select(OutboxMessage)).all()}


def test_a_reminder_dm_goes_at_0905_in_the_persons_zone_once(
    engine: Engine, teams: FakeTeams, database_url: str, tmp_path: Path
) -> None:
    rep, aad = teams_person(engine, teams, tz="America/New_York")
    promise(engine, account(engine, rep, touch=TouchModel.TECH), rep, date(2026, 11, 30))

    assert run_due(teams, database_url, tmp_path, "2026-11-30T08:55-05:00") == ""
    assert teams.activities == []  # 22:55 in Tokyo, 8:55 in New York: not yet

    out = run_due(teams, database_url, tmp_path, "2026-11-30T09:05-05:00")
    assert out.startswith("reminder reminder:") and f"→ {aad}" in out
    [dm] = teams.activities
    assert dm["path"] == f"/v3/conversations/a:personal-{aad}/activities"
    assert dm["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "導入研修を実施" in card_text(dm)
    [row] = [r for r in outbox(engine).values() if r.kind == "reminder"]
    assert (row.platform, row.status, row.key) == (
        "teams",
        "sent",
        dm["channelData"]["kakehashiKey"],
    )

    run_due(teams, database_url, tmp_path, "2026-11-30T09:30-05:00")
    assert len(teams.activities) == 1  # once


def test_a_weekly_agenda_goes_to_its_teams_channel_once(
    engine: Engine, teams: FakeTeams, database_url: str, tmp_path: Path
) -> None:
    manager, aad = teams_person(engine, teams, role=Role.MANAGER)
    channel = "19:sales@thread.tacv2"
    with session_scope(engine) as session:
        session.add(
            SyncSubscription(
                platform="teams",
                channel_id=channel,
                delivery_ref=reference(teams, aad, channel, "channel"),
                weekday=0,
                hour=9,
                minute=0,
                zone="Asia/Tokyo",
                locale="ja",
                team=[],
                created_by_id=manager,
                starts_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )

    assert run_due(teams, database_url, tmp_path, "2026-11-30T08:59+09:00") == ""
    preview = run_kakehashi(
        "jobs",
        "preview",
        "--at",
        "2026-11-30T09:00+09:00",
        env=env(teams, database_url),
        cwd=tmp_path,
    )
    assert f"agenda → {channel} (week ending 2026-11-30T09:00+09:00)" in preview.stdout
    assert teams.activities == []  # a preview sends nothing
    out = run_due(teams, database_url, tmp_path, "2026-11-30T09:00+09:00")
    assert f"agenda:{channel}" in out or "agenda" in out
    [agenda] = teams.activities
    assert agenda["path"] == f"/v3/conversations/{channel}/activities"
    assert run_due(teams, database_url, tmp_path, "2026-11-30T09:10+09:00") == ""
    assert len(teams.activities) == 1
    [row] = outbox(engine).values()
    assert (row.platform, row.kind, row.status) == ("teams", "agenda", "sent")


# ---- kakehashi run -----------------------------------------------------------------------


def start(teams: FakeTeams, database_url: str, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--port", str(free_port())],
        cwd=workdir,
        env={**clean_environ(), **env(teams, database_url)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition: Callable[[], bool], what: str, workdir: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {f.name}\n{f.read_text()[-3000:]}" for f in workdir.glob("*.log")
            )
            raise AssertionError(f"{what} did not happen\n{logs}")
        time.sleep(0.05)


def in_flight(engine: Engine) -> bool:
    with Session(engine) as session:
        return (
            session.exec(
                select(OutboxMessage.id).where(col(OutboxMessage.last_error) == SENDING)
            ).first()
            is not None
        )


def settled(engine: Engine) -> bool:
    return all(r.status != OutboxStatus.PENDING for r in outbox(engine).values())


def enqueue_reminders(engine: Engine, people: list[str], each: int) -> None:
    with session_scope(engine) as session:
        for n in range(each):
            for aad in people:
                enqueue(
                    session=session,
                    key=f"reminder:{aad}:{n}",
                    kind="test",
                    recipient=aad,
                    payload=message_to_json(Message.plain(f"reminder {n}")),
                    at=NOW - timedelta(days=365),  # due whenever the test runs
                    platform="teams",
                )


def test_kakehashi_run_through_throttling_errors_and_a_sigkill_sends_each_message_once(
    database_url: str, teams: FakeTeams, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    _, manager = teams_person(engine, teams, role=Role.MANAGER)
    people = [teams_person(engine, teams)[1] for _ in range(15)]
    _, absent = teams_person(engine, teams, reachable=False)
    enqueue_reminders(engine, [*people, absent], each=EACH)
    teams.fail_next(
        Failure(429, "Throttled", "1"), Failure(500), Failure(503), Failure(429, "Throttled", "1")
    )

    first = start(teams, database_url, tmp_path, "first")
    try:
        wait_for(lambda: len(teams.activities) >= 20, "20 posts", tmp_path)
        teams.fail_next(Failure(201, late=20.0))  # the next post lands; its answer is held
        wait_for(lambda: in_flight(engine) and not teams.failures, "a post in flight", tmp_path)
        first.kill()  # SIGKILL while the post is in flight
        first.wait(10)
        second = start(teams, database_url, tmp_path, "second")
        try:
            # PostgreSQL: the dead sender's claim is taken over when its 60 s lease ends
            wait_for(lambda: settled(engine), "every row settled", tmp_path, timeout=150)
            time.sleep(1.5)  # a tick later: the manager's message, then nothing more
            wait_for(lambda: settled(engine), "the manager's message", tmp_path)
        finally:
            second.terminate()
            second.wait(15)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    rows = outbox(engine)
    copies = posted(teams)
    assert max(copies.values()) == 1  # never twice
    uncertain = [k for k, r in rows.items() if r.last_error == MAY_HAVE_LANDED]
    assert len(uncertain) == 1  # the post in flight at the kill: listed as failed, not resent
    assert copies[uncertain[0]] == 1 and rows[uncertain[0]].status == "failed"
    for key, row in rows.items():
        if row.recipient in people:
            assert copies[key] == 1 and (row.status == "sent" or key in uncertain), key
    unreachable = [r for r in rows.values() if r.recipient == absent]
    assert {r.status for r in unreachable} == {"failed"}
    assert all("not installed" in (r.last_error or "") for r in unreachable)
    told = [k for k in copies if k.startswith("unreachable:")]
    assert len(told) == 1 and rows[told[0]].recipient == manager  # told once
    [notice] = [a for a in teams.activities if a["channelData"]["kakehashiKey"] == told[0]]
    assert "could not send reminders" in card_text(notice)

    failed = run_kakehashi("jobs", "failed", env=env(teams, database_url), cwd=tmp_path)
    assert failed.stdout.count(f"→ teams:{absent}: not reachable on Teams") == EACH
    engine.dispose()


def test_an_update_after_a_restart_is_put_in_place_where_the_dm_landed(
    engine: Engine, teams: FakeTeams, database_url: str, tmp_path: Path
) -> None:
    _, aad = teams_person(engine, teams)
    with session_scope(engine) as session:
        for key, text, update_of in (("dm", "Accept?", None), ("dm:accepted", "Accepted", "dm")):
            enqueue(
                session=session,
                key=key,
                kind="handoff.dm",
                recipient=aad,
                payload=message_to_json(Message.plain(text)),
                at=NOW,
                update_of=update_of,
                platform="teams",
                not_before=NOW + timedelta(minutes=5 if update_of else 0),
            )
    run_due(teams, database_url, tmp_path, "2026-11-23T10:01+09:00")
    [dm] = teams.activities
    assert teams.updates == []
    run_due(teams, database_url, tmp_path, "2026-11-23T10:06+09:00")  # a new process
    [update] = teams.updates
    assert update["path"] == f"/v3/conversations/a:personal-{aad}/activities/{dm['id']}"
    assert "Accepted" in card_text(update) and len(teams.activities) == 1


def test_check_asks_the_issuer_for_a_token_and_says_when_it_cannot(
    database_url: str, teams: FakeTeams, tmp_path: Path
) -> None:
    done = run_kakehashi("check", env=env(teams, database_url), cwd=tmp_path)
    assert "ok   teams credentials: accepted" in done.stdout, done.stdout + done.stderr
    assert "skip slack: SLACK_BOT_TOKEN is not set" in done.stdout
    assert teams.token_requests[-1]["client_id"] == teams.settings()["TEAMS_CLIENT_ID"]

    away = {**env(teams, database_url), "TEAMS_LOGIN_URL": f"http://127.0.0.1:{free_port()}"}
    done = run_kakehashi("check", env=away, cwd=tmp_path)
    assert done.returncode == 1
    assert "FAIL teams credentials: Teams sign-in: ConnectError" in done.stdout
    assert teams.settings()["TEAMS_CLIENT_SECRET"] not in done.stdout + done.stderr


def test_slack_and_teams_in_one_process_each_send_their_own_rows(
    engine: Engine, teams: FakeTeams, slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    _, aad = teams_person(engine, teams)
    with session_scope(engine) as session:
        for key, recipient, platform in (("to-slack", "UCS", "slack"), ("to-teams", aad, "teams")):
            enqueue(
                session=session,
                key=key,
                kind="test",
                recipient=recipient,
                payload=message_to_json(Message.plain(key)),
                at=NOW,
                platform=platform,
            )
    both = {
        **env(teams, database_url),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
    }
    done = run_kakehashi(
        "jobs", "run-due", "--at", "2026-11-23T10:05+09:00", env=both, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert [m["text"] for m in slack.calls_to("chat.postMessage")] == ["to-slack"]
    assert list(posted(teams)) == ["to-teams"]
    assert {r.status for r in outbox(engine).values()} == {"sent"}


def test_a_403_not_installed_fails_with_the_reason_and_a_slack_manager_is_told_once(
    engine: Engine, teams: FakeTeams, slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        session.add(Person(user_id="UMANAGER", role=Role.MANAGER.value, locale="ja-JP"))
    _, aad = teams_person(engine, teams)
    enqueue_reminders(engine, [aad], each=2)
    teams.fail_next(*(Failure(403, "BotNotInConversationRoster") for _ in range(2)))
    both = {
        **env(teams, database_url),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
    }
    for when in ("2026-11-23T10:05+09:00", "2026-11-23T10:10+09:00"):
        done = run_kakehashi("jobs", "run-due", "--at", when, env=both, cwd=tmp_path)
        assert done.returncode == 0, done.stderr

    rows = outbox(engine)
    assert [rows[f"reminder:{aad}:{n}"].status for n in range(2)] == ["failed", "failed"]
    assert "403 BotNotInConversationRoster: the app is not installed" in str(
        rows[f"reminder:{aad}:0"].last_error
    )
    [told] = slack.calls_to("chat.postMessage")  # once, on Slack, in Japanese
    assert "Teams でリマインダーを送れませんでした" in json.dumps(told, ensure_ascii=False)
    assert teams.activities == []
