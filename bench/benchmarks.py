"""The eight benchmarks of issue 8, each returning table rows. Sizes come from a `Profile`
(the issue's full sizes, or a tiny smoke profile the test suite runs)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, col, select

from bench.datagen import DataSet, Sizes, describe, generate
from bench.harness import (
    ROOT,
    SECRET,
    Databases,
    Server,
    TimedSlack,
    add_people,
    checkpoint,
    running,
    start_kakehashi,
    start_minimal_bolt,
    wait_until,
)
from bench.open_loop import Load, Timing, measure
from bot.jobs_process import READY
from commands.ui import Message, message_to_json
from jobs.delivery import DELIVERY_EVENT
from storage.db import make_engine, session_scope, upgrade
from storage.outbox import OutboxMessage, enqueue
from testkit.signing import signed_headers, slash_command_body


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: Sizes
    rate: float = 25.0
    """Benchmark 1's steady load: requests a second, for `steady_seconds`."""
    steady_seconds: float = 20.0
    burst: int = 100
    tick_seconds: int = 10
    """How often `kakehashi run`'s scheduler sweeps during benchmark 1."""
    cards: int = 200
    reminders: int = 2000
    recipients: int = 200
    per_channel: float = 1.0
    workspace: float = 20.0
    failure_rate: float = 0.02
    channels: int = 500
    warm_up: int = 50
    settle_seconds: float = 2.0


FULL = Profile("full", Sizes(100_000, 500_000, 1_000_000))
SMOKE = Profile(
    "smoke",
    Sizes(300, 1_500, 3_000),
    rate=10.0,
    steady_seconds=1.0,
    burst=10,
    tick_seconds=1,
    cards=5,
    reminders=40,
    recipients=8,
    per_channel=20.0,
    workspace=100.0,
    channels=5,
    warm_up=5,
    settle_seconds=0.2,
)


@dataclass
class Row:
    bench: str
    what: str
    backend: str
    measured: str
    target: str
    ok: bool | None
    """None: no target (informative figure)."""


