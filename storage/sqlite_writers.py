"""SQLite's writers take turns on a lock of ours instead of polling SQLite's.

SQLite lets one transaction write at a time. A writer that finds the database locked sleeps and
tries again, longer each time (up to 100 ms), so under a steady stream of small writes (requests
written down before their acknowledgement, cards, delivery, a sweep) a waiter keeps missing its
turn: benchmark 1 saw a request's write wait 0.5 to 2.4 s (bench/RESULTS.md). Here the first
statement that writes in a transaction first takes the turn, given back once the transaction has
ended, so a waiting writer is woken as soon as the one before it is done. The turn is a lock
between the threads of a process and, for a database file, an `flock` on a file beside it
(`<database>-writers`) between processes: `kakehashi run`'s two processes (requests, and the
scheduler's), `kakehashi jobs`, the shell.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

WAIT_SECONDS = 30.0
"""As long as SQLite's own `busy_timeout`; after it the statement goes ahead and SQLite decides."""

_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class TurnTaking(sqlite3.Connection):
    """A connection that holds its engine's write turn from its first write to the end of the
    transaction (commit, rollback or close)."""

    turn: threading.Lock
    turn_file: str | None = None
    """The lock file shared with other processes; None for a database in memory."""
    holds_turn = False
    _held_file: int | None = None

    def take_turn(self) -> None:
        if not self.holds_turn:
            self.holds_turn = self.turn.acquire(timeout=WAIT_SECONDS)
            if self.holds_turn and self.turn_file is not None:
                self._held_file = os.open(self.turn_file, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._held_file, fcntl.LOCK_EX)  # waits without holding the GIL

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
            if self._held_file is not None:
                os.close(self._held_file)  # closing it gives the lock back
                self._held_file = None
            self.turn.release()


def turn_taking(url: str) -> type[TurnTaking]:
    """The connection class (sqlite3's `factory`) of one engine on `url`: its connections share
    a turn, and with other processes when the database is a file."""
    database = make_url(url).database
    in_memory = not database or database == ":memory:" or database.startswith("file:")
    turn_file = None if in_memory else f"{database}-writers"
    return type(
        "EngineConnection", (TurnTaking,), {"turn": threading.Lock(), "turn_file": turn_file}
    )


def take_turns(engine: Engine) -> None:
    """A statement that begins a write transaction on `engine` first waits for the turn."""

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        raw = conn.connection.dbapi_connection
        if isinstance(raw, TurnTaking) and not raw.in_transaction and _WRITES.match(statement):
            raw.take_turn()

    event.listen(engine, "before_cursor_execute", before)
