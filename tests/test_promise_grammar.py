"""One promise line: `TEXT [by YYYY-MM-DD] [every week|every month]`."""

from __future__ import annotations

from datetime import date

import pytest

from commands.i18n import Translator
from commands.promise_grammar import (
    LineProblem,
    PromiseLine,
    first_due_date,
    next_occurrence,
    parse_promise_line,
)
from storage.promises import Recurrence

TODAY = date(2026, 11, 23)
WEEK, MONTH = Recurrence.WEEK, Recurrence.MONTH


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Monthly training session", PromiseLine("Monthly training session")),
        ("Workshop by 2026-12-15", PromiseLine("Workshop", date(2026, 12, 15))),
        ("Usage report every month", PromiseLine("Usage report", None, MONTH)),
        ("Call by 2026-12-01 every week", PromiseLine("Call", date(2026, 12, 1), WEEK)),
        ("Call every week by 2026-12-01", PromiseLine("Call", date(2026, 12, 1), WEEK)),
        ("  Report   BY 2026/12/01  EVERY MONTH ", PromiseLine("Report", date(2026, 12, 1), MONTH)),
        ("Training by phone", PromiseLine("Training by phone")),
        ("Call every customer", PromiseLine("Call every customer")),
        ("Due today by 2026-11-23", PromiseLine("Due today", TODAY)),
        (
            "導入ワークショップ ｂｙ ２０２６－１２－１５",
            PromiseLine("導入ワークショップ", date(2026, 12, 15)),
        ),
        ("利用状況レポート 毎月", PromiseLine("利用状況レポート", None, MONTH)),
        ("定例会　毎週", PromiseLine("定例会", None, WEEK)),  # ideographic space
        ("定例会毎週", PromiseLine("定例会", None, WEEK)),
        ("研修を実施 2026-12-10まで", PromiseLine("研修を実施", date(2026, 12, 10))),
        ("研修を実施2026-12-10までに毎月", PromiseLine("研修を実施", date(2026, 12, 10), MONTH)),
        ("Weekly sync weekly", PromiseLine("Weekly sync", None, WEEK)),
        ("<!channel> 🎉 by 2026-12-01", PromiseLine("<!channel> 🎉", date(2026, 12, 1))),
        ("Report,\nby 2026-12-01\x00", PromiseLine("Report", date(2026, 12, 1))),
    ],
)
def test_lines_that_parse(line: str, expected: PromiseLine) -> None:
    assert parse_promise_line(line, today=TODAY) == expected


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("Workshop by 2026-13-01", "promise_line.bad_date", "2026-13-01"),
        ("Workshop by 2026-02-30", "promise_line.bad_date", "2026-02-30"),
        ("Workshop by 12/1", "promise_line.bad_date", "12/1"),
        ("Training by Q3", "promise_line.bad_date", "Q3"),
        ("Workshop by 2026-11-22", "promise_line.past_date", "2026-11-22"),
        ("by 2026-12-01", "promise_line.no_text", None),
        ("every month", "promise_line.no_text", None),
        ("every week", "promise_line.no_text", None),
        ("毎週 by 2026-12-01", "promise_line.no_text", None),
        ("", "promise_line.empty", None),
        ("   \t ", "promise_line.empty", None),
        ("x" * 10_000, "promise_line.too_long", None),
    ],
)
def test_lines_that_are_refused(line: str, key: str, value: str | None) -> None:
    problem = parse_promise_line(line, today=TODAY)
    assert isinstance(problem, LineProblem) and problem.key == key
    if value is not None:
        assert problem.params["value"] == value


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_every_problem_has_a_message_that_escapes_what_was_typed(locale: str) -> None:
    t = Translator(locale)
    problem = parse_promise_line("Workshop by <!channel>1", today=TODAY)
    assert isinstance(problem, LineProblem)
    text = t(problem.key, **problem.params)
    assert "&lt;!channel&gt;1" in text and "<!channel>" not in text
    for key in ("promise_line.no_text", "promise_line.grammar"):
        assert t(key)
    assert "1000" in t("promise_line.too_long", limit=1000)


def test_recurring_promises_without_a_date_are_first_due_one_period_later() -> None:
    weekly = parse_promise_line("Sync every week", today=TODAY)
    monthly = parse_promise_line("Report every month", today=date(2027, 1, 31))
    dated = parse_promise_line("Report by 2026-12-05 every month", today=TODAY)
    assert isinstance(weekly, PromiseLine) and isinstance(monthly, PromiseLine)
    assert isinstance(dated, PromiseLine)
    assert first_due_date(weekly, today=TODAY) == date(2026, 11, 30)
    assert first_due_date(monthly, today=date(2027, 1, 31)) == date(2027, 2, 28)
    assert first_due_date(dated, today=TODAY) == date(2026, 12, 5)
    assert first_due_date(PromiseLine("One-off"), today=TODAY) is None


def test_monthly_occurrences_keep_their_day_of_the_month() -> None:
    due, seen = date(2027, 1, 31), []
    for _ in range(4):
        due = next_occurrence(due, MONTH, anchor_day=31)
        seen.append(due)
    assert seen == [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)]
    assert next_occurrence(date(2026, 12, 31), MONTH) == date(2027, 1, 31)
    assert next_occurrence(date(2026, 12, 28), WEEK) == date(2027, 1, 4)
