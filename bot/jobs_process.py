"""The scheduler's process: `kakehashi run` answers requests in its own process and runs the
scheduler (its sweeps and the delivery engines) in a second one, which it starts, kicks, starts
again if it dies, and stops with itself.

Why two: in one interpreter a request's many short steps waited for the sweeps' and delivery's
computing (bench/RESULTS.md, benchmark 1: steady card p50 668 ms in one process, 29 ms in two, on
the same machine). The processes share only the database: SQLite's writers take turns across them
(`storage.sqlite_writers`), and PostgreSQL's replicas already shared it.

The parent speaks to the child on the child's standard input: first the settings (pickled, after
their length), then a byte whenever a request wrote to the outbox ("kick": send it now). The
child dies with the parent: Linux's parent-death signal (SIGKILL, so a killed `kakehashi run`
leaves nothing sending behind it), elsewhere when its standard input closes. Its metrics reach
the parent's `/metrics` through prometheus-client's multiprocess files (`ChildMetrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bot.runtime import Runtime
from bot.senders import kick_all, platform_deliveries
from bot.settings import Settings
from jobs.delivery import Delivery, expire_claims, pid_running

log = logging.getLogger(__name__)

RESTART_PAUSE = 5.0
"""Seconds before a scheduler process that died is started again."""
STOP_SECONDS = 20.0
"""How long a stopping scheduler process may take to finish the message it is sending."""
CHILD_FAMILIES = frozenset(
    {
        "kakehashi_deliveries_sent",
        "kakehashi_deliveries_retried",
        "kakehashi_deliveries_failed",
        "kakehashi_sweep_seconds",
        "kakehashi_crm_events_processed",
    }
)
"""The metrics the scheduler's process counts (`jobs.telemetry`); the parent counts the rest."""

METRICS_PREFIX = "kakehashi-metrics-"
READY = "scheduler process ready"
"""Logged once it has sent what was due at its start and its scheduler ticks."""
_LENGTH = struct.Struct("!I")
STDIN = 0


class JobsProcess:
    """The parent's handle on the scheduler's process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        remove_stale_metrics(Path(tempfile.gettempdir()))
        self.metrics_dir = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-")
        self.metrics = CollectorRegistry()
        """`/metrics`: this process's counters with the scheduler process's."""
        self.metrics.register(ChildMetrics(REGISTRY, self.metrics_dir))
        self._proc: subprocess.Popen[bytes] | None = None
        self._kicking = threading.Lock()
        self._stopping = False

    def start(self) -> None:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.jobs_process", str(os.getpid())],
            stdin=subprocess.PIPE,
            env=env,
        )
        assert proc.stdin is not None
        settings = pickle.dumps(self.settings)
        proc.stdin.write(_LENGTH.pack(len(settings)) + settings)
        proc.stdin.flush()
        self._proc = proc
        log.info("scheduler process started (pid %d)", proc.pid)

    def kick(self) -> None:
        """Tells the scheduler's process the outbox has new rows (from any thread). Lost while
        it is being started again: a new one sends what is due as it starts."""
        with self._kicking:
            proc = self._proc
            if proc is None or proc.stdin is None:
                return
            try:
                proc.stdin.write(b"k")
                proc.stdin.flush()
            except (OSError, ValueError):  # it has died; `keep_running` starts it again
                pass

    async def keep_running(self, every: float = 1.0) -> None:
        """Starts the scheduler's process again whenever it dies, until `stop`."""
        while not self._stopping:
            await asyncio.sleep(every)
            proc = self._proc
            if proc is None or proc.poll() is None or self._stopping:
                continue
            log.error(
                "the scheduler process (pid %d) exited with %s; starting it again in %.0f s",
                proc.pid,
                proc.returncode,
                RESTART_PAUSE,
            )
            with self._kicking, contextlib.suppress(OSError):  # its pipe: nobody reads it
                if proc.stdin is not None:
                    proc.stdin.close()
            await asyncio.sleep(RESTART_PAUSE)
            if not self._stopping:
                self.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM: it finishes the message it is sending and exits; killed after `timeout`."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the scheduler process did not stop in %.0f s; killed", timeout)
                proc.kill()
                proc.wait()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def remove_stale_metrics(folder: Path) -> None:
    """Removes the metrics folders of `kakehashi run` processes that are gone (killed: they
    could not remove their own)."""
    for stale in folder.glob(f"{METRICS_PREFIX}*-*"):
        pid = stale.name.removeprefix(METRICS_PREFIX).split("-")[0]
        if pid.isdigit() and not pid_running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


