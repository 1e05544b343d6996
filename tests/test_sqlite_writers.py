"""SQLite's writers in one process take turns on our lock (`storage.sqlite_writers`)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from storage.db import make_engine
from storage.sqlite_writers import TurnTaking


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """A SQLite engine whose connections never wait in SQLite's own busy handler: a writer that
    found the database locked would fail at once."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")

    def no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    event.listen(engine, "connect", no_busy_wait)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    return engine


def _turn_held(engine: Engine) -> bool:
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, TurnTaking)
        return raw.turn.locked()


def test_a_write_holds_the_turn_until_its_transaction_ends(engine: Engine) -> None:
    for end in ("commit", "rollback", "close"):
        connection = engine.connect()
        connection.execute(text("SELECT count(*) FROM notes"))
        assert not _turn_held(engine), "a read does not take the turn"
        connection.execute(text("INSERT INTO notes (body) VALUES ('x')"))
        assert _turn_held(engine), end
        getattr(connection, end)()
        assert not _turn_held(engine), end
        connection.close()


def test_a_second_writer_waits_for_the_first_instead_of_failing(engine: Engine) -> None:
    trying = threading.Event()
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with engine.begin() as connection:
                trying.set()
                connection.execute(text("INSERT INTO notes (body) VALUES ('second')"))
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
            trying.set()

    with engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (body) VALUES ('first')"))
        thread = threading.Thread(target=second)
        thread.start()
        trying.wait(5)
        time.sleep(0.1)  # the second writer is now at its INSERT, the database locked
    thread.join(5)
    assert failures == []
    with engine.connect() as connection:
        bodies = connection.execute(text("SELECT body FROM notes ORDER BY id")).scalars()
        assert list(bodies) == ["first", "second"]


HOLD_A_WRITE = """
import sys, time
from sqlalchemy import text
from storage.db import make_engine

engine = make_engine(sys.argv[1])
with engine.begin() as connection:
    connection.execute(text("INSERT INTO notes (body) VALUES ('other process')"))
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_writer_waits_for_another_processes_writer_instead_of_failing(
    engine: Engine, tmp_path: Path
) -> None:
    """`kakehashi run`'s request process and scheduler process write to one SQLite file: a
    writer in one waits for the other's transaction to end (on the lock file beside the
    database), never in SQLite's busy handler, which this engine has turned off."""
    url = str(engine.url)
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_WRITE, url, "0.5"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "holding"
        with engine.begin() as connection:  # would fail at once with "database is locked"
            connection.execute(text("INSERT INTO notes (body) VALUES ('this process')"))
        assert other.wait(10) == 0
    finally:
        other.kill()
    with engine.connect() as connection:
        bodies = connection.execute(text("SELECT body FROM notes ORDER BY id")).scalars()
        assert list(bodies) == ["other process", "this process"]
    assert (tmp_path / "turns.db-writers").exists()
