"""`kakehashi run` runs the scheduler in a process of its own (`bot.jobs_process`): the real
process is started, its scheduler's process found from its log line, and both are stopped,
killed and killed apart; a request that wrote to the outbox kicks delivery at once."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.jobs_process import METRICS_PREFIX, READY, remove_stale_metrics
from storage.db import make_engine, upgrade
from storage.people import Role
from testkit.fake_slack import FakeSlack
from testkit.signing import signed_headers, slash_command_body, view_submission_body
from tests.conftest import SECRET
from tests.factories import make_person
from tests.handoff_data import form_values
from tests.test_operations import Running, enqueue_one, kakehashi_env
from tests.test_slack_handoff import state

STARTED = re.compile(r"scheduler process started \(pid (\d+)\)")

pytestmark = pytest.mark.system_clock_process


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        make_person(session, user_id="UCS", name="aiko", role=Role.CS)
        make_person(session, user_id="USALES", name="kenji", role=Role.SALES)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def run(engine: Engine, database_url: str, slack: FakeSlack, tmp_path: Path) -> Iterator[Running]:
    """`kakehashi run` serving, on the seeded database."""
    running = Running(kakehashi_env(database_url, slack.api_url), tmp_path)
    try:
        assert running.get("/healthz").status_code == 200
        yield running
    finally:
        running.stop()


def scheduler_pids(run: Running) -> list[int]:
    return [int(pid) for pid in STARTED.findall(run.log.read_text(errors="replace"))]


def started_scheduler(run: Running, count: int = 1) -> int:
    run.wait_for(lambda: len(scheduler_pids(run)) >= count, "the scheduler process starting")
    return scheduler_pids(run)[count - 1]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_killed_kakehashi_run_leaves_no_scheduler_sending_behind_it(run: Running) -> None:
    child = started_scheduler(run)
    assert alive(child)
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait(10)
    assert gone(child), "the scheduler process outlived kakehashi run"


def test_sigterm_stops_both_processes(run: Running) -> None:
    child = started_scheduler(run)
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0
    assert gone(child, 1)
    assert "exited with" not in run.output()  # stopped, not lost


def test_a_scheduler_process_that_dies_is_started_again_and_delivers(
    run: Running, database_url: str, slack: FakeSlack
) -> None:
    first = started_scheduler(run)
    os.kill(first, signal.SIGKILL)
    second = started_scheduler(run, 2)
    assert second != first and alive(second)
    assert f"scheduler process (pid {first}) exited with -9" in run.output()
    enqueue_one(database_url, "reminder:after-restart")
    run.wait_for(lambda: slack.messages("DUCS"), "the delivery after the restart")
    time.sleep(1.5)  # a tick more: sent once
    assert [m["text"] for m in slack.messages("DUCS")] == ["a reminder"]


def test_a_request_that_wrote_to_the_outbox_is_delivered_before_the_next_tick(
    engine: Engine, database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    """The handoff's DM to the CS owner goes out as soon as the form is submitted, though the
    scheduler ticks only once an hour: the request process kicks the scheduler's process."""
    env = {**kakehashi_env(database_url, slack.api_url), "KAKEHASHI_TICK_SECONDS": "3600"}
    run = Running(env, tmp_path)
    try:
        assert run.get("/healthz").status_code == 200
        # past its start, where it sends what is due: from now on only a kick sends
        run.wait_for(lambda: READY in run.output(), "the scheduler ready")
        view = asyncio.run(open_form(run, slack))
        body = view_submission_body(
            "USALES",
            str(view["callback_id"]),
            state(view, dict(form_values())),
            private_metadata=str(view["private_metadata"]),
        )
        assert post(run, body).status_code == 200
        run.wait_for(lambda: slack.messages("DUCS"), "the CS owner's DM", timeout=10)
    finally:
        run.stop()


async def open_form(run: Running, slack: FakeSlack) -> dict[str, object]:
    body = slash_command_body(
        "/handoff", "", "USALES", trigger_id="t-1", response_url=slack.new_response_url()
    )
    assert post(run, body).status_code == 200
    opened = await slack.await_for("views.open")
    view: dict[str, object] = json.loads(json.dumps(opened[0]["view"]))
    return view


def post(run: Running, body: str) -> httpx.Response:
    return httpx.post(
        f"{run.url}/slack/events",
        content=body.encode(),
        headers=signed_headers(body, SECRET),
        timeout=10,
    )


def test_metrics_folders_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    """A killed `kakehashi run` cannot remove its metrics folder; the next one does."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    stale = tmp_path / f"{METRICS_PREFIX}{ended.pid}-abc"
    live = tmp_path / f"{METRICS_PREFIX}{os.getpid()}-def"
    unrelated = tmp_path / "kakehashi-metrics-notes"
    for folder in (stale, live, unrelated):
        folder.mkdir()
    remove_stale_metrics(tmp_path)
    assert not stale.exists() and live.exists() and unrelated.exists()
