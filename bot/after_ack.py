"""The work a request starts after it was acknowledged: a bounded pool of threads, in arrival order.

Slack gives a request 3 seconds to be acknowledged; the listeners acknowledge first and then
build the answer (the database is synchronous, so in a thread). The work runs on a pool of its
own, so the default pool stays free for what must run before an acknowledgement (writing the
request down, form validation, the health check). Work starts in the order it was handed in
and is never held back: a person waits for the card, not for the acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from jobs import telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKERS = 2
"""Pieces of work running at once: enough to overlap database waits; the rest queue in order.
More only share the interpreter: in a burst of 100 cards, four workers left the loop that
acknowledges a fifth of it (bench/RESULTS.md, benchmark 1)."""


class AfterAck:
    """Starts what a listener does after its acknowledgement (`later`), runs its blocking work
    on the pool (`run`), and waits for it on the way out (`drain`)."""

    def __init__(self, workers: int = WORKERS) -> None:
        # The executor's queue is first in, first out: work starts in the order it came.
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="after-ack")
        self._tasks: set[asyncio.Task[None]] = set()
        self.answering: set[int] = set()
        """Acknowledged requests (`storage.acknowledged`) this process is running or answering:
        not taken up again behind its back."""

    def later(self, answer: Coroutine[Any, Any, None]) -> None:
        """Starts `answer`, what a listener does after acknowledging, as a task of its own: the
        listener returns and Bolt (`process_before_response`) sends the acknowledgement at once.
        A failure is logged; the time to acknowledge and to answer are measured."""
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
        """`work(*args)` on the pool, as soon as a worker is free."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def drain(self, timeout: float) -> bool:
        """Waits for the work started after acknowledgements (and what it starts) to end, at
        most `timeout` seconds; False when some was still running then."""
        deadline = time.monotonic() + timeout
        while self._tasks and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)
        return not self._tasks

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
