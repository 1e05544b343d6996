"""Measurements that need the project's code in a process of their own, so that its memory is
not the harness's: the reminder sweep the scheduler runs (benchmark 3), the weekly agendas
(benchmark 7) and the account card built in-process (benchmark 2's server-side time).
Each prints one JSON line.

    python -m bench.worker sweep URL --at 2026-11-24T02:00:00+00:00
    python -m bench.worker agendas URL --channels 500
    python -m bench.worker card URL --user UB000001 --names 200
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from bot.reminder_jobs import reminders_from
from bot.settings import Settings, load_settings
from storage.db import make_engine, session_scope
from storage.outbox import OutboxMessage


def memory() -> tuple[float, float]:
    """(resident now, peak resident) in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak() -> None:
    """Lets VmHWM start again from the current resident size (Linux 4.0+)."""
    Path("/proc/self/clear_refs").write_text("5")


def settings(url: str) -> Settings:
    os.environ["DATABASE_URL"] = url
    return load_settings()


def sweep(url: str, at: datetime) -> dict[str, Any]:
    engine = make_engine(url)
    reminders = reminders_from(settings(url), engine)
    with Session(engine) as session:  # connect and warm the imports before measuring
        session.exec(select(func.count()).select_from(OutboxMessage)).one()
    gc.collect()
    reset_peak()
    before, _ = memory()
    started, started_cpu = time.perf_counter(), time.process_time()
    reminders.sweep(at)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - started_cpu
    after, peak = memory()
    with Session(engine) as session:
        written = session.exec(select(func.count()).select_from(OutboxMessage)).one()
    engine.dispose()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "peak_growth_mb": peak - before,
        "dms_written": written,
    }


def agendas(
    url: str, channels: int, at: datetime, seed: int = 7, shared: bool = True
) -> dict[str, Any]:
    """Every channel's agenda for the slot `at`, composed as one sweep composes the channels due
    at one slot: sharing what they read (`SharedReadings`), unless `shared` is False."""
    from commands.agenda.shared import SharedReadings
    from commands.agenda.subscribe import channel_agenda
    from storage.agenda.subscriptions import SyncSubscription
    from storage.people import Person

    engine = make_engine(url)
    rules = settings(url).reminder_rules
    rng = random.Random(seed)
    with session_scope(engine) as session:
        people = [p.id for p in session.exec(select(Person)).all() if p.id is not None]
        for i in range(channels):
            # One channel in ten follows every account; the others a team of three owners.
            team = [] if i % 10 == 0 else sorted(rng.sample(people, min(3, len(people))))
            session.add(
                SyncSubscription(
                    channel_id=f"CB{i:06d}",
                    weekday=i % 5,
                    hour=9,
                    minute=0,
                    zone=("Asia/Tokyo", "America/New_York", "Europe/London")[i % 3],
                    locale=("ja", "en")[i % 2],
                    team=team,
                    starts_at=at - timedelta(days=30),
                    created_at=at - timedelta(days=30),
                    updated_at=at - timedelta(days=30),
                )
            )
    times: list[float] = []
    cpu: list[float] = []
    with Session(engine) as session:
        subscriptions = session.exec(select(SyncSubscription)).all()
        ids = [s.id for s in subscriptions]
        readings = SharedReadings() if shared else None
    for subscription_id in ids:
        with Session(engine) as session:  # one per channel, as `jobs.agenda` composes them
            started, started_cpu = time.perf_counter(), time.thread_time()
            subscription = session.get(SyncSubscription, subscription_id)
            assert subscription is not None
            message = channel_agenda(
                session,
                subscription,
                end=at,
                default_locale="en",
                silence_days=rules.silence_days,
                shared=readings,
            )
            times.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - started_cpu)
            assert message.blocks
    engine.dispose()
    return {"ms": [t * 1000 for t in times], "cpu_ms": [t * 1000 for t in cpu]}


def card(url: str, user: str, names: list[str]) -> dict[str, Any]:
    from bot.runtime import Runtime
    from bot.shell import ShellDirectory
    from commands.context import SystemClock
    from commands.registry import build_registry

    engine = make_engine(url)
    runtime = Runtime(
        settings=settings(url),
        engine=engine,
        registry=build_registry(),
        clock=SystemClock(),
        directory=ShellDirectory(engine),  # the people in the database, as the shell knows them
    )
    runtime.run_command(user, "account", names[0], "C0001")  # warm up
    times, cpu = [], []
    for name in names:
        started, started_cpu = time.perf_counter(), time.thread_time()
        outcome = runtime.run_command(user, "account", name, "C0001")
        times.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
        assert outcome.reply is not None
    engine.dispose()
    return {"ms": [t * 1000 for t in times], "cpu_ms": [t * 1000 for t in cpu]}


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("what", choices=("sweep", "agendas", "card"))
    args.add_argument("url")
    args.add_argument("--at", type=datetime.fromisoformat, default=datetime.now(UTC))
    args.add_argument("--channels", type=int, default=500)
    args.add_argument(
        "--unshared", action="store_true", help="agendas: each reads everything itself"
    )
    args.add_argument("--user", default="UB000001")
    args.add_argument("--names", nargs="*", default=[])
    ns = args.parse_args()
    if ns.what == "sweep":
        result = sweep(ns.url, ns.at)
    elif ns.what == "agendas":
        result = agendas(ns.url, ns.channels, ns.at, shared=not ns.unshared)
    else:
        result = card(ns.url, ns.user, ns.names)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
