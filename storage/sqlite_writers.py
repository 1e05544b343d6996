"""SQLite's writers in one process take turns on a lock of ours instead of polling SQLite's.

SQLite lets one transaction write at a time. A writer that finds the database locked sleeps and
tries again, longer each time (up to 100 ms), so under a steady stream of small writes (requests
written down before their acknowledgement, cards, delivery, a sweep) a waiter keeps missing its
turn: benchmark 1 saw a request's write wait 0.5 to 2.4 s (bench/RESULTS.md). Here the first
statement that writes in a transaction first takes a process-wide lock, given back when the
transaction ends, so a waiting writer is woken as soon as the one before it is done. Other
processes (`kakehashi jobs`, the shell) still meet SQLite's own waiting.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlalchemy import Engine, event

WAIT_SECONDS = 30.0
"""As long as SQLite's own `busy_timeout`; after it the statement goes ahead and SQLite decides."""

_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_HOLDS = "kakehashi.holds_write_turn"


def take_turns(engine: Engine) -> None:
    """Makes the writers of `engine` (a SQLite engine) take turns through one lock."""
    turn = threading.Lock()

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        raw = conn.connection.dbapi_connection
        if conn.info.get(_HOLDS) or raw.in_transaction or not _WRITES.match(statement):
            return  # already writing, or the statement does not begin a write transaction
        conn.info[_HOLDS] = turn.acquire(timeout=WAIT_SECONDS)

    def done(conn: Any) -> None:
        if conn.info.pop(_HOLDS, False):
            turn.release()

    def returned(_raw: Any, record: Any, *_args: Any) -> None:
        if record.info.pop(_HOLDS, False):  # a connection given back in a transaction
            turn.release()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", done)
    event.listen(engine, "rollback", done)
    event.listen(engine.pool, "checkin", returned)
