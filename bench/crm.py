"""Benchmark: a burst of HubSpot webhooks (issue 20). 2,000 won-deal events in batches of 100
are sent to the real `kakehashi run` at 50 requests a second, open loop (each request leaves at
its scheduled moment whatever the answers before it did), signed as HubSpot signs them. Targets:
every request acknowledged within HubSpot's timeout, p99 at most 100 ms; then every event
processed once (read from the fake HubSpot API, one DM per deal delivered to the fake Slack).

    python -m bench.crm [--backend sqlite|postgresql] [--events 2000] [--batch 100] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text

from bench.harness import Databases, running, start_kakehashi, wait_until
from testkit.crm_signing import HUBSPOT_SECRET, hubspot_headers, stage_change
from testkit.fake_hubspot import TOKEN as HUBSPOT_TOKEN
from testkit.fake_hubspot import FakeHubSpot
from testkit.fake_slack import FakeSlack

OWNERS = 20
P99_TARGET_MS = 100.0
WON = "closedwon"
HUBSPOT_TIMEOUT_MS = 5000.0
"""HubSpot counts a webhook as failed when it is not answered within 5 seconds."""
TIMEOUT = aiohttp.ClientTimeout(total=HUBSPOT_TIMEOUT_MS / 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crm", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="requests a second")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kakehashi-bench-crm-"))
    workdir.mkdir(parents=True, exist_ok=True)
    figures = run(args.backend, args.events, args.batch, args.rate, workdir)
    print(json.dumps(figures, indent=2))
    return 0 if figures["met"] else 1


def run(backend: str, events: int, batch: int, rate: float, workdir: Path) -> dict[str, Any]:
    databases = Databases(backend, workdir)
    url = databases.create("crm")
    try:
        with FakeSlack() as slack, FakeHubSpot() as hubspot:
            _won_deals(slack, hubspot, events)
            server = start_kakehashi(
                url, slack, workdir, "crm",
                HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET,
                HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN,
                HUBSPOT_API_URL=hubspot.url,
                KAKEHASHI_TICK_SECONDS="1",
                KAKEHASHI_SEND_RATE="100",
            )  # fmt: skip
            with running(server):
                asyncio.run(_warm_up(server.url))
                started = time.monotonic()
                latencies, statuses = asyncio.run(_burst(server.url, events, batch, rate))
                processed = wait_until(lambda: _pending(url) == 0, "processing", 900)
                delivered = wait_until(lambda: _dms(slack) >= events, "delivery", 900)
                time.sleep(3)  # a few more ticks: nothing more may be sent
                return _figures(
                    latencies, statuses, url, slack, events, started, processed, delivered
                )
    finally:
        databases.drop_all()


def _won_deals(slack: FakeSlack, hubspot: FakeHubSpot, events: int) -> None:
    for i in range(OWNERS):
        slack.add_user(f"U0REP{i:03d}", name=f"rep{i}", email=f"rep{i}@example.com")
    for i in range(events):
        hubspot.add_won_deal(
            deal_id=10_000 + i,
            company_id=50_000 + i,
            owner_email=f"rep{i % OWNERS}@example.com",
            name=f"Deal {i}",
            company=f"Company {i}",
        )


WARM_UP_EVENT_ID = 10_000_000


async def _warm_up(url: str) -> None:
    """One batch of stage changes that are no win, answered before the burst: HubSpot calls a
    server that has been running, not one that has just started (its first insert of 100 rows
    builds SQLAlchemy's statement, its first connections open)."""
    body = json.dumps([stage_change(WARM_UP_EVENT_ID + i, 1, "closedlost") for i in range(100)])
    uri = f"{url}/crm/hubspot"
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for _ in range(2):
            headers = hubspot_headers(uri, body.encode(), int(time.time() * 1000))
            async with http.post(uri, data=body.encode(), headers=headers) as answer:
                answer.raise_for_status()


async def _burst(
    url: str, events: int, batch: int, rate: float
) -> tuple[list[float], Counter[int]]:
    """Open loop: request k leaves at start + k / rate; its latency counts from that moment."""

    def body(first: int) -> bytes:
        last = min(first + batch, events)
        return json.dumps(
            [stage_change(i + 1, 10_000 + i, WON) for i in range(first, last)]
        ).encode()

    bodies = [body(first) for first in range(0, events, batch)]
    uri = f"{url}/crm/hubspot"
    # aiohttp, not httpx: httpx's async client looks for `sniffio` on every request (an import
    # that fails, searched on disk each time), 13 ms of the client's own on a busy machine.
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        start = time.perf_counter()

        async def send(k: int, body: bytes) -> tuple[float, int]:
            due = start + k / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            headers = hubspot_headers(uri, body, int(time.time() * 1000))
            async with http.post(uri, data=body, headers=headers) as answer:
                await answer.read()
            return (time.perf_counter() - due) * 1000, answer.status

        results = await asyncio.gather(*(send(k, body) for k, body in enumerate(bodies)))
    return [ms for ms, _ in results], Counter(status for _, status in results)


def _pending(url: str) -> int:
    return int(_scalar(url, "SELECT count(*) FROM crm_events WHERE status = 'pending'"))


def _scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def _dms(slack: FakeSlack) -> int:
    return len(slack.calls_to("chat.postMessage"))


def _figures(
    latencies: list[float],
    statuses: Counter[int],
    url: str,
    slack: FakeSlack,
    events: int,
    started: float,
    processed: float,
    delivered: float,
) -> dict[str, Any]:
    ordered = sorted(latencies)
    p99 = ordered[max(0, int(len(ordered) * 0.99 + 0.5) - 1)]
    posted = Counter(body["text"] for body in slack.calls_to("chat.postMessage"))
    burst = f"CAST(event_id AS INTEGER) < {WARM_UP_EVENT_ID}"
    stored = int(_scalar(url, f"SELECT count(*) FROM crm_events WHERE {burst}"))
    offered = int(_scalar(url, "SELECT count(*) FROM crm_events WHERE outcome = 'offered'"))
    audited = int(
        _scalar(
            url,
            "SELECT count(*) FROM audit_entries WHERE entity = 'crm_event' AND action = 'offered'",
        )
    )
    once = stored == offered == audited == events and len(posted) == events
    figures = {
        "requests": len(latencies),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "statuses": dict(statuses),
        "ack_ms": {"p50": round(statistics.median(ordered), 1), "p99": round(p99, 1),
                   "max": round(ordered[-1], 1)},
        "events": {"stored": stored, "offered": offered, "audited": audited},
        "dms": {"posted": sum(posted.values()), "distinct": len(posted),
                "duplicated": sum(n - 1 for n in posted.values())},
        "seconds": {"to_process_all": round(processed, 1), "to_deliver_all": round(delivered, 1),
                    "total": round(time.monotonic() - started, 1)},
    }  # fmt: skip
    figures["met"] = statuses == Counter({200: len(latencies)}) and p99 <= P99_TARGET_MS and once
    return figures


if __name__ == "__main__":
    sys.exit(main())
