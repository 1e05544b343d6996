"""The recipient's clock (PRODUCT §9): working hours in their own zone, weekends, Japanese public
holidays, DST, and where a snooze lands."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.shell_time import clock_target
from commands.i18n import zone_of
from commands.worktime import Snooze, WorkCalendar, WorkWeek

TOKYO, NEW_YORK = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
JP = WorkWeek(holidays="JP").calendar(TOKYO)
PLAIN_TOKYO = WorkWeek().calendar(TOKYO)
NY = WorkWeek(holidays="US").calendar(NEW_YORK)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_japanese_public_holidays_are_days_off() -> None:
    # Labour Thanksgiving Day (the test clock's Monday), Culture Day, New Year, a substitute
    # holiday (2026-05-06: Constitution Day fell on a Sunday) and Respect for the Aged Day.
    for day in ("2026-11-23", "2026-11-03", "2027-01-01", "2026-05-06", "2026-09-21"):
        assert not JP.is_working_day(date.fromisoformat(day)), day
    assert JP.is_working_day(date(2026, 11, 24))
    assert PLAIN_TOKYO.is_working_day(date(2026, 11, 23))  # no KAKEHASHI_HOLIDAYS: a Monday
    assert not PLAIN_TOKYO.is_working_day(date(2026, 11, 22))  # Sunday


def test_the_window_is_the_recipients_own_morning() -> None:
    assert not PLAIN_TOKYO.is_open(at("2026-11-29T23:00+09:00"))  # Sunday night
    assert not PLAIN_TOKYO.is_open(at("2026-11-30T08:59+09:00"))
    assert PLAIN_TOKYO.is_open(at("2026-11-30T09:00+09:00"))
    assert not PLAIN_TOKYO.is_open(at("2026-11-30T18:00+09:00"))
    assert PLAIN_TOKYO.next_open(at("2026-11-27T18:30+09:00")) == at("2026-11-30T09:00+09:00")
    assert JP.next_open(at("2026-11-22T12:00+09:00")) == at("2026-11-24T09:00+09:00")
    assert JP.start_of(date(2026, 11, 23)) == at("2026-11-24T09:00+09:00")


def test_dst_moves_the_window_with_the_wall_clock() -> None:
    # New York: EDT (UTC-4) until 2026-11-01, EST (UTC-5) after; EDT again from 2027-03-14.
    assert NY.opens(date(2026, 10, 30)) == datetime(2026, 10, 30, 13, 0, tzinfo=UTC)
    assert NY.opens(date(2026, 11, 2)) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert not NY.is_open(datetime(2026, 11, 2, 13, 30, tzinfo=UTC))  # 08:30 EST
    assert NY.opens(date(2027, 3, 15)) == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    # Friday 17:00 EDT + 1 working day = Monday 17:00 EST, one more hour of UTC.
    friday = datetime(2026, 10, 30, 21, 0, tzinfo=UTC)
    assert NY.add_working_days(friday, 1) == datetime(2026, 11, 2, 22, 0, tzinfo=UTC)


def test_working_days_skip_weekends_and_holidays() -> None:
    friday = at("2026-11-20T15:00+09:00")
    assert JP.add_working_days(friday, 1) == at("2026-11-24T15:00+09:00")  # Monday is a holiday
    assert JP.add_working_days(friday, 2) == at("2026-11-25T15:00+09:00")
    saturday = at("2026-11-28T11:00+09:00")  # counted from Monday's opening
    assert JP.add_working_days(saturday, 1) == at("2026-12-01T09:00+09:00")


@pytest.mark.parametrize(
    ("pressed", "choice", "returns"),
    [
        ("2026-11-30T10:00+09:00", Snooze.LATER_TODAY, "2026-11-30T13:00+09:00"),
        ("2026-11-30T16:30+09:00", Snooze.LATER_TODAY, "2026-12-01T09:00+09:00"),
        ("2026-11-30T10:00+09:00", Snooze.TOMORROW, "2026-12-01T09:00+09:00"),
        ("2026-11-27T10:00+09:00", Snooze.TOMORROW, "2026-11-30T09:00+09:00"),  # Friday
        ("2026-11-18T10:00+09:00", Snooze.NEXT_WEEK, "2026-11-24T09:00+09:00"),  # Mon: holiday
        ("2026-11-20T10:00+09:00", Snooze.TOMORROW, "2026-11-24T09:00+09:00"),
    ],
)
def test_a_snooze_returns_in_working_time(pressed: str, choice: Snooze, returns: str) -> None:
    until = JP.snoozed_until(at(pressed), choice)
    assert until == at(returns)
    assert JP.is_open(until)


def test_custom_hours_and_unknown_zones() -> None:
    late = WorkCalendar(zone=TOKYO, start=time(13), end=time(22))
    assert late.next_open(at("2026-11-30T09:05+09:00")) == at("2026-11-30T13:00+09:00")
    assert zone_of("Mars/Olympus", TOKYO) is TOKYO
    assert zone_of(None, NEW_YORK) is NEW_YORK


def test_shell_clock_targets() -> None:
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert clock_target("+1d", now, TOKYO) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert clock_target("+90m", now, TOKYO) == datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
    assert clock_target("+2w", now, TOKYO) == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert clock_target("2026-12-01T09:05+09:00", now, TOKYO) == at("2026-12-01T09:05+09:00")
    assert clock_target("2026-12-01T09:05", now, TOKYO) == at("2026-12-01T09:05+09:00")
    for bad in ("", "tomorrow", "+1y", "-1d", "+99999d", "2026-13-01"):
        assert clock_target(bad, now, TOKYO) is None, bad