class ChildMetrics(Collector):
    """What `/metrics` shows: this process's metrics, except those the scheduler's process
    counts, which come from its multiprocess files instead."""

    def __init__(self, own: Collector, metrics_dir: str) -> None:
        self.own = own
        self.child = MultiProcessCollector(None, metrics_dir)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for family in self.own.collect():
            if family.name not in CHILD_FAMILIES:
                yield family
        for family in self.child.collect():  # type: ignore[no-untyped-call]
            if family.name in CHILD_FAMILIES:
                yield family


# ---- the child ----------------------------------------------------------------------------------


def _die_with(parent: int) -> None:
    """SIGKILL when the parent dies (Linux); elsewhere the closed standard input tells."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(1)


def _read_settings(fd: int) -> Settings:
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))
    settings: Settings = pickle.loads(_read_exactly(fd, length))  # from the parent's own pipe
    return settings


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise SystemExit("kakehashi: the scheduler process was started without its settings")
        data += chunk
    return data


def _read_kicks(fd: int, kick: Callable[[], None], closed: Callable[[], None]) -> None:
    """Every byte (or run of bytes) read is a kick; the end of the stream means the parent is
    gone. Read from the file descriptor itself: a thread blocked in a buffered reader would
    hold its lock as the interpreter exits."""
    while os.read(fd, 4096):
        kick()
    closed()


def start_delivery(settings: Settings, runtime: Runtime) -> list[Delivery]:
    """The delivery engines (Slack's, Teams', or both), kicked after every request that wrote
    to the outbox and once now (for what was owed while the process was down)."""
    deliveries = platform_deliveries(settings, runtime.engine)
    if runtime.engine.dialect.name == "sqlite":  # one process sends: its old claims are dead
        expire_claims(engine=runtime.engine, now=runtime.clock.now())
    runtime.on_outbox = kick_all(deliveries, runtime.clock)
    runtime.on_outbox()
    return deliveries


async def _run(settings: Settings) -> None:
    from bot.jobs_main import sweeps
    from bot.server import build_runtime  # bot.server imports this module
    from jobs.scheduler import start_scheduler
    from jobs.tick import run_sweeps

    runtime = await asyncio.to_thread(build_runtime, settings)
    deliveries = await asyncio.to_thread(start_delivery, settings, runtime)
    ticks = sweeps(runtime, *deliveries)
    scheduler = start_scheduler(
        lambda: run_sweeps(ticks, runtime.clock.now()), seconds=settings.tick_seconds
    )
    log.info("%s, sweeping every %d s", READY, settings.tick_seconds)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C reaches the whole process group
        loop.add_signal_handler(sig, stopped.set)
    threading.Thread(
        target=_read_kicks,
        args=(STDIN, runtime.on_outbox, lambda: loop.call_soon_threadsafe(stopped.set)),
        name="kicks",
        daemon=True,
    ).start()
    try:
        await stopped.wait()
    finally:  # asyncio.run then waits for a sweep running: delivery ends after its message
        for delivery in deliveries:
            delivery.stop()
        scheduler.shutdown(wait=False)


NICE = 10
"""The scheduler's process yields the processor to the request process: its sweeps can wait a
few milliseconds, a person waiting for a card should not."""


def main() -> int:
    _die_with(int(sys.argv[1]))
    os.nice(NICE)
    from bot import logs
    from bot.redact import install_log_redaction

    settings = _read_settings(STDIN)
    install_log_redaction()
    logs.configure(level=logging.INFO, log_format=settings.log_format)
    asyncio.run(_run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
