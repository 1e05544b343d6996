"""Wiring for `kakehashi shell`: the same runtime as `run`, with the terminal as the chat."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from bot import demo
from bot.delivery import deliver_when_owed, shell_delivery
from bot.jobs_main import sweeps
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.shell import Shell, ShellDirectory
from commands.context import Clock
from commands.ui import Room
from jobs.tick import Sweep, run_sweeps
from storage.db import session_scope


def shell_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    return open_runtime(
        settings, ShellDirectory, clock, room=Room()
    )  # a terminal shows long lists whole


class ShellUsageError(ValueError):
    """`kakehashi shell` was asked for something it cannot do (exit status 2)."""


def open_shell(
    settings: Settings,
    *,
    user: str | None,
    demo_data: bool,
    fresh: bool = False,
    out: TextIO | None = None,
    inp: TextIO | None = None,
    clock: Clock | None = None,
) -> Shell:
    """The shell, on standard input and output unless given others."""
    out, inp = out or sys.stdout, inp or sys.stdin
    if fresh:
        start_over(settings.database_url)
    runtime = shell_runtime(settings, clock=clock)
    loaded = True
    if demo_data:
        with session_scope(runtime.engine) as session:
            loaded = demo.load_demo(session=session, now=runtime.clock.now())
    shell = Shell(runtime, user_id=demo.MANAGER, out=out, inp=inp, echo=not inp.isatty())
    if user:
        user_id = shell.resolve(user)
        if user_id is None:
            runtime.engine.dispose()
            raise ShellUsageError(
                f"--as {user}: no one by that name or user ID in this database "
                f"(with --demo: {', '.join(name for _, name, *_ in demo.PEOPLE)})"
            )
        shell.user_id = user_id
    if not loaded:
        shell.note("shell.demo.already")
    delivery = shell_delivery(shell, runtime.engine)
    shell.after_line = deliver_when_owed(runtime, delivery)
    shell.tick = scheduler_tick(runtime, sweeps(runtime, delivery))
    return shell


def start_over(database_url: str) -> None:
    """`--fresh`: removes the shell's SQLite database file, so the demo starts from scratch. A
    server database is never dropped from here."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ShellUsageError(
            "--fresh starts over by removing a SQLite database file; DATABASE_URL is not one "
            "(use a new database instead)"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(url.database + suffix).unlink(missing_ok=True)


def line_editing() -> None:
    """Arrow keys, editing and history (Up recalls earlier lines) at the terminal's prompt."""
    import readline  # noqa: F401  (importing it is what makes input() edit lines)


def scheduler_tick(runtime: Runtime, ticks: list[Sweep]) -> Callable[[], None]:
    """What a scheduler tick would do at the shell's time: reminders that came due are written,
    then everything owed is delivered (printed). Run at start and by `:time`."""

    def tick() -> None:
        run_sweeps(ticks, runtime.clock.now())

    return tick


def run_shell(
    settings: Settings,
    *,
    user: str | None,
    demo: bool,
    fresh: bool = False,
    clock: Clock | None = None,
) -> int:
    if sys.stdin.isatty():
        line_editing()
    shell = open_shell(settings, user=user, demo_data=demo, fresh=fresh, clock=clock)
    shell.loop()
    return 0
