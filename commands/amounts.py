"""Amounts as people write them: the one reader behind the handoff form's contract value and the
accounts CSV's `arr`.

Accepted, after full-width characters fold to ASCII: `980000`, `980,000`, `1200000.50`, a
currency sign or code before or after (`$5,000`, `¥980,000`, `980,000円`, `USD 5000`,
`5000 eur`), and a scale word (`1.2M`, `500k`, `120万`, `1.5億`). Commas only group thousands,
so `1,5` (a European decimal comma) is refused rather than read as 15.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from babel.numbers import is_currency

from commands.text import clip, fold

MAX_AMOUNT = Decimal("99999999999999")
"""Largest yearly contract value (fits the database column, NUMERIC(16, 2))."""

_SIGNS = {"$": "USD", "¥": "JPY", "円": "JPY", "€": "EUR", "£": "GBP"}
_SCALES = {
    "k": Decimal(10) ** 3,
    "千": Decimal(10) ** 3,
    "m": Decimal(10) ** 6,
    "mn": Decimal(10) ** 6,
    "million": Decimal(10) ** 6,
    "万": Decimal(10) ** 4,
    "億": Decimal(10) ** 8,
}
_AMOUNT = re.compile(
    r"(?P<minus>-)?(?P<before>[$¥€£]|[a-z]{3}(?=[\s0-9-]))?\s*(?P<minus2>-)?"
    r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?P<fraction>\.[0-9]+)?"
    r"\s*(?P<scale>" + "|".join(sorted(_SCALES, key=len, reverse=True)) + r")?"
    r"\s*(?P<after>円|[a-z]{3})?"
)


@dataclass(frozen=True)
class Amount:
    value: Decimal
    """Rounded to cents."""
    currency: str | None = None
    """The ISO code its sign or code named (`$` → USD), None when it had none."""


@dataclass(frozen=True)
class AmountProblem:
    key: str
    """Message key in `locales/*/amounts.po`."""
    params: dict[str, str] = field(default_factory=dict)


def read_amount(text: str) -> Amount | AmountProblem:
    written = " ".join(fold(text).split())
    found = _AMOUNT.fullmatch(written)
    if found is None:
        return AmountProblem("amount.not_a_number", {"value": _shown(text)})
    currency = _currency(found["before"], found["after"])
    if currency is None:
        return AmountProblem("amount.not_a_number", {"value": _shown(text)})
    value = Decimal(found["whole"].replace(",", "") + (found["fraction"] or ""))
    value *= _SCALES[found["scale"]] if found["scale"] else 1
    if found["minus"] or found["minus2"]:
        return AmountProblem("amount.negative", {"value": _shown(text)})
    if value > MAX_AMOUNT:
        return AmountProblem("amount.too_large", {"value": _shown(text)})
    return Amount(value.quantize(Decimal("0.01")), currency or None)


def _currency(before: str | None, after: str | None) -> str | None:
    """The ISO code the amount names; "" when it names none, None when it names two or a
    code that is not a currency."""
    named = [_SIGNS.get(mark) or mark.upper() for mark in (before, after) if mark]
    if not named:
        return ""
    if len(set(named)) > 1 or not is_currency(named[0]):
        return None
    return named[0]


def _shown(text: str) -> str:
    return clip(" ".join(text.split()), 60)
