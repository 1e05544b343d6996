"""The work after an acknowledgement: started in arrival order, never more than the pool's size at
once, never held back by other requests, and waited for on the way out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from aiohttp import web

from bot.after_ack import AfterAck
from tests.conftest import free_port


class Gate:
    """Blocking work that notes when it starts and runs until the gate opens."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started: list[int] = []
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def work(self, number: int) -> int:
        with self._lock:
            self.started.append(number)
            self.running += 1
            self.most = max(self.most, self.running)
        self.opened.wait(timeout=10)
        with self._lock:
            self.running -= 1
        return number


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def after_ack() -> AsyncIterator[AfterAck]:
    pool = AfterAck(workers=2)
    yield pool
    pool.shutdown()


async def test_work_starts_in_arrival_order_and_never_more_than_the_pool_at_once(
    after_ack: AfterAck,
) -> None:
    gate = Gate()
    runs = [asyncio.create_task(after_ack.run(gate.work, n)) for n in range(8)]
    await _until(lambda: len(gate.started) == 2)
    await asyncio.sleep(0.1)
    assert gate.started == [0, 1]  # the others wait in line for a free worker

    gate.opened.set()
    assert await asyncio.wait_for(asyncio.gather(*runs), 5) == list(range(8))
    assert gate.started == list(range(8))
    assert gate.most == 2


async def test_work_is_not_held_back_by_a_request_still_in_flight(after_ack: AfterAck) -> None:
    """A request whose answer is slow (here: never written until the end) does not delay the
    work another request started: a person waits for the card."""
    answer = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        await answer.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with httpx.AsyncClient() as http:
            request = asyncio.create_task(http.get(f"http://127.0.0.1:{port}/slow"))
            await asyncio.sleep(0.1)
            assert not request.done()
            card = await asyncio.wait_for(after_ack.run(str.upper, "card"), timeout=1)
            assert card == "CARD" and not request.done()
            answer.set()
            assert (await request).text == "ok"
    finally:
        await runner.cleanup()


async def test_failing_work_raises_to_its_caller(after_ack: AfterAck) -> None:
    with pytest.raises(ValueError, match="not a number"):
        await after_ack.run(int, "not a number")


async def test_work_started_later_runs_on_its_own_and_a_failure_is_logged(
    after_ack: AfterAck, caplog: pytest.LogCaptureFixture
) -> None:
    async def fails() -> None:
        raise ValueError("card went wrong")

    after_ack.later(fails())
    assert await after_ack.drain(timeout=5)
    assert "the work after an acknowledgement failed" in caplog.text
    assert "card went wrong" in caplog.text


async def test_drain_waits_for_the_work_started_later(after_ack: AfterAck) -> None:
    gate = Gate()
    done: list[int] = []

    async def answer(number: int) -> None:
        done.append(await after_ack.run(gate.work, number))

    for number in range(3):
        after_ack.later(answer(number))
    await _until(lambda: len(gate.started) == 2)
    assert not await after_ack.drain(timeout=0.2)  # still running: says so, gives up

    threading.Timer(0.2, gate.opened.set).start()
    assert await after_ack.drain(timeout=5)
    assert sorted(done) == [0, 1, 2]
    assert gate.started == [0, 1, 2]
