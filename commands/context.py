"""What every command, button and form handler is given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.i18n import Translator
from storage.people import Person


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that moves only when told to: tests, `--at`, and the shell's time travel."""

    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass(frozen=True)
class UserProfile:
    user_id: str
    name: str
    tz: str | None
    locale: str | None
    email: str | None
    is_bot: bool
    deleted: bool = False


class Directory(Protocol):
    """Who a user is, as the chat platform knows them (Slack: `users.info`)."""

    def lookup(self, user_id: str) -> UserProfile | None: ...


@dataclass
class Context:
    session: Session
    actor: Person
    t: Translator
    clock: Clock
    directory: Directory
    default_locale: str
    default_zone: ZoneInfo
    channel_id: str | None = None

    @property
    def now(self) -> datetime:
        return self.clock.now()
