"""The recipient's clock: working hours in their own time zone, weekends and public holidays.

Reminders are delivered only while a person's window is open (PRODUCT §9): what comes due outside
it waits for the next window, in that person's own morning. All instants going in and out are
aware datetimes; the local calendar is computed with `zoneinfo`, so DST shifts move the window
with the wall clock (09:00 in New York is 14:00 UTC in winter, 13:00 UTC in summer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

import holidays

WEEKEND = frozenset({5, 6})
"""Saturday and Sunday."""
_SEARCH_DAYS = 400
"""A working day is always found within this many days (a year of holidays at most)."""


class Snooze(StrEnum):
    LATER_TODAY = "today"
    TOMORROW = "tomorrow"
    NEXT_WEEK = "week"


LATER_TODAY = timedelta(hours=3)


@cache
def _public_holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


@dataclass(frozen=True)
class WorkWeek:
    """The working hours and holidays everyone shares (`KAKEHASHI_WORK_HOURS`,
    `KAKEHASHI_HOLIDAYS`); each person applies them in their own time zone."""

    start: time = time(9)
    end: time = time(18)
    holidays: str = ""
    """ISO country code whose public holidays are days off; empty for none."""

    def calendar(self, zone: ZoneInfo) -> WorkCalendar:
        return WorkCalendar(zone=zone, start=self.start, end=self.end, country=self.holidays)


@dataclass(frozen=True)
class WorkCalendar:
    zone: ZoneInfo
    start: time = time(9)
    end: time = time(18)
    country: str = ""

    def is_working_day(self, day: date) -> bool:
        if day.weekday() in WEEKEND:
            return False
        return not (self.country and day in _public_holidays(self.country))

    def opens(self, day: date) -> datetime:
        """When the window opens on `day`, in UTC."""
        return datetime.combine(day, self.start, tzinfo=self.zone).astimezone(UTC)

    def closes(self, day: date) -> datetime:
        return datetime.combine(day, self.end, tzinfo=self.zone).astimezone(UTC)

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def is_open(self, at: datetime) -> bool:
        day = self.local_day(at)
        return self.is_working_day(day) and self.opens(day) <= at < self.closes(day)

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        for offset in range(1, _SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError("no working day within a year")

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when the window is open, else the moment it next opens."""
        if self.is_open(at):
            return at.astimezone(UTC)
        day = self.local_day(at)
        if self.is_working_day(day) and at < self.opens(day):
            return self.opens(day)
        return self.opens(self.next_working_day(day))

    def start_of(self, day: date) -> datetime:
        """The first working moment on or after the local day `day` (midnight in the zone)."""
        return self.next_open(datetime.combine(day, time(0), tzinfo=self.zone))

    def add_working_days(self, at: datetime, days: int) -> datetime:
        """The same local time of day, `days` working days later; counted from the next open
        moment, so a Saturday handoff's first working day ends on Tuesday morning."""
        moment = self.next_open(at).astimezone(self.zone)
        day = moment.date()
        for _ in range(days):
            day = self.next_working_day(day)
        return datetime.combine(day, moment.time(), tzinfo=self.zone).astimezone(UTC)

    def snoozed_until(self, at: datetime, choice: Snooze) -> datetime:
        """When a reminder snoozed at `at` comes back: always inside the window."""
        day = self.local_day(at)
        if choice == Snooze.LATER_TODAY:
            return self.next_open(at + LATER_TODAY)
        if choice == Snooze.TOMORROW:
            return self.opens(self.next_working_day(day))
        monday = day + timedelta(days=7 - day.weekday())
        return self.start_of(monday)
