"""The work a request starts after it was acknowledged, kept out of the acknowledgements' way.

Slack gives a request 3 seconds to be acknowledged; the listeners acknowledge first and then
build the answer in a worker thread (the database is synchronous). In one Python process those
threads share the interpreter lock with the event loop that reads, verifies and acknowledges
requests, so during a burst the answers being built slowed every acknowledgement (benchmark 1 in
bench/RESULTS.md: p50 388 ms against a bare Bolt app's 12 ms). Here the work waits while
requests are being answered, at most `MAX_DEFER` (the answer goes back through `response_url`
or the Web API, which allow far longer), and runs on a small pool of its own, so the default
pool stays free for what must run before the acknowledgement (form validation, the health check).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

from aiohttp import web

from jobs import telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKERS = 2
"""Answers built at once: enough to overlap database waits, few enough that the ones already
running when a burst starts slow its acknowledgements only a little."""
QUIET = 0.005
"""Seconds without a new request before work starts: within a burst, requests come closer."""
MAX_DEFER = 3.0
"""Seconds a piece of work waits for the requests in flight to be answered before it runs
anyway, so a steady stream of requests cannot starve it."""


class _Waiting:
    """A request in flight, until its answer is written."""

    answered = False


_request: ContextVar[_Waiting | None] = ContextVar("after_ack_request", default=None)
"""The request being handled; Bolt's listener tasks inherit it."""


class AfterAck:
    """Counts the requests in flight (`middleware`), starts what a listener does after its
    acknowledgement (`later`) and runs work (`run`) when no request is in flight."""

    def __init__(self, workers: int = WORKERS, max_defer: float = MAX_DEFER) -> None:
        self.max_defer = max_defer
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="after-ack")
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._last_arrival = 0.0
        self._quiet_check: asyncio.TimerHandle | None = None
        self.answering: set[int] = set()
        """Acknowledged requests (`storage.acknowledged`) this process is running or answering:
        not taken up again behind its back."""

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        waiting = _Waiting()
        with self._idle:
            self._in_flight += 1
            self._last_arrival = time.monotonic()
        token = _request.set(waiting)
        try:
            return await handler(request)
        finally:
            _request.reset(token)
            with self._idle:
                waiting.answered = True
                self._in_flight -= 1
                idle = self._in_flight <= 1  # perhaps only the waiting work's own request is left
            if idle and self._quiet_check is None:
                self._check_quiet()

    def _check_quiet(self) -> None:
        """On the event loop, once requests stop: wakes the waiting work when no request has
        come for `QUIET` seconds, else checks again then. A timer rather than threads that
        wake up to look, which during a burst would take the interpreter from the event loop
        after every request."""
        self._quiet_check = None
        with self._idle:
            if self._in_flight > 1:
                return  # the next answer checks again
            wait = QUIET - (time.monotonic() - self._last_arrival)
            if wait <= 0:
                self._idle.notify_all()
                return
        self._quiet_check = asyncio.get_running_loop().call_later(wait, self._check_quiet)

    def later(self, answer: Coroutine[Any, Any, None]) -> None:
        """Starts `answer`, what a listener does after acknowledging, as a task of its own: the
        listener returns and Bolt (`process_before_response`) sends the acknowledgement at once,
        instead of finding it by polling every 10 ms. A failure is logged; the time to
        acknowledge and to answer are measured (`jobs.telemetry`)."""
        task = asyncio.get_running_loop().create_task(answer)
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._finished)
        if (received := telemetry.RECEIVED.get()) is not None:  # a listener, just acknowledged
            telemetry.acknowledged(received)
            task.add_done_callback(lambda _task: telemetry.answered(received))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("the work after an acknowledgement failed", exc_info=error)

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` on the pool, once no other request is in flight (or after `max_defer`
        seconds). Called by a listener after its acknowledgement: its own request, which Bolt
        holds open a few more milliseconds, need not hold up its own work; but every other
        request does until its answer is written, or during a burst the work would start in the
        moments when all the requests in flight have been acknowledged and none answered."""
        own = _request.get()
        deadline = time.monotonic() + self.max_defer
        if self._quiet_check is None:  # when only its own request is left, nothing else checks
            self._check_quiet()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._when_idle, own, deadline, work, args)

    def _when_idle(
        self,
        own: _Waiting | None,
        deadline: float,
        work: Callable[..., T],
        args: tuple[object, ...],
    ) -> T:
        with self._idle:
            while not self._quiet(own) and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(timeout=left)  # until `_check_quiet` finds it quiet
        return work(*args)

    def _others(self, own: _Waiting | None) -> int:
        """Requests in flight other than `own`."""
        return self._in_flight - (1 if own is not None and not own.answered else 0)

    def _quiet(self, own: _Waiting | None) -> bool:
        return self._others(own) == 0 and time.monotonic() - self._last_arrival >= QUIET

    async def drain(self, timeout: float) -> bool:
        """Waits for the work started after acknowledgements (and what it starts) to end, at
        most `timeout` seconds; False when some was still running then."""
        deadline = time.monotonic() + timeout
        while self._tasks and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)
        return not self._tasks

    def shutdown(self) -> None:
        if self._quiet_check is not None:
            self._quiet_check.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
