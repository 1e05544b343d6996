"""Every parser, fed random text (hypothesis): it never raises, and what it returns is either a
request or a message key that exists in both languages (and formats, where its parameters are
known). Add a parser here when a command gets one.

Random text rarely reaches deep branches, so the text is also built from the words the grammars
know (`by`, `every`, `P-`, dates, colons, mentions, full-width and hostile pieces).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.i18n import Translator, catalog

TODAY = date(2026, 11, 23)

# module, function, keyword arguments
PARSERS: list[tuple[str, str, dict[str, Any]]] = [
    ("commands.kakehashi", "parse_role", {}),
    ("commands.promise_grammar", "parse_promise_line", {"today": TODAY}),
    ("commands.promise", "parse", {"today": TODAY}),
    ("commands.touch", "parse", {}),
    ("commands.account", "parse", {"today": TODAY}),
    ("commands.account_fields", "parse_stage", {}),
    ("commands.account_fields", "parse_touch_model", {}),
    ("commands.dates", "read_date", {"today": TODAY}),
    ("commands.dates", "read_date", {"today": None}),
    ("commands.amounts", "read_amount", {}),
    ("commands.handoff", "parse_args", {}),
    ("commands.portfolio", "parse", {}),
    ("commands.agenda.subscribe", "parse", {}),
    ("commands.agenda.words", "parse_weekly", {}),
    ("commands.agenda.subscribe", "parse_time", {}),
]

PIECES = [
    "ACME", "株式会社ACME", "Globex Inc.", "さくら商事", ":", "：", " ", "　", "\n", "\t", "by",
    "BY", "every", "week", "month", "weekly", "毎週", "毎月", "まで", "2026-12-01", "2026-02-30",
    "２０２６－１２－０１", "12/1", "9999-99-99", "P-12", "p-0", "P-99999999999999999999", "#3",
    "list", "overdue", "kept", "broken", "waive", "help", "call", "email", "meeting", "chat",
    "電話", "owner", "stage", "renewal", "active", "weekly", "mon", "09:00", "25:61",
    "Asia/Tokyo", "<@U0001>", "<@UCS|aiko>", "<!channel>", "<!here>", "@aiko", "'; DROP TABLE",
    "--", "\x00", "\x07", "\u200b", "🎉", "%", "_", "\\", "{value}", "{0}", "&amp;", "x" * 300,
    "Dec", "december", "1st", "12月1日", "2026年", "tomorrow", "明日", "Friday", "金曜", "来週",
    "next week", "$", "¥", "円", "5,000", "1.2", "M", "k", "万", "億", "USD", "-",
]  # fmt: skip

text_of_pieces = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
random_text = st.one_of(st.text(max_size=300), text_of_pieces, text_of_pieces.map(str.upper))


def _parser(module: str, name: str) -> Callable[..., Any]:
    """The parser under test; one that is missing (moved or renamed) fails, never skips."""
    try:
        found = getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError) as exc:
        pytest.fail(f"{module}.{name} is listed in PARSERS but cannot be imported: {exc}")
    assert callable(found), f"{module}.{name} is not a function"
    return found  # type: ignore[no-any-return]


def _key_and_params(result: object) -> tuple[str, dict[str, Any] | None] | None:
    """A problem as a message key (and its parameters when the parser gives them all)."""
    if isinstance(result, str) and not isinstance(result, Enum):
        return result, None
    key = getattr(result, "key", None)
    if isinstance(key, str) and type(result).__name__ in (
        "Problem",
        "LineProblem",
        "DateProblem",
        "AmountProblem",
    ):
        params = getattr(result, "params", None)
        return key, params if isinstance(params, dict) else None
    return None


@pytest.mark.parametrize(("module", "name", "kwargs"), PARSERS,
                         ids=[f"{m}.{n}" for m, n, _ in PARSERS])  # fmt: skip
def test_parsers_never_raise_and_name_real_messages(
    module: str, name: str, kwargs: dict[str, Any]
) -> None:
    parser = _parser(module, name)
    english, japanese = catalog("en"), catalog("ja")

    @given(random_text)
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def check(text: str) -> None:
        result = parser(text, **kwargs)
        problem = _key_and_params(result)
        if problem is None:
            return
        key, params = problem
        assert key in english and key in japanese, (module, name, key)
        if params is not None:
            for locale in ("en", "ja"):
                shown = Translator(locale)(key, **params)
                assert "<!channel>" not in shown and "<!here>" not in shown

    check()


@given(random_text)
@settings(max_examples=200, deadline=None)
def test_any_text_folds_to_an_account_key(text: str) -> None:
    from storage.accounts import fold_name

    key = fold_name(text)
    assert not re.search(r"[\W_]", key), key  # no spaces or punctuation left
    assert fold_name(text.upper()) == key or not text.isascii()  # case never matters
