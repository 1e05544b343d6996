"""`/sync weekly` parsing, and the instants a weekly schedule names (DST-correct)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from commands.agenda.subscribe import Help, Off, Preview, Problem, Show, Weekly, parse, parse_time
from commands.markup import mention
from storage.agenda.subscriptions import WeeklySlot

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ---- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Show()),
        ("help", Help()),
        ("ＰＲＥＶＩＥＷ", Preview()),
        ("off", Off()),
        ("weekly mon 09:00", Weekly(0, time(9), None)),
        ("weekly Monday 9:00 Asia/Tokyo", Weekly(0, time(9), "Asia/Tokyo")),
        ("weekly 月 09:00 asia/tokyo", Weekly(0, time(9), "Asia/Tokyo")),
        ("weekly 金曜日 ９：３０", Weekly(4, time(9, 30), None)),
        ("毎週 水曜 午後3時半", Weekly(2, time(15, 30), None)),
        ("weekly sun 6:15pm UTC lang ja", Weekly(6, time(18, 15), "UTC", (), "ja")),
        ("weekly tue 12am", Weekly(1, time(0), None)),
        (
            "weekly thu 08:00 team \ue000UCS\ue001 \ue000UCS2\ue001 \ue000UCS\ue001",
            Weekly(3, time(8), None, ("UCS", "UCS2")),
        ),
        (
            "weekly sat 23:59 America/New_York lang EN team \ue000UCS\ue001",
            Weekly(5, time(23, 59), "America/New_York", ("UCS",), "en"),
        ),
        (
            "weekly mon 09:00 チーム \ue000UCS\ue001 言語 日本語",
            Weekly(0, time(9), None, ("UCS",), "ja"),
        ),
    ],
)
def test_what_people_type_is_understood(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("weekly", "sync.weekly_usage"),
        ("weekly mon", "sync.weekly_usage"),
        ("weekly someday 09:00", "sync.bad_day"),
        ("weekly mon 25:00", "sync.bad_time"),
        ("weekly mon 9:60", "sync.bad_time"),
        ("weekly mon 13pm", "sync.bad_time"),
        ("weekly mon noon", "sync.bad_time"),
        ("weekly mon 09:00 Mars/Olympus", "sync.bad_zone"),
        ("weekly mon 09:00 ../../etc/passwd", "sync.bad_zone"),
        ("weekly mon 09:00 team", "sync.team_empty"),
        ("weekly mon 09:00 team aiko", "sync.team_mention"),
        ("weekly mon 09:00 team <!channel>", "sync.team_mention"),
        ("weekly mon 09:00 team <@UCS> '; DROP TABLE sync_subscriptions; --", "sync.team_mention"),
        ("weekly mon 09:00 lang fr", "sync.bad_lang"),
        ("weekly mon 09:00 lang", "sync.bad_lang"),
        ("weekly mon 09:00 UTC Asia/Tokyo", "sync.unexpected"),
        ("weekly mon 09:00 " + "x" * 10_000, "sync.bad_zone"),
        ("weekly 🎉 09:00", "sync.bad_day"),
        ("preview now", "sync.unknown"),
        ("<@U0001>", "sync.unknown"),
    ],
)
def test_malformed_input_names_what_is_wrong(text: str, key: str) -> None:
    problem = parse(text)
    assert isinstance(problem, Problem) and problem.key == key
    assert len(problem.value) <= 40  # quoted back, clipped


def test_a_team_is_at_most_fifty_people() -> None:
    team = " ".join(mention(f"U{i:04d}") for i in range(51))
    problem = parse(f"weekly mon 09:00 team {team}")
    assert problem == Problem("sync.team_too_big", "50")


@pytest.mark.parametrize("word", ["0:00", "23:59", "12pm", "12:30am", "9時", "午前9時", "24時"])
def test_times_of_day(word: str) -> None:
    expected = {
        "0:00": time(0),
        "23:59": time(23, 59),
        "12pm": time(12),
        "12:30am": time(0, 30),
        "9時": time(9),
        "午前9時": time(9),
        "24時": None,
    }[word]
    assert parse_time(word) == expected


# ---- the schedule's instants -----------------------------------------------------------------


def test_monday_0900_in_tokyo() -> None:
    slot = WeeklySlot(0, time(9), TOKYO)
    monday_10am = utc(2026, 11, 23, 1)
    assert slot.latest(monday_10am) == utc(2026, 11, 23, 0)
    assert slot.next(monday_10am) == utc(2026, 11, 30, 0)
    assert slot.latest(utc(2026, 11, 23, 0)) == utc(2026, 11, 23, 0)  # at the slot: it is due
    assert slot.next(utc(2026, 11, 23, 0)) == utc(2026, 11, 30, 0)
    sunday_night_utc = utc(2026, 11, 22, 23, 59)  # Monday 08:59 in Tokyo
    assert slot.latest(sunday_night_utc) == utc(2026, 11, 16, 0)
    assert slot.next(sunday_night_utc) == utc(2026, 11, 23, 0)


def test_new_york_follows_daylight_saving_time() -> None:
    slot = WeeklySlot(0, time(9), NEW_YORK)
    assert slot.next(utc(2026, 3, 3)) == utc(2026, 3, 9, 13)  # EDT from March 8: 13:00 UTC
    assert slot.next(utc(2026, 3, 1)) == utc(2026, 3, 2, 14)  # EST: 14:00 UTC
    assert slot.next(utc(2026, 10, 27)) == utc(2026, 11, 2, 14)  # EST again from November 1
    weeks = [slot.next(utc(2026, 2, 23) + timedelta(weeks=n)) for n in range(3)]
    assert [w.astimezone(NEW_YORK).hour for w in weeks] == [9, 9, 9]


def test_a_time_skipped_by_dst_falls_an_hour_later_and_a_repeated_one_once() -> None:
    skipped = WeeklySlot(6, time(2, 30), NEW_YORK)  # Sunday 2026-03-08 02:30 does not exist
    at = skipped.next(utc(2026, 3, 7))
    assert at == utc(2026, 3, 8, 7, 30) and at.astimezone(NEW_YORK).hour == 3
    repeated = WeeklySlot(6, time(1, 30), NEW_YORK)  # Sunday 2026-11-01 01:30 happens twice
    assert repeated.next(utc(2026, 10, 31)) == utc(2026, 11, 1, 5, 30)  # the first (EDT)


def test_latest_is_never_after_now_and_next_always_after() -> None:
    slot = WeeklySlot(2, time(17, 45), NEW_YORK)
    moment = utc(2026, 1, 1)
    for _ in range(400):
        assert slot.latest(moment) <= moment < slot.next(moment)
        assert slot.next(moment) - slot.latest(moment) in (
            timedelta(days=7),
            timedelta(days=7, hours=1),
            timedelta(days=7, hours=-1),
        )
        moment += timedelta(hours=23)
