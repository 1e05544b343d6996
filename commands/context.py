"""What every command, button and form handler is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.i18n import Translator, translator_for
from commands.reminders.rules import ReminderRules
from commands.worktime import WorkWeek
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


def apply_profile(person: Person, profile: UserProfile) -> None:
    """Caches what Slack knows of a person on their row."""
    person.name = profile.name
    person.tz = profile.tz
    person.locale = profile.locale
    person.email = profile.email
    person.is_bot = profile.is_bot


PROFILE_MAX_AGE = timedelta(days=1)
"""How long a person's cached profile (zone, language, name) is used before it is read again."""


def refresh_profile(person: Person, directory: Directory, now: datetime) -> None:
    """Reads the person's profile again when the cached one is a day old or was never read; a
    failed look-up leaves it to be tried again."""
    fetched = person.profile_fetched_at
    if fetched is not None and now - fetched <= PROFILE_MAX_AGE:
        return
    profile = directory.lookup(person.user_id)
    if profile is not None:
        apply_profile(person, profile)
        person.profile_fetched_at = now


@dataclass(frozen=True)
class ChannelInfo:
    channel_id: str
    is_member: bool
    """The bot is in the channel, so it can post there."""
    is_archived: bool = False


class Directory(Protocol):
    """Who a user is, as the chat platform knows them (Slack: `users.info`)."""

    def lookup(self, user_id: str) -> UserProfile | None: ...

    def channel(self, channel_id: str) -> ChannelInfo | None:
        """The channel as the bot sees it (Slack: `conversations.info`); None when the bot
        cannot see it (a private channel it is not in) or the platform did not say."""
        ...


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
    handoff_channel: str | None = None
    """`KAKEHASHI_HANDOFF_CHANNEL`: where new handoffs are announced."""
    work: WorkWeek = field(default_factory=WorkWeek)
    """`KAKEHASHI_WORK_HOURS` and `KAKEHASHI_HOLIDAYS`: when reminders may arrive (snooze)."""
    reminder_rules: ReminderRules = field(default_factory=ReminderRules)
    """`KAKEHASHI_REMIND_*`: when reminders come due, and when an account counts as silent."""

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def translator_for(self, person: Person) -> Translator:
        """For a message to someone else (a DM): their language and time zone."""
        return translator_for(person, self.default_locale, self.default_zone)
