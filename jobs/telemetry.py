"""Prometheus metrics (`GET /metrics`, PRODUCT §15): what every part of Kakehashi counts.

The counters and histograms live in prometheus-client's default registry and are updated where
things happen (the adapters, the delivery engine, the scheduler's sweeps). What the database
knows (deliveries waiting, the oldest of them) is read when Prometheus scrapes, by
`OutboxCollector`, so that several replicas sharing one database report the same backlog.
Labels never carry people's ids or text: only command names and outcomes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from types import MappingProxyType

from prometheus_client import Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import col, select

from jobs.tick import Sweep
from storage.db import DatabaseUnavailable, session_scope
from storage.outbox import OutboxMessage, OutboxStatus

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0, 10.0, 30.0)
"""Seconds; 3 s is how long Slack waits for an acknowledgement."""

REQUESTS = Counter(
    "kakehashi_requests",
    "Commands, button presses and form submissions handled, by what and how it ended",
    ["kind", "name", "outcome"],
)
"""outcome: ok, refused (roles), invalid (form errors), unavailable (database), failed."""
ACK_SECONDS = Histogram(
    "kakehashi_ack_seconds",
    "Time from receiving a Slack request to acknowledging it",
    ["kind"],
    buckets=_LATENCY_BUCKETS,
)
ANSWER_SECONDS = Histogram(
    "kakehashi_answer_seconds",
    "Time from receiving a Slack request to its answer being sent",
    ["kind"],
    buckets=_LATENCY_BUCKETS,
)
DELIVERIES_SENT = Counter(
    "kakehashi_deliveries_sent",
    "Outbox messages sent or updated, by kind (reminder, agenda, handoff …)",
    ["kind"],
)
DELIVERIES_RETRIED = Counter(
    "kakehashi_deliveries_retried",
    "Outbox messages put back to retry after a transient error, by kind",
    ["kind"],
)
DELIVERIES_FAILED = Counter(
    "kakehashi_deliveries_failed",
    "Outbox messages failed for good (kakehashi jobs failed), by kind",
    ["kind"],
)
SWEEP_SECONDS = Histogram(
    "kakehashi_sweep_seconds",
    "Duration of one scheduler sweep, by sweep",
    ["sweep"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
CRM_EVENTS_RECEIVED = Counter(
    "kakehashi_crm_events_received",
    "CRM events received, by source and outcome (accepted, rejected, duplicate)",
    ["source", "outcome"],
)
CRM_EVENTS_PROCESSED = Counter(
    "kakehashi_crm_events_processed",
    "CRM events processed, by source and outcome",
    ["source", "outcome"],
)
SLACK_UP = Gauge(
    "kakehashi_slack_up", "1 when Slack accepts the bot token and (Socket Mode) is connected"
)
BUILD = Info("kakehashi_build", "The running build")
KINDS = ("reminder", "agenda")
"""Kinds of message always reported as waiting (0 when none), so alerts on them have a series."""


RECEIVED: ContextVar[tuple[str, float] | None] = ContextVar("kakehashi_received", default=None)
"""The request being handled, as (kind, `time.monotonic()` when it arrived), for its answer's
latency; the adapter sets it, and the tasks a listener starts inherit it."""


LOG_FIELDS = ("request", "person", "command", "delivery")
"""What a log line may say it was about (ids only, never typed text)."""
_log_fields: ContextVar[Mapping[str, str]] = ContextVar(
    "kakehashi_log_fields", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Log lines written inside carry these fields (`bot.logs`, in JSON)."""
    token = _log_fields.set({**_log_fields.get(), **fields})
    try:
        yield
    finally:
        _log_fields.reset(token)


def current_log_fields() -> Mapping[str, str]:
    return _log_fields.get()


def count_request(listener: str, outcome: str) -> None:
    """A command (`/name`) or an interaction (its action or callback id) handled."""
    kind = "command" if listener.startswith("/") else "interaction"
    REQUESTS.labels(kind, listener, outcome).inc()


def acknowledged(received: tuple[str, float]) -> None:
    kind, arrived = received
    ACK_SECONDS.labels(kind).observe(time.monotonic() - arrived)


def answered(received: tuple[str, float]) -> None:
    kind, arrived = received
    ANSWER_SECONDS.labels(kind).observe(time.monotonic() - arrived)


def record_build() -> None:
    try:
        BUILD.info({"version": version("kakehashi")})
    except PackageNotFoundError:  # run from a source tree that was never installed
        BUILD.info({"version": "unknown"})


def count_delivery(status: OutboxStatus, kind: str) -> None:
    """A delivery's outcome as the engine recorded it: sent, put back to retry, or failed."""
    counter = {
        OutboxStatus.SENT: DELIVERIES_SENT,
        OutboxStatus.PENDING: DELIVERIES_RETRIED,
        OutboxStatus.FAILED: DELIVERIES_FAILED,
    }.get(status)
    if counter is not None:
        counter.labels(kind).inc()


def timed_sweep(name: str, sweep: Sweep) -> Sweep:
    """`sweep`, timed."""

    def run(now: datetime) -> list[str]:
        started = time.monotonic()
        try:
            return sweep(now)
        finally:
            SWEEP_SECONDS.labels(name).observe(time.monotonic() - started)

    return run


class OutboxCollector(Collector):
    """Deliveries waiting (due and not sent yet) by kind, so reminders and agendas due show
    apart, and the age of the oldest; read from the database at each scrape."""

    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self.engine = engine
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "kakehashi_deliveries_waiting",
            "Outbox messages due and not sent yet, by kind",
            labels=["kind"],
        )
        oldest = GaugeMetricFamily(
            "kakehashi_delivery_oldest_waiting_seconds",
            "How long the oldest due outbox message has waited (0 when none)",
        )
        now = self.now()
        try:
            backlog = self._backlog(now)
        except DatabaseUnavailable:
            return  # /healthz says so; the gauges are simply absent from this scrape
        for kind in sorted({*KINDS, *backlog}):
            waiting.add_metric([kind], backlog.get(kind, (0, None))[0])
        firsts = [first for _count, first in backlog.values() if first is not None]
        oldest.add_metric([], max(0.0, (now - min(firsts)).total_seconds()) if firsts else 0.0)
        yield waiting
        yield oldest

    def _backlog(self, now: datetime) -> dict[str, tuple[int, datetime | None]]:
        """Per kind: how many are due and unsent, and since when the oldest."""
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.not_before))
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                    col(OutboxMessage.not_before) <= now,
                )
                .group_by(OutboxMessage.kind)
            ).all()
        return {kind: (int(count), _aware(first, now)) for kind, count, first in rows}


def _aware(moment: datetime | None, like: datetime) -> datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite gives naive UTC back
        return moment.replace(tzinfo=like.tzinfo)
    return moment
