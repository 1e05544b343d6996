"""One scheduler sweep: everything whose time has come, as of `now`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)

Sweep = Callable[[datetime], list[str]]


def run_sweeps(sweeps: list[Sweep], now: datetime) -> list[str]:
    """Runs each sweep in turn; returns one line per message it sent."""
    sent: list[str] = []
    for sweep in sweeps:
        sent.extend(sweep(now))
    log.debug("tick at %s: %d sent", now.isoformat(), len(sent))
    return sent
