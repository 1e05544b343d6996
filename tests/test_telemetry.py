"""The delivery engine's counters and the outbox backlog as `/metrics` reports them: each moved
by exactly what happened (deltas: the counters belong to the test process)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY, CollectorRegistry
from sqlalchemy import Engine

from jobs.telemetry import OutboxCollector
from testkit.fake_slack import FakeSlack
from tests.conftest import NOW
from tests.test_delivery import FakeTime, make_delivery, put, sweep_until_done

COUNTERS = ("sent", "retried", "failed")


def counted() -> dict[str, float]:
    return {
        name: REGISTRY.get_sample_value(f"kakehashi_deliveries_{name}_total", {"kind": "test"})
        or 0.0
        for name in COUNTERS
    }


def test_sent_retried_and_failed_deliveries_are_counted_once_each(
    engine: Engine, slack: FakeSlack
) -> None:
    wall = FakeTime()
    put(engine, "ok", "UCS")
    put(engine, "late", "USALES")
    put(engine, "doomed", "UGONE")
    slack.fail_next("chat.postMessage", status=429, retry_after=1, times=1)
    slack.fail_next("chat.postMessage", error="user_not_found", times=1)
    before = counted()

    sweep_until_done(make_delivery(engine, slack, wall), engine, wall)

    after = counted()
    assert {name: after[name] - before[name] for name in COUNTERS} == {
        "sent": 2,
        "retried": 1,
        "failed": 1,
    }


def test_the_backlog_is_read_from_the_database_at_each_scrape(engine: Engine) -> None:
    registry = CollectorRegistry()
    now = NOW
    registry.register(OutboxCollector(engine, lambda: now))

    def waiting(kind: str) -> float | None:
        return registry.get_sample_value("kakehashi_deliveries_waiting", {"kind": kind})

    assert (waiting("reminder"), waiting("agenda")) == (0, 0)
    assert registry.get_sample_value("kakehashi_delivery_oldest_waiting_seconds") == 0

    put(engine, "old", "UCS", kind="reminder", at=NOW - timedelta(minutes=5))
    put(engine, "new", "UCS", kind="reminder", at=NOW - timedelta(seconds=30))
    put(engine, "agenda", "CTEAM", kind="agenda", at=NOW - timedelta(seconds=10))
    put(engine, "future", "UCS", kind="reminder", at=NOW + timedelta(hours=1))  # not due yet
    assert (waiting("reminder"), waiting("agenda")) == (2, 1)
    assert registry.get_sample_value("kakehashi_delivery_oldest_waiting_seconds") == 300
