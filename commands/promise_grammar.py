"""One promise as people write it: `TEXT [by DATE] [every week|every month]`.

Shared by `/promise ACCOUNT: …` and the handoff form's "promises made during the sale" (one
line each). The two clauses may come in either order; Japanese forms are understood too
(`12月15日まで`, `毎週`, `毎月`), and full-width letters and digits fold to ASCII. The date is
read by `commands.dates` (`Dec 18`, `Friday`, `2026/12/18` …); "by" followed by something
that is not a date (`by phone`, `by 20%`) is part of the text.

    parse_promise_line("Usage report by 2026-12-01 every month", today=date(2026, 11, 23))
    → PromiseLine(text="Usage report", due=date(2026, 12, 1), recurrence=Recurrence.MONTH)

The parser never raises: it returns a `PromiseLine` or a `LineProblem` whose `key` is a message
(`locales/*/promise_grammar.po`) naming what was wrong, with an example of the right form.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from commands.dates import JAPANESE_DATE, DateProblem, read_date
from storage.promises import Recurrence

TEXT_LIMIT = 500
"""Longest promise text: a promise is a sentence, not a document."""

_RECURRENCE_WORDS = {
    "every week": Recurrence.WEEK,
    "weekly": Recurrence.WEEK,
    "毎週": Recurrence.WEEK,
    "every month": Recurrence.MONTH,
    "monthly": Recurrence.MONTH,
    "毎月": Recurrence.MONTH,
}
_RECURRENCE = re.compile(
    r"(?:(?:^|\s)(every\s+week|every\s+month|weekly|monthly)|(毎週|毎月))\s*$", re.IGNORECASE
)
_DUE = re.compile(
    rf"(?:(?:^|\s)by\s+((?:(?!\sby\s).)+?)|(?<![0-9])({JAPANESE_DATE})\s*までに?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PromiseLine:
    text: str
    due: date | None = None
    """For recurring promises: the first occurrence (None: one period after it is recorded)."""
    recurrence: Recurrence | None = None


@dataclass(frozen=True)
class LineProblem:
    key: str
    """Message key, e.g. `promise_line.past_date` or `date.ambiguous`."""
    params: dict[str, str] = field(default_factory=dict)


def parse_promise_line(line: str, *, today: date) -> PromiseLine | LineProblem:
    rest = _one_line(line)
    due: date | None = None
    recurrence: Recurrence | None = None
    for _ in range(2):  # the two clauses, in either order
        if recurrence is None and (found := _RECURRENCE.search(rest)):
            words = re.sub(r"\s+", " ", (found[1] or found[2]).casefold())
            recurrence = _RECURRENCE_WORDS[words]
        elif due is None and (found := _DUE.search(rest)):
            parsed = read_date(found[1] or found[2], today=today)
            if parsed is None:
                break  # "by phone", "by 20%": part of the text
            if isinstance(parsed, DateProblem):
                return LineProblem(parsed.key, parsed.params)
            if parsed < today:
                return LineProblem("promise_line.past_date", {"value": parsed.isoformat()})
            due = parsed
        else:
            break
        rest = rest[: found.start()]
    text = rest.strip().rstrip(",;、。").strip()
    if not text:  # "before the date" only when there was a date or a repeat to be before
        return LineProblem("promise_line.no_text" if due or recurrence else "promise_line.empty")
    if len(text) > TEXT_LIMIT:
        return LineProblem("promise_line.too_long", {"limit": str(TEXT_LIMIT)})
    return PromiseLine(text=text, due=due, recurrence=recurrence)


def first_due_date(line: PromiseLine, *, today: date) -> date | None:
    """A recurring promise without a date first falls due one period after today."""
    if line.due is not None or line.recurrence is None:
        return line.due
    return next_occurrence(today, line.recurrence)


def next_occurrence(due: date, recurrence: Recurrence, *, anchor_day: int | None = None) -> date:
    """The occurrence after `due`. A monthly promise keeps its day of the month (`anchor_day`,
    the first due date's day): the 31st falls on the last day of shorter months, then back."""
    if recurrence == Recurrence.WEEK:
        return due + timedelta(weeks=1)
    year, month = (due.year + 1, 1) if due.month == 12 else (due.year, due.month + 1)
    return date(year, month, min(anchor_day or due.day, calendar.monthrange(year, month)[1]))


def _one_line(line: str) -> str:
    """NFKC (full-width letters, digits, spaces); control characters and breaks become spaces."""
    folded = unicodedata.normalize("NFKC", line)
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", folded).strip()
