"""The delivery engine: sends what the outbox owes, each message once.

Every outbound message is first written to the outbox (`storage.outbox`) in the transaction that
caused it; a sweep then sends the rows that are due through a `Transport` (Slack, the shell, later
Teams). How each message is sent once:

- Rows are *claimed* before they are sent, a batch at a time (`CLAIM_BATCH`, the oldest first, in
  one committed transaction): each row's `claimed_until` lease is set by a compare-and-set (and
  `FOR UPDATE SKIP LOCKED` on PostgreSQL), so two processes sweeping one database never get the
  same row.
- A send starts only while this sender still holds the row: with most of the lease left
  (`LEASE_LEFT_TO_SEND`) nobody else can have taken it, since others only take rows whose lease
  ran out; with less, the lease is first renewed by compare-and-set, which fails when a stalled
  sender's row was taken over. Rows of a batch the sweep does not get to (it is stopping, or
  Slack asked for a long pause) are given back at once.
- A row whose earlier attempt may have reached the chat platform (a timeout or 5xx, `attempts` >
  0, or a claim whose process died: its lease expired) is first looked for there (`find_sent`,
  by the key every post carries in its metadata) and only posted when it is not found.
- A transient error (rate limit, 5xx, timeout, lost connection) puts the row back with a
  backoff (at least the `Retry-After` asked for); a permanent refusal (user gone, channel
  archived, …) marks it failed with the reason, for `kakehashi jobs failed`. The sweep takes
  its retries again as soon as their backoff ends, ahead of the rest of a backlog.

How fast: one sender thread per process, messages one at a time, in order, paced by a `Pacer`
shared with the transport: about one post per second per channel (the engine waits for it), and
`per_second` Web API calls across the workspace, every call the transport makes (posts, and
`find_sent`'s look-ups, which Slack counts alike) taking a turn from a token bucket. The
database work of a message (its recomposition, the record that it was sent; one claim per batch)
is done while the pacer would wait anyway, so the workspace rate is what limits a backlog.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select

from commands.context import Clock
from commands.ui import Message, message_from_json, message_to_json
from jobs import telemetry
from storage.db import session_scope
from storage.outbox import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

DELIVERY_EVENT = "kakehashi_delivery"
"""The metadata event type every post carries, with `{"key": <outbox key>}` as its payload."""

LEASE = timedelta(seconds=60)
"""How long a claim lasts: far longer than one send takes (the HTTP timeout is shorter)."""
LEASE_LEFT_TO_SEND = timedelta(seconds=45)
"""A claimed row is sent only while this much of its lease is left, else its lease is renewed
first: the send (a pause of up to `MAX_PAUSE`, then the HTTP timeout) ends well before the lease
does, with room for clocks that disagree between hosts."""
CLAIM_BATCH = 20
"""Rows claimed in one transaction: about a second's worth at Slack's pace."""
MAX_ATTEMPTS = 30
"""Transient failures before a message is given up as failed (about a day of backoff)."""
BACKOFF_FIRST, BACKOFF_MAX = 5.0, 3600.0
WAIT_FOR_ORIGINAL = timedelta(seconds=1)
MAX_PAUSE = 10.0
"""A sweep sleeps through pauses up to this long; longer ones are left to the next tick."""
BURST_SECONDS = 0.5
"""The pacer lets this many seconds' worth of calls go at once after a quiet moment."""
LATE_AFTER: Mapping[str, timedelta] = {"agenda": timedelta(days=1)}
"""Kinds of message not worth sending when this late (PRODUCT §10): skipped and logged."""


