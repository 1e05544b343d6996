"""Dates as people write them, in English or Japanese: the one reader behind `/promise … by …`,
every form's date field, `/account … renewal …` and the accounts CSV (PRODUCT §12).

Accepted, after full-width characters fold to ASCII and case is ignored:

- `2026-12-01`, `2026/12/1`, `2026.12.01`, `2026年12月1日`
- `Dec 1`, `December 1st, 2026`, `1 Dec 2026`, `12月1日`: without a year, the next such day
  (today included)
- `today`/`今日`, `tomorrow`/`明日`, a weekday (`Friday`, `Fri`, `金曜`, `金曜日`: the next one,
  today included), `next week`/`来週` (seven days from today)

`12/01` and `01/12/2026` mean different days to different readers, so they are asked about
(`date.ambiguous`), never guessed. Relative words and days without a year need `today`, the day
it is where the person is; a reader without one (the CSV, read long after it was written) asks
for the year instead.

No library does this strictly: dateparser guesses `12/01` by a locale setting and takes
"by 20%" for a date, so this is a small parser of exactly the forms above.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, timedelta

from commands.text import Safe, clip, fold

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon", "月曜", "月曜日"),
            ("tuesday", "tue", "tues", "火曜", "火曜日"),
            ("wednesday", "wed", "水曜", "水曜日"),
            ("thursday", "thu", "thur", "thurs", "木曜", "木曜日"),
            ("friday", "fri", "金曜", "金曜日"),
            ("saturday", "sat", "土曜", "土曜日"),
            ("sunday", "sun", "日曜", "日曜日"),
        )
    )
    for name in names
}
_DAYS_FROM_TODAY = {
    "today": 0,
    "今日": 0,
    "きょう": 0,
    "本日": 0,
    "tomorrow": 1,
    "明日": 1,
    "あした": 1,
    "あす": 1,
    "next week": 7,
    "来週": 7,
}

_MONTH = "(?P<month_name>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s*(?P<year>[0-9]{4}))?"
_FORMS = (
    re.compile(r"(?P<year>[0-9]{4})[-/.](?P<month>[0-9]{1,2})[-/.](?P<day>[0-9]{1,2})"),
    re.compile(
        r"(?:(?P<year>[0-9]{4})\s*年\s*)?(?P<month>[0-9]{1,2})\s*月\s*(?P<day>[0-9]{1,2})\s*日"
    ),
    re.compile(rf"{_MONTH}\s*{_DAY}{_YEAR}"),
    re.compile(rf"{_DAY}\s*(?:of\s+)?{_MONTH}{_YEAR}"),
)
_AMBIGUOUS = re.compile(r"(?P<a>[0-9]{1,2})[-/.](?P<b>[0-9]{1,2})(?:[-/.](?P<year>[0-9]{2,4}))?")

JAPANESE_DATE = (
    r"(?:[0-9０-９]{4}\s*年\s*)?[0-9０-９]{1,2}\s*月\s*[0-9０-９]{1,2}\s*日"
    r"|[0-9０-９]{4}[-/.－／．][0-9０-９]{1,2}[-/.－／．][0-9０-９]{1,2}"
    r"|[0-9０-９]{1,2}[/／][0-9０-９]{1,2}"
    r"|今日|きょう|本日|明日|あした|あす|来週|[月火水木金土日]曜日?"
)
"""What may stand right before `まで` in Japanese text, which has no space to split on."""


@dataclass(frozen=True)
class DateProblem:
    """Text shaped like a date that is not one (`2026-02-30`) or that may mean two days."""

    key: str
    """Message key in `locales/*/dates.po`."""
    params: dict[str, str] = field(default_factory=dict)


def read_date(text: str, *, today: date | None) -> date | DateProblem | None:
    """The date written, a problem to show the person, or None when the text is not a date at
    all (so "by phone" and "by 20%" stay part of a promise's text)."""
    written = " ".join(fold(text).split())
    if not written:
        return None
    if (relative := _relative(written)) is not None:
        return _from_today(relative, today, text)
    for form in _FORMS:
        if found := form.fullmatch(written):
            return _calendar_date(found.groupdict(), today, text)
    if found := _AMBIGUOUS.fullmatch(written):
        return _ambiguous(found, today, text)
    return None


def _relative(written: str) -> int | str | None:
    """Days from today, or a weekday's name."""
    if written in _DAYS_FROM_TODAY:
        return _DAYS_FROM_TODAY[written]
    return written if written in _WEEKDAYS else None


def _from_today(relative: int | str, today: date | None, text: str) -> date | DateProblem:
    if today is None:
        return DateProblem("date.needs_year", {"value": _shown(text)})
    if isinstance(relative, int):
        return today + timedelta(days=relative)
    return today + timedelta(days=(_WEEKDAYS[relative] - today.weekday()) % 7)


def _calendar_date(
    parts: dict[str, str | None], today: date | None, text: str
) -> date | DateProblem:
    name = parts.get("month_name")
    month = _MONTHS[name] if name else int(parts["month"] or 0)
    day = int(parts["day"] or 0)
    if parts["year"]:
        try:
            return date(int(parts["year"]), month, day)
        except ValueError:
            return DateProblem("date.impossible", {"value": _shown(text)})
    if today is None:
        return DateProblem("date.needs_year", {"value": _shown(text)})
    found = _next_such_day(month, day, today)
    return found or DateProblem("date.impossible", {"value": _shown(text)})


def _next_such_day(month: int, day: int, today: date) -> date | None:
    """The first `month`/`day` on or after today; Feb 29 waits for a leap year."""
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _ambiguous(found: re.Match[str], today: date | None, text: str) -> DateProblem:
    """`12/01`: the first of December to some, the twelfth of January to others."""
    a, b = int(found["a"]), int(found["b"])
    year = found["year"]
    readings = []
    for month, day in ((a, b), (b, a)):
        if year and len(year) == 4:
            with suppress(ValueError):
                readings.append(date(int(year), month, day))
        elif today is not None and (next_day := _next_such_day(month, day, today)):
            readings.append(next_day)
    # Built here, so markup (code spans), not typed text to escape.
    choices = Safe(" / ".join(dict.fromkeys(f"`{d.isoformat()}`" for d in readings)))
    if not choices:
        return DateProblem("date.ambiguous_unreadable", {"value": _shown(text)})
    return DateProblem("date.ambiguous", {"value": _shown(text), "choices": choices})


def _shown(text: str) -> str:
    """What was written, quoted back on one line."""
    return clip(" ".join(text.split()), 60)
