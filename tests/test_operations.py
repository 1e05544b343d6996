"""What the people who run Kakehashi see (PRODUCT §15): `/metrics` and `/healthz` of the real
`kakehashi run` process, start-up that stops on rejected credentials and waits out an
unreachable Slack, and the command line's one-line errors."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from bot.health import SlackHealth
from bot.runtime import Runtime
from bot.server import serve
from bot.settings import Settings
from bot.slack import web_app
from commands.ui import Message, message_to_json
from storage.db import make_engine, session_scope, upgrade
from storage.outbox import OutboxMessage, enqueue
from testkit.fake_slack import FakeSlack
from testkit.signing import signed_headers, slash_command_body
from tests.conftest import (
    SECRET,
    TOKEN,
    clean_environ,
    free_port,
    make_settings,
    run_kakehashi,
    socket_mode_peer,
)

ROOT = Path(__file__).parent.parent
REMINDER = (("kind", "reminder"),)


def kakehashi_env(database_url: str, api_url: str, **extra: str) -> dict[str, str]:
    env = clean_environ()
    env.update(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api_url,
        KAKEHASHI_TICK_SECONDS="1",
        KAKEHASHI_SEND_RATE="50",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


class Running:
    """A real `kakehashi run` in HTTP mode on a free port."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"run-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--port", str(self.port)],
            env=env,
            cwd=cwd,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str) -> httpx.Response:
        deadline = time.monotonic() + 30
        while True:
            try:
                return httpx.get(f"{self.url}{path}", timeout=5)
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"kakehashi run did not serve:\n{self.output()}") from None
                time.sleep(0.1)

    def wait_for(self, condition: object, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{what} did not happen:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def running(database_url: str, slack: FakeSlack, tmp_path: Path) -> Iterator[Running]:
    run = Running(kakehashi_env(database_url, slack.api_url), tmp_path)
    yield run
    run.stop()


def metrics(run: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, by name and labels."""
    response = run.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def enqueue_one(database_url: str, key: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with session_scope(engine) as session:
        enqueue(
            session=session,
            key=key,
            kind="reminder",
            recipient="UCS",
            payload=message_to_json(Message.plain("a reminder")),
            at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    engine.dispose()


@pytest.mark.system_clock_process
def test_metrics_count_exactly_the_commands_and_the_delivery(
    running: Running, slack: FakeSlack, database_url: str
) -> None:
    assert running.get("/healthz").status_code == 200
    before = metrics(running)
    assert before[("kakehashi_deliveries_waiting", (("kind", "reminder"),))] == 0
    assert ("kakehashi_build_info", (("version", version("kakehashi")),)) in before

    for command, user in (
        ("/kakehashi", "UMANAGER"),
        ("/kakehashi", "UCS"),
        ("/portfolio", "USALES"),
    ):
        body = slash_command_body(
            command, "help", user_id=user, response_url=slack.new_response_url()
        )
        posted = httpx.post(
            f"{running.url}/slack/events",
            content=body.encode(),
            headers=signed_headers(body, SECRET),
            timeout=10,
        )
        assert posted.status_code == 200
    slack.wait_for("response_url", count=3, timeout=15)
    enqueue_one(database_url, "reminder:metrics")
    running.wait_for(lambda: slack.messages("DUCS"), "the delivery")

    def moved() -> bool:
        after = metrics(running)
        return (
            after.get(("kakehashi_deliveries_sent_total", REMINDER), 0) == 1
            and after.get(("kakehashi_answer_seconds_count", (("kind", "command"),)), 0) == 3
            # counted by the scheduler's process once the sweep that sent it has ended
            and after.get(("kakehashi_sweep_seconds_count", (("sweep", "delivery"),)), 0) >= 1
        )

    running.wait_for(moved, "the counters moving")
    after = metrics(running)
    handled = {
        labels: value
        for (name, labels), value in after.items()
        if name == "kakehashi_requests_total"
    }
    assert handled == {
        (("kind", "command"), ("name", "/kakehashi"), ("outcome", "ok")): 2.0,
        (("kind", "command"), ("name", "/portfolio"), ("outcome", "refused")): 1.0,
    }
    assert after[("kakehashi_ack_seconds_count", (("kind", "command"),))] == 3
    for name, value in after.items():  # nothing else was sent, retried or failed
        if name[0].startswith("kakehashi_deliveries_") and name[0].endswith("_total"):
            assert value == (1 if name == ("kakehashi_deliveries_sent_total", REMINDER) else 0)
    assert after[("kakehashi_deliveries_waiting", REMINDER)] == 0
    assert ("kakehashi_crm_events_received_total", ()) not in after  # nothing received yet


# ---- /healthz ------------------------------------------------------------------------------


async def serving(settings: Settings, **kwargs: Any) -> tuple[asyncio.Task[None], str]:
    """`serve` in this process (as `kakehashi run` runs it), once `/healthz` answers."""
    port = free_port()
    task = asyncio.create_task(serve(settings, port=port, host="127.0.0.1", **kwargs))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if task.done():
                await task
            try:
                await http.get(f"{url}/healthz")
                return task, url
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError("kakehashi did not serve")


async def health_until(url: str, status: int, timeout: float = 15) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        for _ in range(int(timeout / 0.1)):
            response = await http.get(f"{url}/healthz")
            if response.status_code == status:
                body: dict[str, Any] = response.json()
                return body
            await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered {status}: {response.json()}")


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_healthz_says_503_when_slack_rejects_the_bot_token(
    database_url: str, slack: FakeSlack
) -> None:
    settings = make_settings(database_url, slack.api_url)
    task, url = await serving(settings, slack_check_seconds=0.2)
    try:
        assert await health_until(url, 200) == {"ok": True, "database": "up"}
        slack.rejected_tokens.add(TOKEN)  # revoked while running
        assert await health_until(url, 503) == {
            "ok": False,
            "database": "up",
            "slack": "bot token rejected",
        }
        slack.rejected_tokens.clear()  # a new install, same token
        assert (await health_until(url, 200))["ok"] is True
    finally:
        await stopped(task)


async def test_healthz_says_503_when_socket_mode_is_disconnected(
    database_url: str, slack: FakeSlack
) -> None:
    links: list[web.WebSocketResponse] = []
    refuse = asyncio.Event()

    async def socket(request: web.Request) -> web.StreamResponse:
        if refuse.is_set():
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        links.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1})
        async for _message in ws:
            pass
        return ws

    settings = make_settings(database_url, slack.api_url, SLACK_APP_TOKEN="xapp-1-test")
    async with socket_mode_peer(slack, socket):
        task, url = await serving(settings)
        try:
            assert (await health_until(url, 200))["ok"] is True
            refuse.set()  # Slack drops the socket, and will not take it back for now
            await links[0].close()
            assert await health_until(url, 503) == {
                "ok": False,
                "database": "up",
                "socket_mode": "disconnected",
            }
        finally:
            await stopped(task)


async def test_healthz_says_503_when_the_database_is_down(
    runtime: Runtime, slack: FakeSlack
) -> None:
    down = replace(
        runtime,
        engine=make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"),
    )
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    runner = web.AppRunner(web_app(down, None, SlackHealth(client)))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        body = await health_until(f"http://127.0.0.1:{port}", 503)
        assert body == {"ok": False, "database": "down"}
    finally:
        await runner.cleanup()


# ---- start-up ------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"])
def test_a_rejected_token_stops_start_up_with_one_line(
    variable: str, database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    socket_mode = {"SLACK_APP_TOKEN": "xapp-1-revoked"} if variable == "SLACK_APP_TOKEN" else {}
    env = kakehashi_env(database_url, slack.api_url, **socket_mode)  # else HTTP mode
    slack.rejected_tokens.add(env[variable])
    done = run_kakehashi("run", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"kakehashi: {variable} was rejected by Slack (invalid_auth)")
    assert env[variable] not in done.stderr


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_an_unreachable_slack_is_retried_while_the_scheduler_runs(
    mode: str, database_url: str, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    socket_mode = {"SLACK_APP_TOKEN": "xapp-1-test"} if mode == "socket" else {}
    run = Running(kakehashi_env(database_url, nowhere, **socket_mode), tmp_path)
    try:
        expected = {"ok": False, "database": "up", "slack": "unreachable"}
        if mode == "socket":
            expected["socket_mode"] = "disconnected"
        assert run.get("/healthz").json() == expected

        def swept_twice() -> bool:
            found = metrics(run).get(("kakehashi_sweep_seconds_count", (("sweep", "reminders"),)))
            return (found or 0) >= 2

        run.wait_for(swept_twice, "two scheduler ticks")
        assert "Traceback" not in run.output()
        assert run.output().count("Slack cannot be reached") == 1
    finally:
        run.stop()


# ---- the port ------------------------------------------------------------------------------


def test_a_port_in_use_or_out_of_range_is_one_line(
    database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    env = kakehashi_env(database_url, slack.api_url)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_kakehashi("run", "--port", str(port), env=env, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1,
        f"kakehashi: cannot listen on port {port}: it is in use by another program; "
        "stop it, or choose another with --port or PORT\n",
    )
    out_of_range = "must be a number from 1 to 65535, got"
    for args, env_port, message in (
        (["--port", "70000"], None, f"kakehashi: --port {out_of_range} 70000"),
        ([], "0", f'kakehashi: PORT {out_of_range} "0"'),
    ):
        done = run_kakehashi("run", *args, env={**env, **({"PORT": env_port} if env_port else {})},
                         cwd=tmp_path)  # fmt: skip
        assert (done.returncode, done.stderr) == (2, message + "\n")


# ---- jobs run-due --------------------------------------------------------------------------


def test_run_due_with_slack_unreachable_says_what_stays_queued(
    database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    enqueue_one(database_url, "reminder:1")
    enqueue_one(database_url, "reminder:2")
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    done = run_kakehashi("jobs", "run-due", env=kakehashi_env(database_url, nowhere), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "kakehashi: Slack cannot be reached (URLError); nothing was sent: 2 due message(s) stay "
        "queued, and reminders and agendas due are found again by the next run-due or by "
        "kakehashi run\n"
    )
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
        assert [(r.status, r.attempts) for r in rows] == [("pending", 0), ("pending", 0)]
    engine.dispose()

    slack.rejected_tokens.add(TOKEN)
    env = kakehashi_env(database_url, slack.api_url)
    done = run_kakehashi("jobs", "run-due", env=env, cwd=tmp_path)
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [
            "kakehashi: SLACK_BOT_TOKEN was rejected by Slack (invalid_auth): copy the Bot User "
            "OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
        ],
    )
    slack.rejected_tokens.clear()
    done = run_kakehashi("jobs", "run-due", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


# ---- logs ----------------------------------------------------------------------------------


@pytest.mark.system_clock_process
def test_json_logs_are_one_object_a_line_without_secrets_or_typed_text(
    database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    typed = "<!channel> 秘密の値引き'; DROP TABLE accounts;--"
    run = Running(kakehashi_env(database_url, slack.api_url, KAKEHASHI_LOG_FORMAT="json"), tmp_path)
    try:
        assert run.get("/healthz").status_code == 200
        body = slash_command_body(
            "/promise", f"ACME: {typed}", user_id="UNKNOWN1", response_url=slack.new_response_url()
        )
        httpx.post(
            f"{run.url}/slack/events",
            content=body.encode(),
            headers=signed_headers(body, SECRET),
            timeout=10,
        )
        slack.wait_for("response_url", timeout=15)
        enqueue_one(database_url, "reminder:logged")
        run.wait_for(lambda: "reminder:logged" in run.output(), "the delivery's log line")
    finally:
        run.stop()
    lines = [json.loads(line) for line in run.log.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    about_person = [line for line in lines if line.get("person") == "UNKNOWN1"]
    assert about_person and about_person[0]["command"] == "/promise"
    assert len(about_person[0]["request"]) == 12
    delivered = [line for line in lines if line.get("delivery") == "reminder:logged"]
    assert delivered and delivered[0]["message"].startswith("delivered reminder reminder:logged")
    text = run.log.read_text()
    for never in (TOKEN, SECRET, "秘密", "DROP TABLE", "<!channel>"):
        assert never not in text


def test_an_unknown_log_format_stops_start_up(database_url: str, tmp_path: Path) -> None:
    env = kakehashi_env(database_url, "http://127.0.0.1:9/api/", KAKEHASHI_LOG_FORMAT="xml")
    done = run_kakehashi("run", env=env, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        'kakehashi: KAKEHASHI_LOG_FORMAT must be text or json, got "xml"\n',
    )
