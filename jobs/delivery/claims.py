"""Claims on outbox rows: a lease named after the process that holds it, backoff after a
transient failure, and the rows that are due, failed or held by a process that is gone."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Select, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from commands.context import Clock
from commands.ui import Message, message_from_json
from storage.db import session_scope
from storage.outbox import OutboxMessage, OutboxStatus

LEASE = timedelta(seconds=60)
"""How long a claim lasts: far longer than one send takes (the HTTP timeout is shorter)."""


CLAIM_BATCH = 20
"""Rows claimed in one transaction: about a second's worth at Slack's pace."""


MAX_ATTEMPTS = 30
"""Transient failures before a message is given up as failed (about a day of backoff)."""


BACKOFF_FIRST, BACKOFF_MAX = 5.0, 3600.0


@dataclass(frozen=True)
class Claim:
    """A claimed outbox row, as it was when it was claimed."""

    id: int
    key: str
    kind: str
    recipient: str
    payload: dict[str, object]
    update_of: str | None
    attempts: int
    not_before: datetime
    lease_expired: bool
    """It had been claimed before and that claim ran out: its sender may have died mid-send."""
    held_until: datetime
    """This claim's lease: `claimed_until` as long as no one else took the row over."""

    @property
    def may_have_landed(self) -> bool:
        return self.attempts > 0 or self.lease_expired

    @property
    def message(self) -> Message:
        return message_from_json(self.payload)


def _moving(now: datetime, started: datetime, clock: Clock) -> datetime:
    """What is due: the sweep's `now`, moved on by the wall-clock time the sweep has run."""
    return now + (clock.now() - started)


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 5 s doubling up to an hour."""
    if attempts <= 0:
        return BACKOFF_FIRST
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** min(attempts - 1, 20))


def _claim_of(row: OutboxMessage, held_until: datetime) -> Claim:
    assert row.id is not None
    return Claim(
        id=row.id,
        key=row.key,
        kind=row.kind,
        recipient=row.recipient,
        payload=dict(row.payload),
        update_of=row.update_of,
        attempts=row.attempts,
        not_before=row.not_before,
        lease_expired=row.claimed_until is not None,
        held_until=held_until,
    )


def _row(session: Session, key: str) -> OutboxMessage | None:
    return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()


def due_messages(*, session: Session, now: datetime) -> list[OutboxMessage]:
    """Rows a sweep at `now` would send, oldest first."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                col(OutboxMessage.not_before) <= now,
            )
            .order_by(col(OutboxMessage.not_before), col(OutboxMessage.id))
        ).all()
    )


def failed_messages(*, session: Session) -> list[OutboxMessage]:
    """Deliveries that failed for good, the latest first."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.FAILED.value)
            .order_by(col(OutboxMessage.id).desc())
        ).all()
    )


def this_process() -> str:
    """`host:pid`, naming the process that holds a claim."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def process_gone(holder: str) -> bool:
    """Whether the claim holder `host:pid` is certainly gone: a process of this host that no
    longer runs, or whose pid this process now has (a container restarted). A holder on another
    host, or unnamed (an older version), cannot be known gone."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return False
    return int(pid) == os.getpid() or not pid_running(int(pid))


def pid_running(pid: int) -> bool:
    """Whether a process of this host has the pid (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def expire_claims(
    *, engine: Engine, now: datetime, gone: Callable[[str], bool] = process_gone
) -> int:
    """Ends the claims of processes that are gone: for a SQLite database, where every sender
    runs on one host, at start-up. A claim of a live process (a `jobs run-due` sending at the
    same moment) is left until it expires. The rows keep a non-null `claimed_until`, so they
    are looked for on the platform before being sent again."""
    held = (
        col(OutboxMessage.status) == OutboxStatus.PENDING.value,
        col(OutboxMessage.claimed_until) >= now,
    )
    with session_scope(engine) as session:
        holders = session.exec(select(OutboxMessage.claimed_by).where(*held).distinct()).all()
        dead = [holder for holder in holders if holder is not None and gone(holder)]
        if not dead:
            return 0
        result = session.execute(
            update(OutboxMessage)
            .where(*held, col(OutboxMessage.claimed_by).in_(dead))
            .values(claimed_until=now - timedelta(microseconds=1))
        )
        count: int = result.rowcount  # type: ignore[attr-defined]
    return count


def claim_due(
    engine: Engine,
    *,
    due: datetime,
    wall: datetime,
    until: datetime,
    holder: str,
    limit: int,
    among: list[int] | None = None,
    platform: str | None = None,
) -> list[Claim]:
    """Claims up to `limit` rows due by `due` whose lease ran out by `wall` (only `platform`'s
    when given), in one transaction: each by a compare-and-set of its lease, so a row is never
    handed to two senders. Recipients take turns: everyone's oldest row first, then everyone's
    second, so that one person's backlog does not hold up the others."""
    free = or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < wall)
    claims: list[Claim] = []
    with session_scope(engine) as session:
        ranked = list(session.execute(_ranked(due, free, limit, among, platform)).scalars())
        query = select(OutboxMessage).where(col(OutboxMessage.id).in_(ranked))
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        order = {row_id: i for i, row_id in enumerate(ranked)}
        rows = sorted(session.exec(query).all(), key=lambda row: order[row.id or 0])
        for row in rows:
            claim = _claim_of(row, until)  # before the update refreshes `row`
            taken = session.execute(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == row.id,
                    col(OutboxMessage.status) == OutboxStatus.PENDING.value,
                    free,
                )
                .values(claimed_until=claim.held_until, claimed_by=holder)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claims.append(claim)
    return claims


def _ranked(
    due: datetime,
    free: ColumnElement[bool],
    limit: int,
    among: list[int] | None,
    platform: str | None,
) -> Select[tuple[int]]:
    """Ids of the free due rows to claim, each recipient's n-th row after everyone's
    (n-1)-th, the oldest first within a round."""
    turn = (
        func.row_number()
        .over(
            partition_by=col(OutboxMessage.recipient),
            order_by=(col(OutboxMessage.not_before), col(OutboxMessage.id)),
        )
        .label("turn")
    )
    due_rows = sa_select(
        col(OutboxMessage.id).label("id"),
        col(OutboxMessage.not_before).label("not_before"),
        turn,
    ).where(
        col(OutboxMessage.status) == OutboxStatus.PENDING.value,
        col(OutboxMessage.not_before) <= due,
        free,
    )
    if among is not None:
        due_rows = due_rows.where(col(OutboxMessage.id).in_(among))
    if platform is not None:
        due_rows = due_rows.where(col(OutboxMessage.platform) == platform)
    queue = due_rows.subquery()
    return sa_select(queue.c.id).order_by(queue.c.turn, queue.c.not_before, queue.c.id).limit(limit)


def renew_lease(engine: Engine, claim: Claim, until: datetime) -> bool:
    """Extends the claim's lease to `until` if it is still the one this sender holds."""
    with session_scope(engine) as session:
        renewed = session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == claim.id,
                col(OutboxMessage.status) == OutboxStatus.PENDING.value,
                col(OutboxMessage.claimed_until) == claim.held_until,
            )
            .values(claimed_until=until)
        )
        if renewed.rowcount == 1:  # type: ignore[attr-defined]
            return True
    return False