@dataclass
class Run:
    """One backend's run: where its databases go and the data set they copy."""

    profile: Profile
    databases: Databases
    workdir: Path
    seed: int = 7
    reuse: bool = False
    data: DataSet | None = None
    rows: list[Row] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return self.databases.backend

    def row(self, bench: str, what: str, measured: str, target: str, ok: bool | None) -> None:
        self.rows.append(Row(bench, what, self.backend, measured, target, ok))

    def data_set(self) -> DataSet:
        """The large data set, generated once per run and copied for each benchmark (or, with
        `reuse`, the one a previous run with the same seed and sizes left in the workdir)."""
        if self.data is None and self.reuse and self.databases.exists("data"):
            self.data = describe(self.profile.sizes, self.seed)
        if self.data is None:
            url = self.databases.create("data")
            engine = make_engine(url)
            started = time.perf_counter()
            self.data = generate(engine, self.profile.sizes, seed=self.seed)
            engine.dispose()
            checkpoint(url)
            seconds = time.perf_counter() - started
            self.notes["generate_seconds"] = seconds
            sizes = self.profile.sizes
            self.row(
                "data",
                f"generate {sizes.accounts:,} accounts, {sizes.promises:,} promises, "
                f"{sizes.touches:,} touches",
                f"{seconds:.1f} s",
                "",
                None,
            )
        return self.data

    def copy_of_data(self, name: str) -> str:
        self.data_set()
        return self.databases.create(name, template="data")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def worker(what: str, url: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "bench.worker", what, url, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.worker {what} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ---- 1, 2 and 8: commands under load, the card, memory -----------------------------------------


def commands_under_load(run: Run) -> None:
    profile, data = run.profile, run.data_set()
    url = run.copy_of_data("commands")
    _enqueue_reminders(url, profile)  # delivered while the commands come in
    names = _names(data, profile.cards)
    loads = (
        Load("steady", round(profile.rate * profile.steady_seconds), profile.rate),
        Load("burst", profile.burst, 0.0),
    )
    timings: dict[tuple[str, str], Timing] = {}
    with TimedSlack() as slack:
        add_people(slack, data.user_ids)
        bolt = start_minimal_bolt(slack, run.workdir)
        kakehashi = start_kakehashi(
            url,
            slack,
            run.workdir,
            f"commands-{run.backend}",
            KAKEHASHI_TICK_SECONDS=str(profile.tick_seconds),
            KAKEHASHI_SEND_RATE=str(profile.workspace),
        )
        with running(bolt), running(kakehashi):
            wait_until(lambda: READY in kakehashi.log.read_text(), "the scheduler process", 60)
            time.sleep(profile.settle_seconds)
            idle, _ = kakehashi.memory()
            warm = Load("warm-up", profile.warm_up, 10.0)  # the first cards open connections
            for server in (bolt, kakehashi):
                measure(server, slack, names, data.manager, warm)
            sent_before = len(slack.calls_to("chat.postMessage"))
            for load in loads:  # in turn, so both meet the machine's same moods
                for who, server in (("bolt", bolt), ("ours", kakehashi)):
                    timings[who, load.name] = measure(server, slack, names, data.manager, load)
            delivered = len(slack.calls_to("chat.postMessage")) - sent_before
            _, peak = kakehashi.memory()
            cards = _card_latency(kakehashi, slack, data, profile)
    for load in loads:
        ours, bolt_timing = timings["ours", load.name], timings["bolt", load.name]
        card_target = 150.0 if load.rate else 2000.0
        run.row(
            "1",
            f"/account NAME, {load.count} signed requests "
            + (f"at {load.rate:g}/s (open loop)" if load.rate else "at once")
            + ", scheduled moment to card at response_url; scheduler sweeping every "
            f"{profile.tick_seconds} s and delivering ({delivered} messages sent meanwhile)",
            f"{ours.describe()} (minimal Bolt app answering the same way: "
            f"{bolt_timing.describe()})",
            f"card p99 ≤ {card_target:.0f} ms; ack p99 ≤ 2× Bolt",
            ours.errors == 0
            and ours.card_p99 <= card_target
            and ours.ack_p99 <= 2 * bolt_timing.ack_p99,
        )
    run.row(
        "2",
        f"account card, signed /account to card posted, {len(cards)} accounts one at a time",
        f"p50 {pct(cards, 50):.1f} ms, p95 {pct(cards, 95):.1f} ms",
        "p95 ≤ 30 ms",
        pct(cards, 95) <= 30,
    )
    built = worker("card", url, "--user", data.manager, "--names", *_names(data, profile.cards))
    run.row(
        "2",
        "account card, built in-process (Runtime.run_command)",
        f"p50 {pct(built['ms'], 50):.1f} ms, p95 {pct(built['ms'], 95):.1f} ms "
        f"(CPU p95 {pct(built['cpu_ms'], 95):.1f} ms)",
        "p95 ≤ 30 ms",
        pct(built["ms"], 95) <= 30,
    )
    run.row(
        "8",
        "resident memory, idle after start (request and scheduler processes together)",
        f"{idle:.0f} MB",
        "≤ 150 MB",
        idle <= 150,
    )
    run.row(
        "8",
        "resident memory, peak during benchmark 1 (the sum of both processes' peaks)",
        f"{peak:.0f} MB",
        "≤ 300 MB",
        peak <= 300,
    )


def _names(data: DataSet, count: int) -> list[str]:
    step = max(1, len(data.account_names) // count)
    return list(data.account_names[::step][:count])


def _card_latency(
    server: Server, slack: TimedSlack, data: DataSet, profile: Profile
) -> list[float]:
    times = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for name in _names(data, profile.cards):
            response_url = slack.new_response_url()
            path = "/" + response_url.split("/", 3)[3]
            body = slash_command_body(
                "/account", name, user_id=data.manager, response_url=response_url
            )
            started = time.perf_counter()
            client.post("/slack/events", content=body, headers=signed_headers(body, SECRET))
            wait_until(lambda p=path: p in slack.arrivals, f"the card of {name}", 30)
            times.append((slack.arrivals[path] - started) * 1000)
    return times


# ---- 3 and 7: the reminder sweep, the weekly agendas -------------------------------------------


def sweep_time(run: Run) -> datetime:
    """A weekday at 09:30 in New York (14:30 in London): those people's windows are open."""
    day = run.data_set().anchor + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.replace(hour=14, minute=30)


def reminder_sweep(run: Run) -> None:
    url = run.copy_of_data("sweep")
    result = worker("sweep", url, "--at", sweep_time(run).isoformat())
    run.row(
        "3",
        f"one reminder sweep over {run.profile.sizes.accounts:,} accounts "
        f"({result['dms_written']} DMs written)",
        f"{result['seconds']:.2f} s (CPU {result['cpu_seconds']:.2f} s), "
        f"memory +{result['peak_growth_mb']:.0f} MB",
        "≤ 2 s, ≤ 100 MB",
        result["seconds"] <= 2 and result["peak_growth_mb"] <= 100,
    )


def weekly_agendas(run: Run) -> None:
    url = run.copy_of_data("agendas")
    at = sweep_time(run).isoformat()
    result = worker("agendas", url, "--channels", str(run.profile.channels), "--at", at)
    ms = result["ms"]
    run.row(
        "7",
        f"weekly agenda for {len(ms)} channels over {run.profile.sizes.accounts:,} accounts",
        f"p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms "
        f"(CPU p95 {pct(result['cpu_ms'], 95):.1f} ms); slowest {max(ms) / 1000:.2f} s, "
        f"all {len(ms)} {sum(ms) / 1000:.1f} s",
        "p95 ≤ 50 ms",
        pct(ms, 95) <= 50,
    )


# ---- 4, 5 and 6: delivery at Slack's limits ----------------------------------------------------


def _recipients(profile: Profile) -> list[str]:
    return [f"UD{i:05d}" for i in range(profile.recipients)]


def _enqueue_reminders(url: str, profile: Profile) -> None:
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    people = _recipients(profile)
    with session_scope(engine) as session:
        for i in range(profile.reminders):
            enqueue(
                session=session,
                key=f"bench:{i}",
                kind="reminder",
                recipient=people[i % len(people)],
                payload=message_to_json(Message.plain(f"reminder {i}")),
                at=now,
            )
    engine.dispose()


def floor_seconds(profile: Profile) -> float:
    """The least time Slack's limits allow: the workspace rate, or one channel's share."""
    per_person = -(-profile.reminders // profile.recipients)
    return max(profile.reminders / profile.workspace, (per_person - 1) / profile.per_channel)


def _limited_slack(profile: Profile, seed: int) -> TimedSlack:
    slack = TimedSlack().start()
    slack.rate_limit(
        per_channel_per_second=profile.per_channel, workspace_per_second=profile.workspace
    )
    slack.random_500("*", rate=profile.failure_rate, seed=seed)
    return slack


def _delivered(slack: TimedSlack, profile: Profile) -> Counter[str]:
    keys: Counter[str] = Counter()
    for user in _recipients(profile):
        for message in slack.messages(user):
            if (message.get("metadata") or {}).get("event_type") == DELIVERY_EVENT:
                keys[message["metadata"]["event_payload"]["key"]] += 1
    return keys


def _unsent(url: str) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        count = session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.status) != "sent")
        ).one()
    engine.dispose()
    return int(count)


