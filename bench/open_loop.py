"""Benchmark 1: what a person waits for. Signed `/account NAME` requests leave on a clock (open
loop: a request never waits for an earlier one's answer), each with its own `response_url` on the
fake Slack, which notes when the card arrives. A request's times count from the moment it was
scheduled to leave, so a server that falls behind cannot hide it by slowing the sender."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from bench.harness import SECRET, Server, TimedSlack
from testkit.signing import signed_headers, slash_command_body

CARD_WAIT = 30.0
"""Seconds after the last request that the cards still missing are waited for."""


@dataclass(frozen=True)
class Load:
    """`count` requests, `rate` a second (0: all at once)."""

    name: str
    count: int
    rate: float


@dataclass(frozen=True)
class Timing:
    """Milliseconds from each request's scheduled moment to its acknowledgement and its card."""

    load: Load
    ack_ms: list[float]
    card_ms: list[float]
    errors: int
    missing: int

    def pct(self, values: list[float], q: float) -> float:
        ordered = sorted(values) or [float("inf")]
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    @property
    def card_p99(self) -> float:
        return float("inf") if self.missing else self.pct(self.card_ms, 99)

    @property
    def ack_p99(self) -> float:
        return self.pct(self.ack_ms, 99)

    def describe(self) -> str:
        card = self.card_ms
        return (
            f"card p50 {self.pct(card, 50):.0f} / p99 {self.pct(card, 99):.0f} / "
            f"max {max(card, default=float('inf')):.0f} ms, ack p99 {self.ack_p99:.0f} ms"
            + (f", {self.missing} cards missing" if self.missing else "")
            + (f", {self.errors} errors" if self.errors else "")
        )


def measure(server: Server, slack: TimedSlack, names: list[str], user: str, load: Load) -> Timing:
    """Sends `load` to `server` and waits for its cards (at most `CARD_WAIT` s after the last)."""
    requests = []
    for i in range(load.count):
        response_url = slack.new_response_url()
        body = slash_command_body(
            "/account", names[i % len(names)], user_id=user, response_url=response_url
        )
        requests.append(("/" + response_url.split("/", 3)[3], body, signed_headers(body, SECRET)))
    started = time.perf_counter() + 0.2  # the first request's moment, after the setup
    moments = [started + (i / load.rate if load.rate else 0.0) for i in range(load.count)]
    acks = asyncio.run(_send(server.url + "/slack/events", requests, moments))
    paths = [path for path, _, _ in requests]
    slack.wait_arrived(paths, timeout=max(moments) - time.perf_counter() + CARD_WAIT)
    arrived = slack.arrivals
    cards = [(arrived[p] - m) * 1000 for p, m in zip(paths, moments, strict=True) if p in arrived]
    return Timing(
        load,
        ack_ms=[a for a in acks if a is not None],
        card_ms=cards,
        errors=sum(a is None for a in acks),
        missing=load.count - len(cards),
    )


async def _send(
    url: str, requests: list[tuple[str, str, dict[str, str]]], moments: list[float]
) -> list[float | None]:
    connector = aiohttp.TCPConnector(limit=0)  # no queue in the sender
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await asyncio.gather(
            *(
                _one(session, url, body, headers, moment)
                for (_, body, headers), moment in zip(requests, moments, strict=True)
            )
        )


async def _one(
    session: aiohttp.ClientSession, url: str, body: str, headers: dict[str, str], moment: float
) -> float | None:
    """The acknowledgement's latency in ms from `moment`, or None when it failed."""
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))
    try:
        async with session.post(url, data=body.encode(), headers=headers) as response:
            await response.read()
            ok = response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return None
    return (time.perf_counter() - moment) * 1000 if ok else None
