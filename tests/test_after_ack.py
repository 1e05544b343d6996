"""The work after an acknowledgement waits for the requests in flight, and never for ever."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web

from bot.after_ack import AfterAck
from tests.conftest import free_port

Handler = Callable[[web.Request], Awaitable[web.Response]]


@asynccontextmanager
async def slow_server(after_ack: AfterAck, answer: asyncio.Event) -> AsyncIterator[str]:
    """A server whose one route answers only when `answer` is set, behind `after_ack`."""

    async def slow(_request: web.Request) -> web.Response:
        await answer.wait()
        return web.Response(text="ok")

    async with serving(after_ack, slow) as url:
        yield url


@asynccontextmanager
async def serving(after_ack: AfterAck, handler: Handler) -> AsyncIterator[str]:
    """`handler` behind `after_ack`'s middleware on a free port; its URL."""
    app = web.Application(middlewares=[after_ack.middleware])
    app.router.add_get("/route", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/route"
    finally:
        await runner.cleanup()
        after_ack.shutdown()


async def test_work_runs_at_once_when_no_request_is_in_flight() -> None:
    after_ack = AfterAck(max_defer=60)
    async with slow_server(after_ack, asyncio.Event()):
        assert await asyncio.wait_for(after_ack.run(lambda x: x * 2, 21), timeout=5) == 42


async def test_work_waits_until_the_request_in_flight_is_answered() -> None:
    after_ack = AfterAck(max_defer=60)
    answer, started = asyncio.Event(), threading.Event()
    async with slow_server(after_ack, answer) as url, httpx.AsyncClient() as http:
        request = asyncio.create_task(http.get(url))
        while after_ack._in_flight == 0:
            await asyncio.sleep(0.01)
        work = asyncio.create_task(after_ack.run(started.set))
        await asyncio.sleep(0.3)
        assert not started.is_set()  # the request is still waiting for its answer

        answer.set()
        assert (await request).text == "ok"
        await asyncio.wait_for(work, timeout=5)
        assert started.is_set()


async def test_work_runs_after_max_defer_even_while_requests_keep_coming() -> None:
    after_ack = AfterAck(max_defer=0.1)
    answer = asyncio.Event()
    async with slow_server(after_ack, answer) as url, httpx.AsyncClient() as http:
        request = asyncio.create_task(http.get(url))
        while after_ack._in_flight == 0:
            await asyncio.sleep(0.01)
        assert await asyncio.wait_for(after_ack.run(str.upper, "done"), timeout=5) == "DONE"
        assert not request.done()
        answer.set()
        await request


async def test_failing_work_raises_to_its_caller() -> None:
    after_ack = AfterAck()
    async with slow_server(after_ack, asyncio.Event()):
        try:
            await after_ack.run(int, "not a number")
        except ValueError as exc:
            assert "not a number" in str(exc)
        else:
            raise AssertionError("the error was swallowed")


async def test_a_listeners_own_work_does_not_wait_for_its_own_request() -> None:
    """A listener runs its work after acknowledging, while Bolt still holds the request open:
    only other requests in flight hold it back."""
    after_ack = AfterAck(max_defer=60)

    async def listener(_request: web.Request) -> web.Response:
        return web.Response(text=await after_ack.run(str.upper, "card"))

    async with serving(after_ack, listener) as url, httpx.AsyncClient() as http:
        response = await asyncio.wait_for(http.get(url), timeout=5)
    assert response.text == "CARD"
    assert after_ack._in_flight == 0


async def test_work_waits_for_other_acknowledged_requests_still_held_open() -> None:
    """Bolt holds a request open a few milliseconds after its listener acknowledged it and went
    on to `run` its work. Two such requests hold up each other's work until they are answered:
    during a burst, work must not start in the gap when every request in flight was acknowledged
    and none answered yet."""
    after_ack = AfterAck(max_defer=60)
    release = asyncio.Event()
    ran: list[str] = []
    listeners: list[asyncio.Task[None]] = []

    async def acknowledged(request: web.Request) -> web.Response:
        # The listener goes on in a task of its own, as Bolt's do (inheriting the request).
        name = request.query["name"]
        listeners.append(asyncio.create_task(after_ack.run(ran.append, name)))
        await release.wait()  # the answer is not written yet
        return web.Response(text="ok")

    async with serving(after_ack, acknowledged) as url, httpx.AsyncClient() as http:
        requests = [asyncio.create_task(http.get(f"{url}?name={name}")) for name in "ab"]
        while len(listeners) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert ran == []  # each waits for the other's answer
        release.set()
        await asyncio.wait_for(asyncio.gather(*requests, *listeners), timeout=5)
    assert sorted(ran) == ["a", "b"]


async def test_work_started_later_runs_on_its_own_and_a_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    after_ack = AfterAck()
    done = asyncio.Event()

    async def fails() -> None:
        done.set()
        raise ValueError("card went wrong")

    after_ack.later(fails())
    await asyncio.wait_for(done.wait(), timeout=5)
    while after_ack._tasks:
        await asyncio.sleep(0.01)
    assert "the work after an acknowledgement failed" in caplog.text
    assert "card went wrong" in caplog.text
    after_ack.shutdown()


class _CountedCondition(threading.Condition):
    """Counts how often a waiting thread woke up."""

    wakeups = 0

    def wait(self, timeout: float | None = None) -> bool:
        woken = super().wait(timeout)
        self.wakeups += 1
        return woken


async def test_waiting_work_sleeps_through_a_stream_of_requests() -> None:
    """Requests answered one after another, closer than the quiet spell: the work waits for them
    without its thread waking after each one (it would take the interpreter from the event loop
    answering them), and runs once they stop."""
    after_ack = AfterAck(max_defer=60)
    after_ack._idle = condition = _CountedCondition()

    async def quick(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async with serving(after_ack, quick) as url, httpx.AsyncClient() as http:
        answered = 0

        async def stream() -> None:
            nonlocal answered
            while answered < 300:
                assert (await http.get(url)).text == "ok"
                answered += 1

        streaming = asyncio.create_task(stream())
        while answered < 5:
            await asyncio.sleep(0.001)
        work = asyncio.create_task(after_ack.run(str.upper, "card"))
        await streaming
        assert await asyncio.wait_for(work, timeout=5) == "CARD"
    assert condition.wakeups <= 3, condition.wakeups
