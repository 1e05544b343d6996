"""Reading `/sync`'s words: the subcommand, the day and time, the zone, the team and the
language, in English or Japanese, half- or full-width."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from functools import cache
from zoneinfo import available_timezones

from commands.markup import MENTIONED
from commands.text import clip, fold, is_help, strip_control

TEAM_LIMIT = 50
"""People in one agenda's team: enough for a sales and CS floor, short enough for a heading."""
QUOTE_LIMIT = 40
"""Longest piece of what was typed quoted back in an error."""

DAY_WORDS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("mon", "monday", "月", "月曜", "月曜日"),
        ("tue", "tues", "tuesday", "火", "火曜", "火曜日"),
        ("wed", "wednesday", "水", "水曜", "水曜日"),
        ("thu", "thur", "thurs", "thursday", "木", "木曜", "木曜日"),
        ("fri", "friday", "金", "金曜", "金曜日"),
        ("sat", "saturday", "土", "土曜", "土曜日"),
        ("sun", "sunday", "日", "日曜", "日曜日"),
    )
):
    DAY_WORDS.update(dict.fromkeys(_names, _number))

LANG_WORDS = {
    "en": "en",
    "english": "en",
    "英語": "en",
    "ja": "ja",
    "japanese": "ja",
    "日本語": "ja",
}
TEAM_WORDS = ("team", "チーム")
LANG_KEYWORDS = ("lang", "language", "言語")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_AM_PM = re.compile(r"(\d{1,2})(?::(\d{2}))?(am|pm)")
_JAPANESE_CLOCK = re.compile(r"(午前|午後)?(\d{1,2})時(?:(\d{1,2})分|半)?")


# ---- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Show:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Preview:
    pass


@dataclass(frozen=True)
class Off:
    pass


@dataclass(frozen=True)
class Weekly:
    weekday: int
    at: time
    zone: str | None
    """An IANA name; None: the subscriber's own time zone."""
    team: tuple[str, ...] = ()
    """The platform's user ids of the people mentioned."""
    locale: str | None = None


@dataclass(frozen=True)
class Problem:
    """What was wrong, as a message key, with the piece of input it is about."""

    key: str
    value: str = ""


Request = Show | Help | Preview | Off | Weekly


def parse(text: str) -> Request | Problem:
    words = strip_control(text).split(maxsplit=1)
    sub = fold(words[0]) if words else ""
    rest = words[1] if len(words) > 1 else ""
    if not sub:
        return Show()
    if is_help(text):
        return Help()
    if sub in ("preview", "プレビュー") and not rest.strip():
        return Preview()
    if sub in ("off", "stop", "停止", "オフ") and not rest.strip():
        return Off()
    if sub in ("weekly", "毎週"):
        return parse_weekly(rest)
    return Problem("sync.unknown", clip(words[0], QUOTE_LIMIT))


def parse_weekly(text: str) -> Weekly | Problem:
    """`DAY HH:MM [ZONE] [team @a @b …] [lang ja|en]`."""
    words = text.split()
    if len(words) < 2:
        return Problem("sync.weekly_usage")
    weekday = DAY_WORDS.get(fold(words[0]).rstrip("."))
    if weekday is None:
        return Problem("sync.bad_day", clip(words[0], QUOTE_LIMIT))
    at = parse_time(words[1])
    if at is None:
        return Problem("sync.bad_time", clip(words[1], QUOTE_LIMIT))
    rest = words[2:]
    zone = None
    if rest and not _keyword(rest[0]):
        zone = canonical_zone(rest[0])
        if zone is None:
            return Problem("sync.bad_zone", clip(rest[0], QUOTE_LIMIT))
        rest = rest[1:]
    options = _options(rest)
    if isinstance(options, Problem):
        return options
    team, locale = options
    return Weekly(weekday=weekday, at=at, zone=zone, team=team, locale=locale)


def _options(words: list[str]) -> tuple[tuple[str, ...], str | None] | Problem:
    team: list[str] = []
    locale = None
    seen_team = False
    index = 0
    while index < len(words):
        word = fold(words[index])
        if word in TEAM_WORDS:
            seen_team = True
            index += 1
            while index < len(words) and not _keyword(words[index]):
                match = MENTIONED.fullmatch(words[index])
                if not match:
                    return Problem("sync.team_mention", clip(words[index], QUOTE_LIMIT))
                if match[1] not in team:
                    team.append(match[1])
                index += 1
            continue
        if word in LANG_KEYWORDS:
            value = fold(words[index + 1]) if index + 1 < len(words) else ""
            locale = LANG_WORDS.get(value)
            if locale is None:
                return Problem("sync.bad_lang", clip(value, QUOTE_LIMIT))
            index += 2
            continue
        return Problem("sync.unexpected", clip(words[index], QUOTE_LIMIT))
    if seen_team and not team:
        return Problem("sync.team_empty")
    if len(team) > TEAM_LIMIT:
        return Problem("sync.team_too_big", str(TEAM_LIMIT))
    return tuple(team), locale


def _keyword(word: str) -> bool:
    return fold(word) in TEAM_WORDS + LANG_KEYWORDS


def parse_time(word: str) -> time | None:
    """`09:00`, `9:00`, `９：００`, `9am`, `6:30pm`, `9時`, `午後3時半`."""
    folded = fold(word)
    hour = minute = None
    if match := _CLOCK.fullmatch(folded):
        hour, minute = int(match[1]), int(match[2])
    elif match := _AM_PM.fullmatch(folded):
        hour, minute = int(match[1]), int(match[2] or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match[3] == "pm" else 0)
    elif match := _JAPANESE_CLOCK.fullmatch(folded):
        hour = int(match[2])
        minute = int(match[3]) if match[3] else (30 if folded.endswith("半") else 0)
        if match[1] == "午後" and hour < 12:
            hour += 12
    if hour is None or minute is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


@cache
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def canonical_zone(word: str) -> str | None:
    """An IANA time zone name as written in the database, whatever its case: `asia/tokyo`."""
    return _zones().get(fold(word))
