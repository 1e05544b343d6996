"""Engine and sessions from `DATABASE_URL`, and migrations applied with Alembic."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from alembic import command as alembic_command
from alembic.config import Config
from sqlalchemy import Engine, Select, event, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from storage.sqlite_writers import take_turns, turn_taking

MIGRATIONS = Path(__file__).parent / "migrations"
# One key for every replica: PostgreSQL serialises concurrent `kakehashi run` start-ups on it.
_MIGRATION_LOCK = 727_001


# Never meant in a text, and PostgreSQL refuses NUL in one: C0 control characters but tab and
# line feed, DEL, and the bidirectional overrides and isolates that make a text read otherwise
# than it is stored (PRODUCT §11).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def without_control_characters(text: str) -> str:
    return _CONTROL_CHARACTERS.sub("", text)


_CHANGED_BY_STATEMENT = "kakehashi.changed_by_statement"


def note_changed(session: Session, row: object) -> None:
    """Notes a row that a compare-and-set changed: an UPDATE statement, which the unit of work
    does not track, so that what follows a unit's changes (the Home tab, reminders that clear
    themselves) sees it as changed."""
    session.info.setdefault(_CHANGED_BY_STATEMENT, []).append(row)


def rows_changed_by_statements(session: Session) -> list[object]:
    return list(session.info.get(_CHANGED_BY_STATEMENT, []))


class DatabaseUnavailable(Exception):
    """The database cannot be reached; nothing was saved."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """The engine for `url`. Its errors and logs never carry a statement's values (people's
    text), and every text value it sends is stripped of control characters."""
    kwargs.setdefault("hide_parameters", True)
    engine = _dialect_engine(url, **kwargs)
    event.listen(engine, "before_cursor_execute", _clean_text_parameters, retval=True)
    return engine


def _dialect_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        # Writers in this process take turns on a lock of ours (`storage.sqlite_writers`).
        connect_args = {"check_same_thread": False, "timeout": 30, "factory": turn_taking(url)}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        take_turns(engine)
        return engine
    # Every statement planned for its own values: after five runs psycopg would prepare it on
    # the server, and PostgreSQL may then keep one generic plan for every value; for questions
    # about a few CS owners or a date window that plan guesses the rows (the agenda of one team
    # took 1.2 s instead of 0.1 s after its fifth run). Also what a pooler in front needs.
    connect_args = {"prepare_threshold": None, **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _clean_text_parameters(
    _connection: Any,
    _cursor: Any,
    statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    """Every statement, ORM or Core, from any source (a person, Slack's profiles, a CSV file):
    the one place where text is stored."""
    if executemany and isinstance(parameters, list | tuple):
        if not _CONTROL_CHARACTERS.search("".join(_texts(parameters))):
            return statement, parameters  # the usual case, seen in one pass
        return statement, [_clean(row) for row in parameters]
    return statement, _clean(parameters)


def _texts(rows: list[Any] | tuple[Any, ...]) -> Iterator[str]:
    for row in rows:
        if isinstance(row, dict):
            row = row.values()
        elif not isinstance(row, list | tuple):
            row = (row,)
        yield from (v for v in row if isinstance(v, str))


def _clean(parameters: Any) -> Any:
    """One statement's values; the same object when no text in it needs cleaning."""
    if isinstance(parameters, str):
        return _clean_value(parameters)
    if isinstance(parameters, dict) and _has_control(parameters.values()):
        return {k: _clean_value(v) for k, v in parameters.items()}
    if isinstance(parameters, list | tuple) and _has_control(parameters):
        return type(parameters)(_clean_value(v) for v in parameters)
    return parameters


def _has_control(values: Iterable[Any]) -> bool:
    return any(isinstance(v, str) and _CONTROL_CHARACTERS.search(v) for v in values)


def _clean_value(value: Any) -> Any:
    return without_control_characters(value) if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: committed when the block ends normally, rolled back otherwise."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except OperationalError as exc:
        raise DatabaseUnavailable(_first_line(exc.orig)) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable(_first_line(exc.orig)) from exc
        raise


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except (OperationalError, DBAPIError):
        return False


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration; concurrent callers on PostgreSQL wait for each other."""
    try:
        _upgrade_locked(engine)
    except OperationalError as exc:
        raise DatabaseUnavailable(_first_line(exc.orig)) from exc


def _upgrade_locked(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            try:
                alembic_command.upgrade(alembic_config(engine), "head")
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                connection.commit()
    else:
        alembic_command.upgrade(alembic_config(engine), "head")


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error else "unknown error"


def has_written(session: Session) -> bool:
    """Whether the session's transaction has written anything so far (its pending changes are
    flushed first): SQLite's driver opens a transaction only for a write, PostgreSQL gives a
    transaction its id at its first write."""
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return bool(session.execute(text(_PG_WROTE)).scalar_one())
    return bool(connection.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]


_PG_WROTE = "SELECT pg_current_xact_id_if_assigned() IS NOT NULL"


def plain_rows(session: Session, query: Select[Any]) -> list[tuple[Any, ...]]:
    """A query's rows as the driver returns them, without SQLAlchemy's work per row: that work is
    half the time of reading the tens of thousands of open promises a reminder sweep reads.
    Values are the driver's own: SQLite gives dates as ISO text (`as_date` reads both)."""
    result = session.connection().execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def as_date(value: date | str) -> date:
    """A date from `plain_rows`."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def bulk_insert(
    session: Session, model: type[SQLModel], rows: list[dict[str, Any]], *, ids: bool = False
) -> list[int]:
    """Rows of one table (each with the same columns), in bulk and without the ORM's work per
    row: PostgreSQL's `COPY` (a third of the time of `INSERT … RETURNING` for the thousands of
    reminders a sweep can write), one multi-row `INSERT` elsewhere. With `ids`, the new rows'
    ids, in order (on PostgreSQL taken from the table's sequence first). A key that exists
    already raises `IntegrityError`, as an `INSERT` does."""
    if not rows:
        return []
    table = SQLModel.metadata.tables[str(model.__tablename__)]
    if session.get_bind().dialect.name != "postgresql":
        if not ids:
            session.execute(insert(table), rows)
            return []
        query = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(query, rows).scalars())
    new: list[int] = []
    if ids:
        sequence = text(
            "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
        )
        new = list(session.execute(sequence, {"t": table.name, "n": len(rows)}).scalars())
    columns = list(rows[0])
    named = ["id", *columns] if ids else columns
    cursor: Any = session.connection().connection.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(named)}) FROM STDIN") as copy:
            for n, row in enumerate(rows):
                values = [row[c] for c in columns]
                copy.write_row([new[n], *values] if ids else values)
    except psycopg.IntegrityError as error:
        raise IntegrityError(f"COPY {table.name}", None, error) from error
    return new