@dataclass(frozen=True)
class Landed:
    """Where a message landed: the conversation (a DM's channel ID) and its timestamp."""

    channel: str
    ts: str


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(DeliveryError):
    """Try again later: rate-limited, server error, timeout, connection lost."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, may_have_landed: bool = True
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.may_have_landed = may_have_landed
        """False when the platform certainly did nothing (a 429): no need to look for it."""


class PermanentError(DeliveryError):
    """The platform refused for good (user not found, channel archived, invalid blocks …)."""


class Transport(Protocol):
    """A chat platform, as the delivery engine needs it. Raises `TransientError` or
    `PermanentError`; nothing else is expected."""

    def post(self, recipient: str, message: Message, key: str) -> Landed:
        """Posts to a user (as a DM) or a channel, tagged with `key`."""
        ...

    def update(self, channel: str, ts: str, message: Message) -> None:
        """Edits an already-posted message in place."""
        ...

    def find_sent(self, recipient: str, key: str) -> Landed | None:
        """The message tagged with `key`, if an earlier attempt posted it."""
        ...


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


class Pacer:
    """How fast the engine and its transport may call the chat platform. Thread-safe;
    `monotonic()` and `sleep(seconds)` are injectable for tests.

    - Every Web API call takes a turn across the workspace (`take_turn`, by the transport: posts,
      edits and the look-ups of `find_sent` alike, since the platform counts them all): turns
      come at `per_second`, with a burst of at most `burst` after a quiet moment, so that a slow
      database commit is made up for instead of lost. A token bucket (GCRA): the long-run rate is
      `per_second` exactly and no t seconds see more than `burst` + `per_second` × t calls.
      Slack counts its limits per minute and tolerates short bursts; the test fake's bucket
      holds a second's worth, twice the burst, so that the spacing of requests in flight
      cannot add up to a 429 (which would pause every send for at least a second).
    - A post to a channel waits until `per_channel` seconds after the previous post to it was
      *answered* (`wait_needed` / `sent`, by the engine): measured from the answer, so that a
      slow request cannot land two posts closer together than the limit.
    - A rate-limit answer pauses every call for its `Retry-After` (`pause`).
    """

    def __init__(
        self,
        *,
        per_channel: float = 1.0,
        per_second: float = 5.0,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.per_channel = per_channel
        self.spacing = 1.0 / per_second if per_second > 0 else 0.0
        burst = max(1.0, per_second * BURST_SECONDS) if burst is None else max(1.0, burst)
        self.burst_allowance = (burst - 1.0) * self.spacing
        self.monotonic = monotonic
        self.sleep = sleep or time.sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._next_turn = 0.0
        self._paused_until = 0.0

    def take_turn(self) -> None:
        """Waits for the next turn across the workspace and takes it (turns are handed out in
        order, so concurrent callers queue up rather than race)."""
        with self._lock:
            now = self.monotonic()
            at = max(now, self._paused_until, self._next_turn - self.burst_allowance)
            self._next_turn = max(self._next_turn, at) + self.spacing
        if at > now:
            self.sleep(at - now)

    def wait_needed(self, channel: str | None = None) -> float:
        """Seconds until a message may go to `channel` (its own pace, or a pause); without a
        channel, until the pause ends."""
        with self._lock:
            ready = max(self._next.get(channel, 0.0) if channel else 0.0, self._paused_until)
            return max(0.0, ready - self.monotonic())

    def sent(self, channel: str) -> None:
        """The post to `channel` was answered (or failed): the next waits `per_channel`."""
        with self._lock:
            self._next[channel] = self.monotonic() + self.per_channel

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self.monotonic() + seconds)


def unpaced() -> Pacer:
    """No pacing at all: the shell, where nothing is rate-limited."""
    return Pacer(per_channel=0.0, per_second=0.0)


@dataclass
class Delivery:
    """Sends due outbox rows through `transport`; `sweep(now)` is a scheduler sweep.

    `clock` is the wall clock, for leases and for how long a sweep has been running; `now` given
    to `sweep` says what is due (the scheduler's tick, or `jobs run-due --at`)."""

    engine: Engine
    transport: Transport
    clock: Clock
    pacer: Pacer = field(default_factory=Pacer)
    lease: timedelta = LEASE
    max_attempts: int = MAX_ATTEMPTS
    late_after: Mapping[str, timedelta] = field(default_factory=lambda: dict(LATE_AFTER))
    recompose: Mapping[str, Callable[[str, Message, datetime], Message | None]] = field(
        default_factory=dict
    )
    """Per kind: (key, message as written, now) → the message as it should be sent now, or
    None when it is no longer worth sending; for messages built from data that may change while
    they wait, such as reminders."""
    holder: str = field(default_factory=lambda: this_process())
    """Who claims: written with each claim, so a claim of a process that is gone is known."""
    _state: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _running: bool = field(default=False, repr=False)
    _again: bool = field(default=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _retries: dict[int, datetime] = field(default_factory=dict, repr=False)
    """Rows this sweep put back to retry, and from when: taken before the backlog as soon as
    their backoff ends, instead of behind every row that came due before it."""

    # ---- the sweep -------------------------------------------------------------------------

    def sweep(self, now: datetime) -> list[str]:
        """Sends everything due by `now` (moving with the wall clock while it runs); returns one
        line per message sent. A sweep asked for while one runs in this process is folded into
        the running one, which looks again before it ends."""
        with self._state:
            if self._running:
                self._again = True
                return []
            self._running = True
        lines: list[str] = []
        started = self.clock.now()
        try:
            while True:
                with self._state:
                    self._again = False
                lines.extend(self._drain(now, started))
                with self._state:
                    if not self._again or self._stopping.is_set():
                        return lines
        finally:
            with self._state:
                self._running = False

    def stop(self) -> None:
        """Asks a running sweep to end after the message it is sending."""
        self._stopping.set()

    def _drain(self, now: datetime, started: datetime) -> list[str]:
        lines: list[str] = []
        self._retries.clear()
        while not self._stopping.is_set() and not self._paused_too_long():
            batch = self._next_batch(_moving(now, started, self.clock))
            if not batch:
                break
            for i, claim in enumerate(batch):
                if self._stopping.is_set() or self._paused_too_long(claim.recipient):
                    self._release_unsent(batch[i:])
                    return lines
                with telemetry.log_context(delivery=claim.key):
                    line = self._deliver(claim, _moving(now, started, self.clock))
                    if line:
                        log.info("delivered %s", line)
                if line:
                    lines.append(line)
        return lines

    def _paused_too_long(self, channel: str | None = None) -> bool:
        return self.pacer.wait_needed(channel) > MAX_PAUSE

    # ---- claiming --------------------------------------------------------------------------

    def _claim(self, due: datetime) -> Claim | None:
        """Claims the next due row (the oldest first), or None when nothing is due."""
        return next(iter(self._claim_batch(due, 1)), None)

    def _next_batch(self, due: datetime) -> list[Claim]:
        """The retries whose backoff ended, then the oldest due rows."""
        ready = [row for row, at in self._retries.items() if at <= due][:CLAIM_BATCH]
        for row in ready:
            del self._retries[row]
        retries = self._claim_batch(due, len(ready), among=ready) if ready else []
        if len(retries) == CLAIM_BATCH:
            return retries
        return retries + self._claim_batch(due, CLAIM_BATCH - len(retries))

    def _claim_batch(
        self, due: datetime, limit: int, *, among: list[int] | None = None
    ) -> list[Claim]:
        """Claims up to `limit` due rows (the oldest first; only rows `among` these ids when
        given) in one transaction: each by a compare-and-set of its lease, so a row is never
        handed to two senders; [] when nothing is due."""
        wall = self.clock.now()
        held_until = wall + self.lease
        free = or_(
            col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < wall
        )
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                col(OutboxMessage.not_before) <= due,
                free,
            )
            .order_by(col(OutboxMessage.not_before), col(OutboxMessage.id))
            .limit(limit)
        )
        if among is not None:
            query = query.where(col(OutboxMessage.id).in_(among))
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claims: list[Claim] = []
        with session_scope(self.engine) as session:
            for row in session.exec(query).all():
                claim = _claim_of(row, held_until)  # before the update refreshes `row`
                taken = session.execute(
                    update(OutboxMessage)
                    .where(
                        col(OutboxMessage.id) == row.id,
                        col(OutboxMessage.status) == OutboxStatus.PENDING.value,
                        free,
                    )
                    .values(claimed_until=claim.held_until, claimed_by=self.holder)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    claims.append(claim)
        return claims

    def _holds(self, claim: Claim) -> bool:
        """Whether a send may start on the claim now: with enough of its lease left nobody else
        can have taken the row over (they only take rows whose lease ran out); with less, the
        lease is renewed first. False when the claim was lost (a stalled process)."""
        if self.clock.now() + LEASE_LEFT_TO_SEND < claim.held_until:
            return True
        return self._still_ours(claim)

    def _still_ours(self, claim: Claim) -> bool:
        """Renews the lease just before the message goes out, so a send never starts on a
        claim that ran out (a stalled process) and another sender took over; False if it was."""
        until = self.clock.now() + self.lease
        with session_scope(self.engine) as session:
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
        log.warning(
            "claim on %s ran out before it was sent; leaving it to its new sender", claim.key
        )
        return False

    def _release_unsent(self, claims: list[Claim]) -> None:
        """Gives back claimed rows this sweep did not get to, where the claim is still ours. A
        row taken over from a sender that died keeps an expired claim, so that it is still
        looked for on the platform before it is posted."""
        expired = self.clock.now() - timedelta(microseconds=1)
        with session_scope(self.engine) as session:
            for claim in claims:
                session.execute(
                    update(OutboxMessage)
                    .where(
                        col(OutboxMessage.id) == claim.id,
                        col(OutboxMessage.claimed_until) == claim.held_until,
                    )
                    .values(claimed_until=expired if claim.lease_expired else None)
                )

    # ---- sending ---------------------------------------------------------------------------

    def _deliver(self, claim: Claim, due: datetime) -> str | None:
        """Sends one claimed row and records the outcome; a line when it was sent."""
        late = self.late_after.get(claim.kind)
        if late is not None and due - claim.not_before > late:
            log.warning("skipped %s %s: %s late", claim.kind, claim.key, due - claim.not_before)
            self._finish(claim, status=OutboxStatus.SKIPPED, last_error=f"more than {late} late")
            return None
        try:
            if claim.update_of is not None:
                return self._update(claim, due)
            return self._post(claim, due)
        except TransientError as error:
            self._retry_later(claim, due, error)
        except PermanentError as error:
            log.warning(
                "delivery of %s to %s failed for good: %s", claim.key, claim.recipient, error.reason
            )
            self._finish(claim, status=OutboxStatus.FAILED, last_error=error.reason)
        return None

    def _post(self, claim: Claim, due: datetime) -> str | None:
        if claim.may_have_landed:
            found = self.transport.find_sent(claim.recipient, claim.key)
            if found is not None:
                self._sent(claim, due, found)
                return f"{claim.kind} {claim.key} → {claim.recipient} (found already delivered)"
        fresh = self._fresh(claim, due)
        if fresh is None:
            return None
        claim = fresh
        if not self._wait_for_turn(claim.recipient):
            self._release(claim)
            return None
        if not self._holds(claim):
            return None
        try:
            landed = self.transport.post(claim.recipient, claim.message, claim.key)
        finally:
            self.pacer.sent(claim.recipient)
        self._sent(claim, due, landed)
        return f"{claim.kind} {claim.key} → {claim.recipient}"

    def _fresh(self, claim: Claim, due: datetime) -> Claim | None:
        """The claim with its message as of now (`recompose`); None when it was skipped."""
        recompose = self.recompose.get(claim.kind)
        if recompose is None:
            return claim
        message = recompose(claim.key, claim.message, due)
        if message is None:
            log.info("skipped %s %s: no longer due", claim.kind, claim.key)
            self._finish(claim, status=OutboxStatus.SKIPPED, last_error="no longer due")
            return None
        return replace(claim, payload=message_to_json(message))

    def _update(self, claim: Claim, due: datetime) -> str | None:
        assert claim.update_of is not None
        with session_scope(self.engine) as session:
            original = _row(session, claim.update_of)
            newer = session.exec(
                select(OutboxMessage.id).where(
                    OutboxMessage.update_of == claim.update_of, col(OutboxMessage.id) > claim.id
                )
            ).first()
        if newer is not None:
            self._finish(
                claim, status=OutboxStatus.SKIPPED, last_error="replaced by a later update"
            )
            return None
        if original is None or original.status in (OutboxStatus.FAILED, OutboxStatus.SKIPPED):
            reason = (
                f"the message to update ({claim.update_of}) "
                f"{'does not exist' if original is None else 'was never sent'}"
            )
            self._finish(claim, status=OutboxStatus.SKIPPED, last_error=reason)
            return None
        if original.status != OutboxStatus.SENT or not original.channel or not original.ts:
            self._release(claim, not_before=max(original.not_before, due) + WAIT_FOR_ORIGINAL)
            return None
        if not self._wait_for_turn(original.recipient):
            self._release(claim)
            return None
        if not self._holds(claim):
            return None
        try:
            self.transport.update(original.channel, original.ts, claim.message)
        finally:
            self.pacer.sent(original.recipient)
        self._finish(
            claim, status=OutboxStatus.SENT, channel=original.channel, ts=original.ts, sent_at=due
        )
        return f"{claim.kind} {claim.key} → {claim.recipient} (updated in place)"

    def _wait_for_turn(self, channel: str) -> bool:
        """Sleeps until the pacer lets a message go to `channel`; False when that is too long
        (or the engine is stopping): the row goes back for a later sweep."""
        wait = self.pacer.wait_needed(channel)
        if wait > MAX_PAUSE:
            return False
        if wait > 0:
            self.pacer.sleep(wait)
        return not self._stopping.is_set()

    # ---- recording outcomes ----------------------------------------------------------------

    def _sent(self, claim: Claim, due: datetime, landed: Landed) -> None:
        self._finish(
            claim,
            status=OutboxStatus.SENT,
            channel=landed.channel,
            ts=landed.ts,
            sent_at=due,
            last_error=None,
        )

    def _retry_later(self, claim: Claim, due: datetime, error: TransientError) -> None:
        attempts = claim.attempts + (1 if error.may_have_landed else 0)
        if error.retry_after is not None:
            self.pacer.pause(error.retry_after)
        if attempts >= self.max_attempts:
            reason = f"gave up after {attempts} attempts: {error.reason}"
            log.error("delivery of %s to %s: %s", claim.key, claim.recipient, reason)
            self._finish(claim, status=OutboxStatus.FAILED, last_error=reason, attempts=attempts)
            return
        delay = max(error.retry_after or 0.0, backoff(attempts))
        self._retries[claim.id] = due + timedelta(seconds=delay)
        log.info(
            "delivery of %s to %s will be retried in %.0fs: %s",
            claim.key,
            claim.recipient,
            delay,
            error.reason,
        )
        self._finish(
            claim,
            status=OutboxStatus.PENDING,
            attempts=attempts,
            not_before=due + timedelta(seconds=delay),
            last_error=error.reason,
        )

    def _release(self, claim: Claim, *, not_before: datetime | None = None) -> None:
        """Gives the row back untouched (nothing was sent): another sweep will send it."""
        values: dict[str, object] = {"claimed_until": None}
        if not_before is not None:
            values["not_before"] = not_before
        self._write(claim, values)

    def _finish(self, claim: Claim, *, status: OutboxStatus, **values: object) -> None:
        self._write(claim, {"status": status.value, "claimed_until": None, **values})
        telemetry.count_delivery(status, claim.kind)

    def _write(self, claim: Claim, values: dict[str, object]) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(OutboxMessage).where(col(OutboxMessage.id) == claim.id).values(**values)
            )


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


# ---- what operators look at ----------------------------------------------------------------


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
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


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
