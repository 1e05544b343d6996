"""Processes and databases the benchmarks share: throwaway SQLite files and PostgreSQL databases,
the real `kakehashi run` process (and the minimal Bolt app) on a free port, the fake Slack Web
API in this process, signed requests, and resident memory read from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, make_url, text

from testkit.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
PG_SERVER = os.environ.get(
    "KAKEHASHI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_PREFIX = os.environ.get("KAKEHASHI_BENCH_PG_PREFIX", "kakehashi_bench")
"""Names of the throwaway PostgreSQL databases: another prefix keeps two runs apart."""
PG_RANDOM_PAGE_COST = 1.1
"""PostgreSQL's cost of a random page read for the benchmark databases: SSD storage."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- databases ---------------------------------------------------------------------------------


@dataclass
class Databases:
    """Throwaway databases for one backend, all removed by `drop_all`."""

    backend: str
    workdir: Path
    made: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / f'{name}.db'}"
        return make_url(PG_SERVER).set(database=f"{PG_PREFIX}_{name}").render_as_string(False)

    def create(self, name: str, template: str | None = None) -> str:
        """An empty database, or a copy of `template` (made earlier by `create`)."""
        url = self.url(name)
        if self.backend == "sqlite":
            path = self.workdir / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            if template is not None:
                shutil.copyfile(self.workdir / f"{template}.db", path)
            return url
        copy = f' TEMPLATE "{PG_PREFIX}_{template}"' if template else ""
        self._admin(f'DROP DATABASE IF EXISTS "{PG_PREFIX}_{name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{PG_PREFIX}_{name}"{copy}')
        # Planned as on SSD storage, as README's Operations recommends (PostgreSQL's default of
        # 4 assumes spinning disks); `random_page_cost` is per database, so the server's own
        # setting is left alone.
        self._admin(
            f'ALTER DATABASE "{PG_PREFIX}_{name}" SET random_page_cost = {PG_RANDOM_PAGE_COST}'
        )
        self.made.append(name)
        return url

    def exists(self, name: str) -> bool:
        if self.backend == "sqlite":
            return (self.workdir / f"{name}.db").exists()
        engine = create_engine(PG_SERVER)
        try:
            with engine.connect() as connection:
                found = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": f"{PG_PREFIX}_{name}"},
                ).first()
        finally:
            engine.dispose()
        if found:
            self.made.append(name)
        return found is not None

    def drop_all(self) -> None:
        for name in self.made:
            self._admin(f'DROP DATABASE IF EXISTS "{PG_PREFIX}_{name}" WITH (FORCE)')
        self.made.clear()

    @staticmethod
    def _admin(sql: str) -> None:
        engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()


def checkpoint(url: str) -> None:
    """Folds SQLite's write-ahead log into the file, so a copy of it is complete."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        engine.dispose()


# ---- the fake Slack ----------------------------------------------------------------------------


class TimedSlack(FakeSlack):
    """The project's fake Slack Web API, noting when each response_url post arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, float] = {}
        self.arrived = threading.Condition()

    def _dispatch(self, path: str, query: str, raw: bytes, headers: dict[str, str]) -> Any:
        reply = super()._dispatch(path, query, raw, headers)
        if path.startswith("/response/"):
            with self.arrived:
                self.arrivals[path] = time.perf_counter()
                self.arrived.notify_all()
        return reply

    def wait_arrivals(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.arrivals) < count and time.monotonic() < deadline:
                self.arrived.wait(0.2)
            return len(self.arrivals)

    def wait_arrived(self, paths: list[str], timeout: float) -> None:
        """Until a post has arrived at each of `paths`, at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while any(p not in self.arrivals for p in paths) and time.monotonic() < deadline:
                self.arrived.wait(0.2)


# ---- processes ---------------------------------------------------------------------------------


@dataclass
class Server:
    """A server process on 127.0.0.1:`port`, its output in `log`."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.log.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.log.name} not ready in {timeout}s")

    def memory(self) -> tuple[float, float]:
        """(resident now, peak resident) in MB, from /proc/PID/status: the process and its
        children (`kakehashi run`'s scheduler process) together."""
        now = peak = 0.0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            fields = {}
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                fields[key] = value.strip()
            now, peak = now + _mb(fields["VmRSS"]), peak + _mb(fields["VmHWM"])
        return now, peak

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def _mb(value: str) -> float:
    return int(value.split()[0]) / 1024


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "KAKEHASHI_", "DATABASE_URL", "PORT"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def start_kakehashi(
    database_url: str, slack: FakeSlack, workdir: Path, name: str, **settings: str
) -> Server:
    """The real `kakehashi run` (HTTP mode) against `slack`; settings override the defaults."""
    env = _env(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        **{"KAKEHASHI_TICK_SECONDS": "3600", **settings},
    )
    port = free_port()
    command = [sys.executable, "-m", "bot.cli", "run", "--port", str(port)]
    return _spawn(command, env, workdir, name, port)


def start_minimal_bolt(slack: FakeSlack, workdir: Path) -> Server:
    """`bench/minimal_bolt.py`: Bolt's AsyncApp on aiohttp acknowledging with a fixed text."""
    port = free_port()
    env = _env(
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_API_URL=slack.api_url,
        PORT=str(port),
    )
    command = [sys.executable, "-m", "bench.minimal_bolt"]
    return _spawn(command, env, workdir, "minimal_bolt", port)


def _spawn(command: list[str], env: dict[str, str], workdir: Path, name: str, port: int) -> Server:
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(proc, port, log)


@contextmanager
def running(server: Server, ready_path: str = "/healthz") -> Iterator[Server]:
    try:
        server.wait_ready(ready_path)
        yield server
    finally:
        server.stop()


def wait_until(condition: Callable[[], bool], what: str, timeout: float) -> float:
    """Polls `condition`; returns the seconds it took, raises when `timeout` passes first."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - started


def add_people(slack: FakeSlack, user_ids: tuple[str, ...]) -> None:
    zones = (("Asia/Tokyo", "ja-JP"), ("America/New_York", "en-US"), ("Europe/London", "en-GB"))
    for i, user_id in enumerate(user_ids, start=1):
        zone, locale = zones[i % 3]
        slack.add_user(user_id, tz=zone, locale=locale)
