"""What the engine sends through: a platform's `Transport`, the errors it raises, and the `Pacer`
it shares with the engine (Slack's rates: about one post a second per channel, and a number of
Web API calls a second across the workspace)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from commands.ui import Message

DELIVERY_EVENT = "kakehashi_delivery"
"""The metadata event type every post carries, with `{"key": <outbox key>}` as its payload."""


BURST_SECONDS = 0.5
"""The pacer lets this many seconds' worth of calls go at once after a quiet moment."""


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
