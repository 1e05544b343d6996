"""The in-process scheduler: APScheduler only ticks; what is due and what was sent lives in our
own tables, so several processes and restarts agree on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

TICK_SECONDS = 60


def start_scheduler(
    sweep: Callable[[], object], *, seconds: int = TICK_SECONDS
) -> AsyncIOScheduler:
    """Runs `sweep` in a worker thread every `seconds`, one at a time, skipping missed ticks."""

    async def tick() -> None:
        try:
            await asyncio.to_thread(sweep)
        except Exception:  # the next tick retries; a failed sweep must not stop the scheduler
            log.exception("scheduler tick failed")

    # APScheduler logs every run at INFO; a tick every few seconds would drown the real news.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        tick,
        "interval",
        seconds=seconds,
        id="tick",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=seconds,
    )
    scheduler.start()
    return scheduler
