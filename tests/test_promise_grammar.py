"""One promise line: `TEXT [by DATE] [every week|every month]`."""

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
from tests.slack_text import slack

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
        ("Training by Q3", PromiseLine("Training by Q3")),
        ("Cut API errors by 20%", PromiseLine("Cut API errors by 20%")),
        ("Send it by email by Friday", PromiseLine("Send it by email", date(2026, 11, 27))),
        ("Report by Dec 18", PromiseLine("Report", date(2026, 12, 18))),
        ("Report by 18 December 2026", PromiseLine("Report", date(2026, 12, 18))),
        ("Kickoff by tomorrow", PromiseLine("Kickoff", date(2026, 11, 24))),
        ("Kickoff by next week every week", PromiseLine("Kickoff", date(2026, 11, 30), WEEK)),
        ("導入研修 12月15日まで", PromiseLine("導入研修", date(2026, 12, 15))),
        ("導入研修2026年12月20日までに", PromiseLine("導入研修", date(2026, 12, 20))),
        ("導入研修 11月1日まで", PromiseLine("導入研修", date(2027, 11, 1))),
        ("資料送付 金曜まで", PromiseLine("資料送付", date(2026, 11, 27))),
        ("資料送付 明日まで", PromiseLine("資料送付", date(2026, 11, 24))),
        ("定例 来週まで 毎週", PromiseLine("定例", date(2026, 11, 30), WEEK)),
        ("資料 2026/12/18まで", PromiseLine("資料", date(2026, 12, 18))),
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
        ("Workshop by 2026-13-01", "date.impossible", "2026-13-01"),
        ("Workshop by 2026-02-30", "date.impossible", "2026-02-30"),
        ("Workshop by 12/1", "date.ambiguous", "12/1"),
        ("研修 12/18まで", "date.ambiguous", "12/18"),
        ("研修 2月30日まで", "date.impossible", "2月30日"),
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
    problem = parse_promise_line("Workshop by 2/30/2026", today=TODAY)
    assert isinstance(problem, LineProblem)
    assert "2026-02-30" not in t(problem.key, **problem.params)
    text = slack(t("date.not_a_date", value="<!channel>1"))
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
