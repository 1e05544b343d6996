"""SQLite's writers in one process take turns on a lock of ours instead of polling SQLite's.

SQLite lets one transaction write at a time. A writer that finds the database locked sleeps and
tries again, longer each time (up to 100 ms), so under a steady stream of small writes (requests
written down before their acknowledgement, cards, delivery, a sweep) a waiter keeps missing its
turn: benchmark 1 saw a request's write wait 0.5 to 2.4 s (bench/RESULTS.md). Here the first
statement that writes in a transaction first takes a process-wide lock, given back once the
transaction has ended, so a waiting writer is woken as soon as the one before it is done. Other
processes (`kakehashi jobs`, the shell) still meet SQLite's own waiting.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

WAIT_SECONDS = 30.0
"""As long as SQLite's own `busy_timeout`; after it the statement goes ahead and SQLite decides."""

_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class TurnTaking(sqlite3.Connection):
    """A connection that holds its engine's write turn from its first write to the end of the
    transaction (commit, rollback or close)."""

    turn: threading.Lock
    holds_turn = False

    def take_turn(self) -> None:
        if not self.holds_turn:
            self.holds_turn = self.turn.acquire(timeout=WAIT_SECONDS)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_turn()

    def _give_turn(self) -> None:
        if self.holds_turn:
            self.holds_turn = False
            self.turn.release()


def turn_taking() -> type[TurnTaking]:
    """The connection class (sqlite3's `factory`) of one engine: its connections share a turn."""
    return type("EngineConnection", (TurnTaking,), {"turn": threading.Lock()})


def take_turns(engine: Engine) -> None:
    """A statement that begins a write transaction on `engine` first waits for the turn."""

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        raw = conn.connection.dbapi_connection
        if isinstance(raw, TurnTaking) and not raw.in_transaction and _WRITES.match(statement):
            raw.take_turn()

    event.listen(engine, "before_cursor_execute", before)
