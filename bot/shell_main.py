"""Wiring for `kakehashi shell`: the same runtime as `run`, with the terminal as the chat."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from bot import demo
from bot.delivery import deliver_when_owed, shell_delivery
from bot.jobs_main import sweeps
from bot.runtime import Runtime
from bot.settings import Settings
from bot.shell import Shell, ShellDirectory
from commands.context import Clock, SystemClock
from commands.registry import build_registry
from jobs.tick import Sweep, run_sweeps
from storage.db import make_engine, session_scope, upgrade
from storage.people import seed_managers


def shell_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    clock = clock or SystemClock()
    with session_scope(engine) as session:
        seed_managers(session=session, user_ids=settings.managers, at=clock.now())
    return Runtime(
        settings=settings,
        engine=engine,
        registry=build_registry(),
        clock=clock,
        directory=ShellDirectory(engine),
    )


def open_shell(
    settings: Settings,
    *,
    user: str | None,
    demo_data: bool,
    out: TextIO = sys.stdout,
    inp: TextIO = sys.stdin,
    clock: Clock | None = None,
) -> Shell:
    runtime = shell_runtime(settings, clock=clock)
    if demo_data:
        with session_scope(runtime.engine) as session:
            demo.load_demo(session=session, now=runtime.clock.now())
    shell = Shell(runtime, user_id=demo.MANAGER, out=out, inp=inp, echo=not inp.isatty())
    delivery = shell_delivery(shell, runtime.engine)
    shell.after_line = deliver_when_owed(runtime, delivery)
    shell.tick = scheduler_tick(runtime, sweeps(runtime, delivery))
    if user:
        shell.meta(["as", user])
    return shell


def scheduler_tick(runtime: Runtime, ticks: list[Sweep]) -> Callable[[], None]:
    """What a scheduler tick would do at the shell's time: reminders that came due are written,
    then everything owed is delivered (printed). Run at start and by `:time`."""

    def tick() -> None:
        run_sweeps(ticks, runtime.clock.now())

    return tick


def run_shell(settings: Settings, *, user: str | None, demo: bool) -> int:
    shell = open_shell(settings, user=user, demo_data=demo)
    shell.loop()
    return 0
