"""What every command, button and form handler is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session

from commands.addresses import ChannelInfo, Directory, UserProfile
from commands.i18n import Translator, translator_for
from commands.reminders.rules import ReminderRules
from commands.ui import Room
from commands.worktime import WorkWeek
from storage import people
from storage.people import Person

__all__ = [
    "ChannelInfo",
    "Clock",
    "Context",
    "Directory",
    "FixedClock",
    "SystemClock",
    "UserProfile",
    "apply_profile",
    "remember",
]


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


def apply_profile(person: Person, profile: UserProfile) -> None:
    """Caches what the platform knows of a person on their row."""
    person.name = profile.name
    person.tz = profile.tz
    person.locale = profile.locale
    person.email = profile.email
    person.is_bot = profile.is_bot


def remember(session: Session, platform: str, profile: UserProfile, now: datetime) -> Person:
    """The person the platform just described (a picked CS owner, a team member, a deal's
    owner): found or created on that platform, with the profile read now cached on their row."""
    person = people.get_or_create(session=session, user_id=profile.user_id, platform=platform)
    apply_profile(person, profile)
    person.profile_fetched_at = now
    session.add(person)
    session.flush()
    return person


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
    room: Room = field(default_factory=Room)
    """How much a message may hold on the platform that asked (set by the adapter)."""

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def translator_for(self, person: Person) -> Translator:
        """For a message to someone else (a DM): their language and time zone."""
        return translator_for(person, self.default_locale, self.default_zone)
