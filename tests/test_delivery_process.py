"""Real `kakehashi run` processes (HTTP mode) delivering to a fake Slack in this test process:
killed with SIGKILL in the middle of sending, restarted, and still every message exactly once;
two processes sharing one PostgreSQL database, each message once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, func, select

from commands.ui import Message, message_to_json
from jobs.delivery import DELIVERY_EVENT, this_process
from storage.db import make_engine, session_scope, upgrade
from storage.outbox import OutboxMessage, enqueue
from testkit.fake_slack import FakeSlack
from tests.conftest import PG_URL, SECRET, TOKEN, free_port, pg_url

COUNT = 200
USERS = [f"U{i:04d}" for i in range(COUNT)]


class SlowSlack(FakeSlack):
    """Answers each post a little late; post number `hold_at` is stored and then not answered
    until `release` is set: the sender is killed while it waits for that answer."""

    def __init__(self, hold_at: int = 0) -> None:
        super().__init__()
        self.hold_at = hold_at
        self.posted = 0
        self.held = threading.Event()
        self.release = threading.Event()
        self.held_channel = ""

    def _chat_post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = super()._chat_post_message(body)
        self.posted += 1
        if self.posted == self.hold_at:
            self.held_channel = reply["channel"]
            self.held.set()
            self.release.wait(30)
        else:
            time.sleep(0.005)
        return reply


def enqueue_all(engine: Engine) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        for i, user in enumerate(USERS):
            enqueue(
                session=session,
                key=f"reminder:{i}",
                kind="reminder",
                recipient=user,
                payload=message_to_json(Message.plain(f"reminder {i}")),
                at=now,
            )


def start(
    database_url: str, slack: FakeSlack, workdir: Path, name: str, port: int | None = None
) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "KAKEHASHI_", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        KAKEHASHI_TICK_SECONDS="1",
        KAKEHASHI_SEND_RATE="50",
        PYTHONPATH=str(Path(__file__).parent.parent),
    )
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--port", str(port or free_port())],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def pending(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.status) != "sent")
        ).one()


def wait_until(
    condition: Any,
    what: str,
    timeout: float,
    procs: list[subprocess.Popen[bytes]],
    workdir: Path,
    engine: Engine,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            logs = "\n".join(
                f"--- {f.name}\n{f.read_text()[-3000:]}" for f in sorted(workdir.glob("*.log"))
            )
            with Session(engine) as session:
                unsent = session.exec(
                    select(OutboxMessage).where(col(OutboxMessage.status) != "sent")
                ).all()
            rows = "\n".join(
                f"{r.key} {r.status} {r.attempts} {r.not_before} {r.claimed_until} {r.last_error}"
                for r in unsent[:20]
            )
            raise AssertionError(f"{what} did not happen\n{logs}\n--- not sent\n{rows}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def delivered(slack: FakeSlack) -> Counter[str]:
    keys: Counter[str] = Counter()
    for user in USERS:
        for m in slack.messages(user):
            assert m["metadata"]["event_type"] == DELIVERY_EVENT
            keys[m["metadata"]["event_payload"]["key"]] += 1
    return keys


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.system_clock_process
def test_killed_mid_sending_and_restarted_every_message_arrives_exactly_once(
    workdir: Path,
) -> None:
    url = f"sqlite:///{workdir / 'kakehashi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    enqueue_all(engine)
    with SlowSlack(hold_at=60) as slack:
        slack.rate_limit(per_channel_per_second=1.0, workspace_per_second=40.0)
        first = start(url, slack, workdir, "first")
        try:
            wait_until(slack.held.is_set, "the 60th post", 60, [first], workdir, engine)
            first.send_signal(signal.SIGKILL)  # Slack has the post; the sender never hears so
            first.wait(10)
        finally:
            slack.release.set()
            stop(first)
        assert 0 < pending(engine) < COUNT

        second = start(url, slack, workdir, "second")
        try:
            wait_until(
                lambda: pending(engine) == 0, "delivery of all 200", 90, [second], workdir, engine
            )
        finally:
            stop(second)

        assert delivered(slack) == Counter({f"reminder:{i}": 1 for i in range(COUNT)})
        # The message whose answer was lost was looked for, found, and not posted again.
        looked = [c["channel"] for c in slack.calls_to("conversations.history")]
        assert slack.held_channel in looked
        assert slack.rejections == []
    engine.dispose()


@pytest.fixture
def shared_pg(pg_engine: Engine) -> Iterator[str]:
    from tests.conftest import _truncate

    _truncate(pg_engine)
    yield pg_url()
    _truncate(pg_engine)


@pytest.mark.skipif(not PG_URL, reason="needs KAKEHASHI_TEST_DATABASE_URL (PostgreSQL)")
def test_two_processes_sharing_postgresql_send_each_message_once(
    shared_pg: str, workdir: Path
) -> None:
    engine = make_engine(shared_pg)
    enqueue_all(engine)
    with SlowSlack() as slack:
        procs = [start(shared_pg, slack, workdir, name) for name in ("one", "two")]
        try:
            wait_until(
                lambda: pending(engine) == 0, "delivery of all 200", 90, procs, workdir, engine
            )
        finally:
            for proc in procs:
                stop(proc)
        assert delivered(slack) == Counter({f"reminder:{i}": 1 for i in range(COUNT)})
    engine.dispose()


@pytest.mark.system_clock_process
def test_start_up_on_sqlite_leaves_the_claims_of_a_live_sender_alone(workdir: Path) -> None:
    """`kakehashi run` starting while `kakehashi jobs run-due` sends: the rows that process
    holds are not taken over (they would go twice), only those of a process that is gone."""
    url = f"sqlite:///{workdir / 'kakehashi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host = this_process().rpartition(":")[0]
    holders = {"reminder:live": f"{host}:{live.pid}", "reminder:gone": f"{host}:{gone.pid}"}
    with session_scope(engine) as session:
        for i, key in enumerate([*holders, "reminder:free"]):
            enqueue(
                session=session,
                key=key,
                kind="reminder",
                recipient=USERS[i],
                payload=message_to_json(Message.plain(key)),
                at=now,
            )
        for key, holder in holders.items():
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.key) == key)
                .values(claimed_until=now + timedelta(seconds=60), claimed_by=holder)
            )
    try:
        with FakeSlack() as slack:
            proc = start(url, slack, workdir, "run")
            try:
                wait_until(
                    lambda: pending(engine) == 1, "the free rows", 30, [proc], workdir, engine
                )
                time.sleep(2)  # two more ticks
            finally:
                stop(proc)
            assert [m["text"] for m in slack.messages(USERS[0])] == []
            assert [m["text"] for m in slack.messages(USERS[1])] == ["reminder:gone"]
            assert [m["text"] for m in slack.messages(USERS[2])] == ["reminder:free"]
    finally:
        live.kill()
        live.wait()
    engine.dispose()