def _start_sender(url: str, slack: TimedSlack, run: Run, name: str) -> Server:
    return start_kakehashi(
        url,
        slack,
        run.workdir,
        name,
        KAKEHASHI_TICK_SECONDS="1",
        KAKEHASHI_SEND_RATE=str(run.profile.workspace),
    )


def _exactly_once(slack: TimedSlack, profile: Profile) -> tuple[bool, str]:
    delivered = _delivered(slack, profile)
    lost = profile.reminders - len(delivered)
    duplicated = sum(n - 1 for n in delivered.values() if n > 1)
    return lost == 0 and duplicated == 0, f"{lost} lost, {duplicated} duplicated"


def _timeout(profile: Profile) -> float:
    return floor_seconds(profile) * 3 + 60


def delivery_at_limits(run: Run) -> None:
    profile = run.profile
    url = run.databases.create("delivery")
    _enqueue_reminders(url, profile)
    slack = _limited_slack(profile, run.seed)
    try:
        with running(_start_sender(url, slack, run, "delivery")):
            # From ready (migrations done, listening): start-up is not what Slack limits.
            seconds = wait_until(
                lambda: _unsent(url) == 0, "every reminder sent", _timeout(profile)
            )
        once, detail = _exactly_once(slack, profile)
        failures = sum(1 for c in slack.calls if c.status == 500)
        limited = sum(1 for c in slack.calls if c.status == 429)
    finally:
        slack.stop()
    floor = floor_seconds(profile)
    run.row(
        "4",
        f"{profile.reminders} reminders to {profile.recipients} people, {profile.per_channel:g}/s "
        f"per channel, {profile.workspace:g}/s workspace, {profile.failure_rate:.0%} answered 500",
        f"{seconds:.1f} s = {seconds / floor:.2f}× floor {floor:.0f} s; {detail}; "
        f"{failures} 500s, {limited} 429s",
        "exactly once; ≤ 1.2× floor",
        once and seconds <= 1.2 * floor,
    )


