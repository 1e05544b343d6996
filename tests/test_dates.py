"""The one date reader and the one amount reader (PRODUCT §12): every form it accepts, what it
asks about, and what it leaves as text. Their entry points are tested where they are used
(test_promise, test_shell_handoff, test_account, test_accounts_csv)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from commands.amounts import Amount, AmountProblem, read_amount
from commands.dates import DateProblem, read_date

THURSDAY = date(2026, 12, 3)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("2026/12/1", date(2026, 12, 1)),
        ("2026.12.01", date(2026, 12, 1)),
        ("２０２６－１２－０１", date(2026, 12, 1)),
        ("2026年12月1日", date(2026, 12, 1)),
        ("２０２６年１２月１日", date(2026, 12, 1)),
        ("12月3日", date(2026, 12, 3)),  # today is the next such day
        ("12月1日", date(2027, 12, 1)),  # passed this year: next year's
        ("Dec 18", date(2026, 12, 18)),
        ("december 18th", date(2026, 12, 18)),
        ("Dec. 18, 2027", date(2027, 12, 18)),
        ("1 Dec 2026", date(2026, 12, 1)),
        ("18th of December", date(2026, 12, 18)),
        ("Feb 29", date(2028, 2, 29)),
        ("today", THURSDAY),
        ("Tomorrow", date(2026, 12, 4)),
        ("明日", date(2026, 12, 4)),
        ("Friday", date(2026, 12, 4)),
        ("fri", date(2026, 12, 4)),
        ("金曜", date(2026, 12, 4)),
        ("木曜日", THURSDAY),
        ("Monday", date(2026, 12, 7)),
        ("next week", date(2026, 12, 10)),
        ("来週", date(2026, 12, 10)),
        ("phone", None),
        ("20%", None),
        ("Q3", None),
        ("", None),
        ("<!channel>", None),
        ("'; DROP TABLE promises; --", None),
    ],
)
def test_dates_as_people_write_them(written: str, expected: date | None) -> None:
    assert read_date(written, today=THURSDAY) == expected


@pytest.mark.parametrize(
    ("written", "key", "choices"),
    [
        ("12/18", "date.ambiguous", "`2026-12-18`"),
        ("12/01", "date.ambiguous", "`2027-12-01` / `2027-01-12`"),
        ("01/12/2026", "date.ambiguous", "`2026-01-12` / `2026-12-01`"),
        ("１２／０１", "date.ambiguous", "`2027-12-01` / `2027-01-12`"),
        ("31/31", "date.ambiguous_unreadable", None),
        ("2026-02-30", "date.impossible", None),
        ("2月30日", "date.impossible", None),
        ("Feb 30", "date.impossible", None),
    ],
)
def test_dates_that_are_asked_about(written: str, key: str, choices: str | None) -> None:
    problem = read_date(written, today=THURSDAY)
    assert isinstance(problem, DateProblem) and problem.key == key
    assert problem.params.get("choices") == choices


@pytest.mark.parametrize("written", ["tomorrow", "Friday", "Dec 1", "12月1日", "12/01"])
def test_without_today_a_date_needs_its_year(written: str) -> None:
    problem = read_date(written, today=None)
    assert isinstance(problem, DateProblem)
    assert problem.key in ("date.needs_year", "date.ambiguous_unreadable")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("980000", Amount(Decimal("980000.00"))),
        ("980,000", Amount(Decimal("980000.00"))),
        ("5,000.50", Amount(Decimal("5000.50"))),
        ("$5,000", Amount(Decimal("5000.00"), "USD")),
        ("¥980,000", Amount(Decimal("980000.00"), "JPY")),
        ("￥９８０，０００", Amount(Decimal("980000.00"), "JPY")),
        ("980,000円", Amount(Decimal("980000.00"), "JPY")),
        ("120万円", Amount(Decimal("1200000.00"), "JPY")),
        ("1.5億", Amount(Decimal("150000000.00"))),
        ("1.2M", Amount(Decimal("1200000.00"))),
        ("500k", Amount(Decimal("500000.00"))),
        ("USD 5000", Amount(Decimal("5000.00"), "USD")),
        ("5000 eur", Amount(Decimal("5000.00"), "EUR")),
    ],
)
def test_amounts_as_people_write_them(written: str, expected: Amount) -> None:
    assert read_amount(written) == expected


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("-5", "amount.negative"),
        ("$-5", "amount.negative"),
        ("1,5", "amount.not_a_number"),  # a decimal comma is not guessed
        ("12,34,567", "amount.not_a_number"),
        ("1e5", "amount.not_a_number"),
        ("NaN", "amount.not_a_number"),
        ("$5000 JPY", "amount.not_a_number"),
        ("5000 XYZ", "amount.not_a_number"),
        ("<!channel>", "amount.not_a_number"),
        ("9" * 20, "amount.too_large"),
    ],
)
def test_amounts_that_are_refused(written: str, key: str) -> None:
    problem = read_amount(written)
    assert isinstance(problem, AmountProblem) and problem.key == key
