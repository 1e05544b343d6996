"""Shared fixtures: databases (SQLite always, PostgreSQL when KAKEHASHI_TEST_DATABASE_URL is set),
the fake Slack Web API, the real Bolt app behind a real HTTP server, and the shell."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import Session, SQLModel

from bot.after_ack import AfterAck
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from bot.shell import Shell
from bot.shell_main import open_shell
from bot.slack import SlackDirectory, build_app, web_app
from commands.context import FixedClock
from commands.registry import build_registry
from storage.db import make_engine, upgrade
from testkit.fake_slack import FakeSlack
from testkit.signing import signed_headers

PG_URL = os.environ.get("KAKEHASHI_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 in Tokyo


def pg_url() -> str:
    """The test database; each pytest-xdist worker gets its own, beside the one given."""
    assert PG_URL
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = url.set(database=f"{url.database}_{worker}")
    return url.render_as_string(hide_password=False)


def _worker_database(url: str, *, create: bool) -> None:
    """(Re)creates a worker's own database, or drops it once the worker is done."""
    target = make_url(url)
    assert PG_URL
    server = create_engine(
        make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        if create:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: every test starts from a fresh database."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    url = pg_url()
    worker = bool(os.environ.get("PYTEST_XDIST_WORKER"))
    if worker:
        _worker_database(url, create=True)
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    if worker:  # the machine keeps no database per worker after the run
        _worker_database(url, create=False)


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "kakehashi.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    engine = request.getfixturevalue("pg_engine")
    yield pg_url()
    _truncate(engine)


def _truncate(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back when the test ends."""
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
        transaction.rollback()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("UMANAGER", name="mika", tz="Asia/Tokyo", locale="ja-JP")
        fake.add_user("USALES", name="kenji", tz="Asia/Tokyo", locale="en-US")
        fake.add_user("UCS", name="aiko", tz="Asia/Tokyo", locale="ja-JP")
        fake.add_user("UCS2", name="ben", tz="America/New_York", locale="en-US")
        fake.add_user("UBOTUSER", name="otherbot", is_bot=True)
        yield fake


def make_settings(
    database_url: str, api_url: str = "http://127.0.0.1:9/api/", **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
        "KAKEHASHI_MANAGERS": "UMANAGER",
        **extra,
    }
    return load_settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return make_settings(database_url, slack.api_url)


@pytest.fixture
def runtime(settings: Settings, engine: Engine, clock: FixedClock) -> Runtime:
    from storage.db import session_scope
    from storage.people import seed_managers

    with session_scope(engine) as s:
        seed_managers(session=s, user_ids=settings.managers, at=clock.now())
    directory = SlackDirectory(WebClient(token=TOKEN, base_url=settings.slack_api_url))
    return Runtime(
        settings=settings,
        engine=engine,
        registry=build_registry(),
        clock=clock,
        directory=directory,
    )


@dataclass
class SlackServer:
    """The real Bolt app behind a real HTTP server on a free port."""

    url: str
    http: httpx.AsyncClient
    slack: FakeSlack

    async def post(
        self,
        body: str,
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = headers if headers is not None else signed_headers(body, secret, timestamp)
        return await self.http.post(f"{self.url}/slack/events", content=body.encode(), headers=sent)

    async def reply_to(self, response_url: str, timeout: float = 5.0) -> dict[str, Any]:
        """The first message posted to `response_url` (the command's ephemeral reply)."""
        path = response_url.removeprefix(self.slack.url)
        for _ in range(int(timeout / 0.02)):
            posted = [c.body for c in self.slack.calls if c.path == path]
            if posted:
                return posted[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"nothing was posted to {response_url}: {self.slack.calls}")


@asynccontextmanager
async def serve_app(runtime: Runtime, slack: FakeSlack) -> AsyncIterator[SlackServer]:
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    after_ack = AfterAck()
    runner = web.AppRunner(web_app(runtime, build_app(runtime, client, after_ack)))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield SlackServer(url=f"http://127.0.0.1:{port}", http=http, slack=slack)
    finally:
        await runner.cleanup()
        after_ack.shutdown()


@pytest.fixture
async def server(runtime: Runtime, slack: FakeSlack) -> AsyncIterator[SlackServer]:
    async with serve_app(runtime, slack) as running:
        yield running


def clean_environ() -> dict[str, str]:
    """This process's environment without any Kakehashi setting, for a real `kakehashi` process
    that gets only the settings a test gives it."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "KAKEHASHI_", "DATABASE_URL", "PORT"))
    }


def run_kakehashi(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real command line, with only the settings given (no `.env`, nothing inherited)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**clean_environ(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def socket_mode_peer(slack: FakeSlack, socket: Any) -> AsyncIterator[None]:
    """Slack's Socket Mode server on a free port (`apps.connections.open` points at it), whose
    connections `socket` answers."""
    peer = web.Application()
    peer.router.add_get("/link", socket)
    runner = web.AppRunner(peer)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    slack.socket_url = f"ws://127.0.0.1:{port}/link"
    try:
        yield
    finally:
        await runner.cleanup()


@dataclass
class ShellSession:
    shell: Shell
    out: io.StringIO

    def run(self, *lines: str) -> str:
        """Types the lines (commands, answers to prompts); returns what the shell printed."""
        start = self.out.tell()
        self.shell.inp = io.StringIO("".join(f"{line}\n" for line in lines))
        self.shell.consume()
        self.out.seek(start)
        printed = self.out.read()
        self.out.seek(0, io.SEEK_END)
        return printed


@pytest.fixture
def shell(database_url: str, clock: FixedClock) -> Iterator[ShellSession]:
    out = io.StringIO()
    shell = open_shell(
        make_settings(database_url),
        user=None,
        demo_data=True,
        out=out,
        inp=io.StringIO(),
        clock=clock,
    )
    yield ShellSession(shell=shell, out=out)
    shell.runtime.engine.dispose()


@pytest.fixture
def cli_env(
    database_url: str, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """`kakehashi …` in-process on the test database, talking to the fake Slack."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith(("SLACK_", "KAKEHASHI_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("KAKEHASHI_SEND_RATE", "100")
    yield


# ---- the wall clock ---------------------------------------------------------------------------
# `pytest --wall-clock 2026-12-07T09:30+09:00` runs the suite with this process's wall clock
# (time.time, datetime.now) moved to that instant and ticking, as CI's second run does: a test
# that reads the wall clock where it should use an injected one fails at some hour.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wall-clock",
        metavar="ISO-8601",
        help="run with the wall clock moved to this instant (time-machine), e.g. a Tokyo Monday",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "system_clock_process: talks to a `kakehashi run` process that, like production, runs "
        "on the machine's real clock (not moved by --wall-clock)",
    )
    at = config.getoption("--wall-clock")
    if at:
        import time_machine

        traveller = time_machine.travel(datetime.fromisoformat(at), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--wall-clock"):
        return
    why = pytest.mark.skip(reason="its `kakehashi run` process keeps the real clock")
    for item in items:
        if item.get_closest_marker("system_clock_process"):
            item.add_marker(why)
