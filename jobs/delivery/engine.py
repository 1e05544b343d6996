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

How fast: one sender thread per process and platform, messages one at a time, recipients taking
turns (each one's n-th message after everyone's (n-1)-th, `claims.claim_due`), paced by a `Pacer`
shared with the transport: about one post per second per channel (the engine waits for it), and
`per_second` Web API calls across the workspace, every call the transport makes (posts, and
`find_sent`'s look-ups, which Slack counts alike) taking a turn from a token bucket. The
database work of a message (its recomposition, the record that it was sent; one claim per batch)
is done while the pacer would wait anyway, so the workspace rate is what limits a backlog.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import col, select

from commands.context import Clock
from commands.ui import Message, message_to_json
from jobs import telemetry
from jobs.delivery.claims import (
    CLAIM_BATCH,
    LEASE,
    MAX_ATTEMPTS,
    Claim,
    _moving,
    _row,
    backoff,
    claim_due,
    renew_lease,
    this_process,
)
from jobs.delivery.transport import Landed, Pacer, PermanentError, TransientError, Transport
from storage.db import session_scope
from storage.outbox import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


LEASE_LEFT_TO_SEND = timedelta(seconds=45)
"""A claimed row is sent only while this much of its lease is left, else its lease is renewed
first: the send (a pause of up to `MAX_PAUSE`, then the HTTP timeout) ends well before the lease
does, with room for clocks that disagree between hosts."""


WAIT_FOR_ORIGINAL = timedelta(seconds=1)


MAX_PAUSE = 10.0
"""A sweep sleeps through pauses up to this long; longer ones are left to the next tick."""


LATE_AFTER: Mapping[str, timedelta] = {"agenda": timedelta(days=1)}
"""Kinds of message not worth sending when this late (PRODUCT §10): skipped and logged."""


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
    platform: str | None = None
    """Only this platform's rows are claimed (None: every row, as when one platform is served)."""
    on_failed: Callable[[Claim, PermanentError], None] | None = None
    """Told of a row that failed for good, with the reason (a manager is told of an unreachable
    person)."""
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
        return claim_due(
            self.engine,
            due=due,
            wall=wall,
            until=wall + self.lease,
            holder=self.holder,
            limit=limit,
            among=among,
            platform=self.platform,
        )

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
        if renew_lease(self.engine, claim, self.clock.now() + self.lease):
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
            if self.on_failed is not None:
                self.on_failed(claim, error)
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