def delivery_killed(run: Run) -> None:
    profile = run.profile
    url = run.databases.create("killed")
    _enqueue_reminders(url, profile)
    slack = _limited_slack(profile, run.seed)
    kill_after = random.Random(run.seed).uniform(0.1, 0.6) * floor_seconds(profile)
    try:
        started = time.monotonic()
        first = _start_sender(url, slack, run, "killed-first")
        first.wait_ready("/healthz")
        time.sleep(kill_after)
        sent_before = profile.reminders - _unsent(url)
        first.kill()
        with running(_start_sender(url, slack, run, "killed-second")):
            wait_until(lambda: _unsent(url) == 0, "every reminder sent", _timeout(profile))
            seconds = time.monotonic() - started
        once, detail = _exactly_once(slack, profile)
    finally:
        slack.stop()
    run.row(
        "5",
        "as 4, SIGKILL at a random moment, restarted",
        f"killed after {kill_after:.1f} s ({sent_before} sent); {detail}; all sent in "
        f"{seconds:.1f} s",
        "nothing lost or duplicated",
        once,
    )


def delivery_two_processes(run: Run) -> None:
    profile = run.profile
    if run.backend != "postgresql":
        run.row("6", "as 4, two processes on one database", "n/a (PostgreSQL only)", "", None)
        return
    url = run.databases.create("two")
    _enqueue_reminders(url, profile)
    slack = _limited_slack(profile, run.seed)
    try:
        started = time.monotonic()
        one = _start_sender(url, slack, run, "two-one")
        two = _start_sender(url, slack, run, "two-two")
        with running(one), running(two):
            wait_until(lambda: _unsent(url) == 0, "every reminder sent", _timeout(profile))
            seconds = time.monotonic() - started
        once, detail = _exactly_once(slack, profile)
    finally:
        slack.stop()
    run.row(
        "6",
        "as 4, two `kakehashi run` processes on one PostgreSQL database",
        f"{detail}; all sent in {seconds:.1f} s",
        "nothing duplicated",
        once,
    )


BENCHMARKS = {
    "1": commands_under_load,  # also 2 and 8
    "3": reminder_sweep,
    "7": weekly_agendas,
    "4": delivery_at_limits,
    "5": delivery_killed,
    "6": delivery_two_processes,
}
