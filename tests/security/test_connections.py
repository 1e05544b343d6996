"""Half-open and idle connections (issue 19 item 7, PRODUCT §11): `kakehashi run` closes a
connection that sends nothing, or stalls in the middle of a request, and answers 503 at once
beyond its connection cap, so that the health check and signed commands keep being answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.connections import ConnectionLimits
from bot.server import serve
from testkit.fake_slack import FakeSlack
from testkit.signing import signed_headers, slash_command_body
from tests.conftest import SECRET, free_port, make_settings

LIMITS = ConnectionLimits(idle_seconds=1.0, max_connections=20)


@pytest.fixture
async def running(database_url: str, slack: FakeSlack) -> AsyncIterator[str]:
    """The real server of `kakehashi run` (HTTP mode), with small limits."""
    port = free_port()
    task = asyncio.create_task(
        serve(make_settings(database_url, slack.api_url), port=port, host="127.0.0.1",
              limits=LIMITS)
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def open_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(count):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
    return writers


async def test_idle_connections_are_closed_and_the_cap_answers_at_once(
    running: str, slack: FakeSlack
) -> None:
    idle = await open_idle(int(running.rsplit(":", 1)[1]), 2 * LIMITS.max_connections)
    async with httpx.AsyncClient(timeout=5) as http:
        started = time.monotonic()
        assert (await http.get(f"{running}/healthz")).status_code == 503  # over the cap
        assert time.monotonic() - started < 1

        await asyncio.sleep(LIMITS.idle_seconds + 0.5)  # the idle ones are closed by now
        assert (await http.get(f"{running}/healthz")).status_code == 200
        url = slack.new_response_url()
        body = slash_command_body("/kakehashi", "help", "UMANAGER", response_url=url)
        answer = await http.post(
            f"{running}/slack/events", content=body, headers=signed_headers(body, SECRET)
        )
        assert answer.status_code == 200
        await slack.await_for("response_url")
    for writer in idle:
        writer.close()


async def test_a_request_whose_body_stops_coming_is_dropped(running: str) -> None:
    port = int(running.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = signed_headers("whatever", SECRET)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 1000\r\n\r\ncommand="
        .encode()
    )  # fmt: skip
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(100), timeout=LIMITS.idle_seconds + 3)
    assert answer.startswith(b"HTTP/1.1 408")
    writer.close()
