"""A reproducible data set of any size: people, accounts with owners, handoffs with a contact,
promises (open, overdue, kept, broken), touches and the audit trail of it all, written with the
fastest bulk path each database has (executemany on SQLite, COPY on PostgreSQL).

    python -m bench.datagen --url sqlite:///big.db --accounts 100000 --promises 500000 \
        --touches 1000000 --seed 7

The same seed, sizes and anchor date always give the same rows. Dates are spread around the
anchor (default: today in UTC), so reminders, renewals and silent accounts are due as of now.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from storage.accounts import fold_name
from storage.db import make_engine, upgrade

CHUNK = 20_000
STAGES = ("onboarding", "active", "active", "active", "at_risk", "renewed", "churned")
TOUCH_MODELS = ("high", "low", "low", "tech")
CHANNELS = ("call", "email", "meeting", "chat")
ZONES = (("Asia/Tokyo", "ja-JP"), ("America/New_York", "en-US"), ("Europe/London", "en-GB"))
LATIN = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell", "Soylent")
KANA = ("さくら", "富士", "みどり", "あおば", "ひかり", "やまと", "はやて", "こだま", "つばさ")
LATIN_FORMS = ("Inc.", "LLC", "Co., Ltd.", "Corp.", "GmbH", "")
JAPANESE_FORMS = ("株式会社{}", "{}株式会社", "合同会社{}", "(株){}")
ROLES = ("sales", "cs", "cs", "support", "sales", "cs", "cs", "cs", "sales", "manager")


@dataclass(frozen=True)
class Sizes:
    accounts: int
    promises: int
    touches: int

    @property
    def people(self) -> int:
        """About one CS owner per 500 accounts, and never fewer than ten people."""
        return max(10, self.accounts // 250)


@dataclass(frozen=True)
class DataSet:
    """What the generator wrote, for the benchmarks to aim at."""

    sizes: Sizes
    seed: int
    anchor: datetime
    user_ids: tuple[str, ...]
    """Slack user IDs of everyone generated; the first is a manager."""
    account_names: tuple[str, ...]
    """A sample of account names, each matching exactly one account."""

    @property
    def manager(self) -> str:
        return self.user_ids[0]


def user_id(i: int) -> str:
    return f"UB{i:06d}"


def account_name(i: int) -> str:
    """Unique after folding: the number is part of every name."""
    if i % 3 == 0:
        return JAPANESE_FORMS[i % 4].format(f"{KANA[i % 9]}商事{i}")
    form = LATIN_FORMS[i % 6]
    return f"{LATIN[i % 9]} {i} {form}".strip()


def generate(engine: Engine, sizes: Sizes, *, seed: int = 7, anchor: date | None = None) -> DataSet:
    """Migrates an empty database and fills it; returns what the benchmarks need to know."""
    upgrade(engine)
    day = anchor or datetime.now(UTC).date()
    now = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rng = random.Random(seed)
    people = max(10, sizes.people)
    writer = _Writer(engine)
    writer.write("people", _PEOPLE, _people(people, now))
    writer.write("accounts", _ACCOUNTS, _accounts(rng, sizes.accounts, people, now))
    writer.write("handoffs", _HANDOFFS, _handoffs(rng, sizes.accounts, people, now))
    closures: list[Row] = []
    writer.write("promises", _PROMISES, _promises(rng, sizes, people, now, closures))
    writer.write("touches", _TOUCHES, _touches(rng, sizes, people, now))
    writer.write("contacts", _CONTACTS, _contacts(sizes.accounts))
    audit = _audit(random.Random(seed + 1), sizes, people, now, closures)
    writer.write("audit_entries", _AUDIT, audit)
    writer.finish()
    return describe(sizes, seed, day)


def describe(sizes: Sizes, seed: int = 7, anchor: date | None = None) -> DataSet:
    """What `generate` wrote with these arguments, without writing anything."""
    day = anchor or datetime.now(UTC).date()
    now = datetime(day.year, day.month, day.day, tzinfo=UTC)
    step = max(1, sizes.accounts // 1000)
    names = tuple(account_name(i) for i in range(1, sizes.accounts + 1, step))
    people = tuple(user_id(i) for i in range(1, max(10, sizes.people) + 1))
    return DataSet(sizes, seed, now, people, names)


_PEOPLE = ("id", "user_id", "name", "role", "tz", "locale", "email", "is_bot", "profile_fetched_at")
_ACCOUNTS = (
    "id",
    "name",
    "name_key",
    "external_id",
    "sales_owner_id",
    "cs_owner_id",
    "touch_model",
    "plan",
    "arr",
    "currency",
    "contract_start",
    "renewal_date",
    "stage",
    "created_at",
    "updated_at",
)
_HANDOFFS = (
    "id",
    "account_id",
    "sales_rep_id",
    "cs_owner_id",
    "status",
    "goals",
    "problems",
    "risks",
    "created_at",
    "accepted_at",
    "accepted_by_id",
)
_PROMISES = (
    "id",
    "account_id",
    "text",
    "owner_id",
    "promised_by_id",
    "source",
    "handoff_id",
    "due_date",
    "recurrence",
    "kept_count",
    "status",
    "created_at",
    "closed_at",
    "closed_by_id",
    "close_note",
)
_TOUCHES = ("id", "account_id", "person_id", "channel", "note", "at")
_CONTACTS = ("id", "account_id", "handoff_id", "name", "role", "email")
_AUDIT = ("id", "at", "actor_id", "entity", "entity_id", "action", "changes", "note")

Row = tuple[Any, ...]


def _people(count: int, now: datetime) -> Iterator[Row]:
    for i in range(1, count + 1):
        zone, locale = ZONES[i % 3]
        role = "manager" if i == 1 else ROLES[i % 10]
        yield (i, user_id(i), f"person {i}", role, zone, locale, None, False, now)


def _owner(rng: random.Random, people: int) -> int:
    return rng.randint(2, people)


def _accounts(rng: random.Random, count: int, people: int, now: datetime) -> Iterator[Row]:
    today = now.date()
    for i in range(1, count + 1):
        name = account_name(i)
        start = today - timedelta(days=rng.randint(30, 900))
        renewal = today + timedelta(days=rng.randint(-20, 400))
        yield (
            i,
            name,
            fold_name(name),
            f"CRM-{i:07d}",
            _owner(rng, people),
            _owner(rng, people),
            TOUCH_MODELS[rng.randrange(4)],
            "Enterprise" if i % 4 == 0 else "Standard",
            Decimal(rng.randrange(1_000, 500_000) * 100),
            "JPY" if i % 3 == 0 else "USD",
            start,
            renewal,
            STAGES[rng.randrange(len(STAGES))],
            now - timedelta(days=rng.randint(30, 900)),
            now - timedelta(days=rng.randint(0, 30)),
        )


def _handoffs(rng: random.Random, count: int, people: int, now: datetime) -> Iterator[Row]:
    for i in range(1, count + 1):
        created = now - timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1440))
        pending = rng.random() < 0.02
        accepted = None if pending else created + timedelta(hours=rng.randint(1, 72))
        cs = _owner(rng, people)
        yield (
            i,
            i,
            _owner(rng, people),
            cs,
            "pending" if pending else "accepted",
            f"Go live with {i % 7 + 1} teams; weekly active users above {i % 90 + 10}%",
            "SSO setup delayed" if i % 5 == 0 else None,
            "Budget review in Q3" if i % 7 == 0 else None,
            created,
            accepted,
            None if pending else cs,
        )


def _promises(
    rng: random.Random, sizes: Sizes, people: int, now: datetime, closures: list[Row]
) -> Iterator[Row]:
    """Promises; each closed one is added to `closures` as (id, status, closed_at, by)."""
    today = now.date()
    for i in range(1, sizes.promises + 1):
        account = rng.randint(1, sizes.accounts)
        roll = rng.random()
        status = (
            "open"
            if roll < 0.6
            else "kept"
            if roll < 0.85
            else "broken"
            if roll < 0.95
            else "waived"
        )
        # Open ones: about a third overdue, the rest due within two months or undated.
        due = today + timedelta(days=rng.randint(-60, 60)) if rng.random() < 0.9 else None
        created = now - timedelta(days=rng.randint(61, 400))
        closed = None if status == "open" else created + timedelta(days=rng.randint(1, 60))
        owner = _owner(rng, people)
        if closed is not None:
            closures.append((i, status, closed, owner))
        yield (
            i,
            account,
            f"Promise {i}: send the rollout plan",
            owner,
            _owner(rng, people),
            "handoff" if i % 2 else "command",
            None,
            due,
            "week" if i % 50 == 0 else None,
            0,
            status,
            created,
            closed,
            None if closed is None else owner,
            "customer changed plans" if status in ("broken", "waived") else None,
        )


def _touches(rng: random.Random, sizes: Sizes, people: int, now: datetime) -> Iterator[Row]:
    for i in range(1, sizes.touches + 1):
        yield (
            i,
            rng.randint(1, sizes.accounts),
            _owner(rng, people),
            CHANNELS[rng.randrange(4)],
            f"Touch {i}: weekly check-in",
            now - timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 1440)),
        )


def _contacts(accounts: int) -> Iterator[Row]:
    for i in range(1, accounts + 1):
        yield (i, i, i, f"Contact {i}", "IT lead", f"contact{i}@example.com")


def _audit(
    rng: random.Random, sizes: Sizes, people: int, now: datetime, closures: list[Row]
) -> Iterator[Row]:
    """The trail the product keeps: each account, handoff and promise created, and each promise
    closed (kept, broken or waived, when and by whom its row says), so the card's latest changes
    search a realistically long table and the agenda counts what the promises say."""
    serial = 0
    kinds = (("account", sizes.accounts), ("handoff", sizes.accounts), ("promise", sizes.promises))
    for entity, count in kinds:
        for i in range(1, count + 1):
            serial += 1
            at = now - timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1440))
            changes = json.dumps({"created": entity})
            yield (serial, at, _owner(rng, people), entity, i, "create", changes, None)
    for promise_id, status, at, by in closures:
        serial += 1
        changes = json.dumps({"status": ["open", status]})
        yield (serial, at, by, "promise", promise_id, status, changes, None)


def _chunks(rows: Iterator[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


LAST_CONTACT = """
UPDATE accounts SET last_contact_at = contact.at FROM (
    SELECT account_id, max(at) AS at FROM (
        SELECT account_id, at FROM touches
        UNION ALL SELECT account_id, accepted_at FROM handoffs WHERE accepted_at IS NOT NULL
    ) AS contacts GROUP BY account_id
) AS contact WHERE contact.account_id = accounts.id
"""
"""What the triggers of migration 0009_last_contact would have done, in one statement."""


class _Writer:
    """Bulk rows straight through the driver: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.tables: list[str] = []

    def write(self, table: str, columns: Sequence[str], rows: Iterator[Row]) -> None:
        self.tables.append(table)
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self.postgres:
                self._copy(cursor, table, columns, rows)
            else:
                # Rows are consistent by construction; a crash mid-load means generating again.
                cursor.execute("PRAGMA foreign_keys=OFF")
                cursor.execute("PRAGMA synchronous=OFF")
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                for chunk in _chunks(rows):
                    cursor.executemany(sql, [tuple(_sqlite(v) for v in r) for r in chunk])
            raw.commit()
        finally:
            raw.close()

    @staticmethod
    def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Iterator[Row]) -> None:
        # Without row triggers: `accounts.last_contact_at` is set once, in `finish`, rather than
        # by an update of an account per touch (which would leave the table ten times its size).
        cursor.execute("SET LOCAL session_replication_role = replica")
        with cursor.connection.cursor().copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        if self.postgres:
            with self.engine.begin() as connection:
                for table in self.tables:
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
                connection.execute(text(LAST_CONTACT))
        # PostgreSQL: VACUUM too, as autovacuum (off on some servers) does to any database that
        # has lived a while; without it every row read is checked against the commit log, and an
        # index cannot answer alone. VACUUM cannot run in a transaction.
        analyze = "VACUUM ANALYZE" if self.postgres else "ANALYZE"
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if self.postgres:  # setting the last contact left every account row twice
                connection.execute(text("VACUUM FULL accounts"))
            connection.execute(text(analyze))


def _sqlite(value: Any) -> Any:
    """As SQLAlchemy stores them on SQLite: naive UTC text, dates as text, amounts as floats."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    args.add_argument("--url", required=True, help="SQLAlchemy URL of an empty database")
    args.add_argument("--accounts", type=int, default=100_000)
    args.add_argument("--promises", type=int, default=500_000)
    args.add_argument("--touches", type=int, default=1_000_000)
    args.add_argument("--seed", type=int, default=7)
    args.add_argument("--anchor", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    ns = args.parse_args(argv)
    engine = make_engine(ns.url)
    started = time.perf_counter()
    data = generate(
        engine, Sizes(ns.accounts, ns.promises, ns.touches), seed=ns.seed, anchor=ns.anchor
    )
    engine.dispose()
    print(f"{data.sizes} people={len(data.user_ids)} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
