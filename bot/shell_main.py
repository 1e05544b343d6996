"""Wiring for `kakehashi shell`: the same runtime as `run`, with the terminal as the chat."""

from __future__ import annotations

import sys
from typing import TextIO

from bot import demo
from bot.delivery import deliver_when_owed, shell_delivery
from bot.runtime import Runtime
from bot.settings import Settings
from bot.shell import Shell, ShellDirectory
from commands.context import Clock, SystemClock
from commands.registry import build_registry
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
    shell.after_line = deliver_when_owed(runtime, shell_delivery(shell, runtime.engine))
    if user:
        shell.meta(["as", user])
    return shell


def run_shell(settings: Settings, *, user: str | None, demo: bool) -> int:
    shell = open_shell(settings, user=user, demo_data=demo)
    shell.loop()
    return 0
