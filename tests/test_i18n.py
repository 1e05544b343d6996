"""The message catalog: English and Japanese say the same things, every key the code uses
exists, and dates and amounts follow the locale (PRODUCT §12)."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from commands.i18n import LOCALES, Translator, catalog, locale_from_slack
from commands.markup import Safe, as_text

ROOT = Path(__file__).parent.parent
# t("key", …), ctx.t("key"), self.note("key"), key="…" passed on: literal keys in the code.
KEY_USE = re.compile(r"""(?:\bt|\.note)\(\s*["']([a-z_]+(?:\.[a-z0-9_]+)+)["']""")


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_the_same_messages() -> None:
    english, japanese = catalog("en"), catalog("ja")
    assert set(english) - set(japanese) == set(), "missing in Japanese"
    assert set(japanese) - set(english) == set(), "missing in English"
    for key, text in english.items():
        assert placeholders(text) == placeholders(japanese[key]), key


def test_every_literal_key_in_the_code_exists() -> None:
    english = catalog("en")
    missing = []
    for folder in ("bot", "commands", "jobs"):
        for path in (ROOT / folder).rglob("*.py"):
            for key in KEY_USE.findall(path.read_text()):
                if key not in english:
                    missing.append(f"{path.relative_to(ROOT)}: {key}")
    assert missing == []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_formats(locale: str) -> None:
    t = Translator(locale)
    for key, text in catalog(locale).items():
        t(key, **{name: "x" for name in placeholders(text)})


def test_parameters_are_escaped_but_safe_markup_is_not() -> None:
    t = Translator("en")
    shown = t("role.unknown_person", who="<!channel> & *co*")
    assert not set("<>&*") & set(shown), "typed markup characters become private literals"
    assert as_text(shown) == "I can't find <!channel> & *co* in this workspace."
    assert t("role.unknown_person", who=Safe("*Aiko*")) == "I can't find *Aiko* in this workspace."


def test_slack_locales() -> None:
    assert locale_from_slack("ja-JP", "en") == "ja"
    assert locale_from_slack("en-GB", "ja") == "en"
    assert locale_from_slack("fr-FR", "ja") == "ja"
    assert locale_from_slack(None, "en") == "en"


def test_dates_amounts_and_times_per_locale() -> None:
    ja, en = (
        Translator("ja", ZoneInfo("Asia/Tokyo")),
        Translator("en", ZoneInfo("America/New_York")),
    )
    assert ja.date(date(2026, 12, 1)) == "2026年12月1日"
    assert en.date(date(2026, 12, 1)) == "Dec 1, 2026"
    assert ja.money(Decimal(1_200_000), "JPY") == "¥1,200,000"
    assert en.money(Decimal(12_000), "USD") == "$12,000.00"
    assert en.money(None, "USD") == "—"
    moment = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert ja.datetime(moment) == "2026年12月1日 9:30"
    assert en.datetime(moment) == "Nov 30, 2026 7:30 PM"


# The glossary at the top of locales/ja/core.po: one Japanese term per concept.
NOT_THE_GLOSSARY_TERM = (
    "承認",
    "受け入れ",
    "コンタクト",
    "接点",
    "途絶",
    "遵守率",
    "取引先",
)


def test_japanese_uses_one_term_per_concept() -> None:
    for key, text in catalog("ja").items():
        prose = re.sub(r"`[^`]*`", "", text)  # typed keywords in examples are not prose
        for word in NOT_THE_GLOSSARY_TERM:
            assert word not in prose, (key, word)
        assert "期限切れ" not in prose, key  # overdue is 期限超過


def test_japanese_usage_names_the_glossary_word_for_waive() -> None:
    """A withdrawn promise is 取り下げ in every message; the usage offers it as a typed word too."""
    assert "`取り下げ`" in Translator("ja")("promise.usage")


def test_japanese_punctuation_and_spacing() -> None:
    for key, text in catalog("ja").items():
        prose = re.sub(r"`[^`]*`", "", text)
        assert "。。" not in prose and "?" not in prose, key
        assert not re.search(r"(\}|[0-9]) (件|日|回|日間)", prose), key


def test_japanese_fixes_from_a_fluent_reading() -> None:
    t = Translator("ja")
    assert t("promise.list.for_person", who="@kenji") == (
        "@kenji さんが担当または約束した未完了の約束"
    )
    assert t("handoff.error.owner_self").startswith("この顧客を引き継ぐのはあなたです。")
    assert t("home.promise.overdue", due="2026年11月29日") == "*期限超過*(期限 2026年11月29日)"
