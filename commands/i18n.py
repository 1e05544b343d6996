"""The message catalog (English and Japanese), read from gettext `.po` files with Babel.

Messages are looked up by key (`role.changed`) and formatted with `str.format`; every string
parameter that is not `Safe` is escaped, so text people typed can never become markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from gettext import c2py
from pathlib import Path
from string import Formatter
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from commands.text import Safe, escape

LOCALES = ("en", "ja")
_DIR = Path(__file__).parent / "locales"


@cache
def catalog(locale: str) -> dict[str, str]:
    """Every `locales/<locale>/*.po` file merged: one file per area of the product. A message
    with plural forms appears here in its first form; `plural_forms` has them all."""
    return _read(locale)[0]


def plural_forms(locale: str) -> dict[str, tuple[str, ...]]:
    """Messages with plural forms (`msgid_plural`), each form in the language's gettext order."""
    return _read(locale)[1]


@cache
def _read(locale: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]], Callable[[int], int]]:
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    plural = c2py("0")
    for path in sorted((_DIR / locale).glob("*.po")):
        with path.open("rb") as fp:
            po = read_po(fp, locale=locale)
        plural = c2py(po.plural_expr)  # Babel's rule for the locale: English (n != 1)
        for m in po:
            key = str(m.id[0] if isinstance(m.id, tuple) else m.id)
            if not key or not m.string:
                continue
            if key in messages:
                raise ValueError(f"message {key!r} is defined twice ({path.name})")
            if isinstance(m.string, tuple):
                plurals[key] = tuple(str(form) for form in m.string)
            messages[key] = str(m.string[0] if isinstance(m.string, tuple) else m.string)
    return messages, plurals, plural


def warm_catalogs() -> None:
    """Reads every catalog and Babel's number and date data for each language now: loading
    them cold costs about half a second, too much inside a request Slack must see answered
    within 3 seconds."""
    sample = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
    for locale in LOCALES:
        catalog(locale)
        t = Translator(locale)
        t.money(1, "JPY")
        t.date(sample.date())
        t.datetime(sample)


def locale_from_slack(slack_locale: str | None, default: str) -> str:
    """`ja-JP` → `ja`; anything we do not speak falls back to the configured default."""
    language = (slack_locale or "").split("-")[0].split("_")[0].lower()
    return language if language in LOCALES else default


class HasLanguage(Protocol):
    locale: str | None
    tz: str | None


def translator_for(person: HasLanguage, default_locale: str, default_zone: ZoneInfo) -> Translator:
    """The catalog in a person's own language and time zone, as cached from Slack."""
    return Translator(
        locale_from_slack(person.locale, default_locale), zone_of(person.tz, default_zone)
    )


def zone_of(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


class Translator:
    def __init__(
        self, locale: str, zone: ZoneInfo | None = None, *, zone_shown: bool = False
    ) -> None:
        self.locale = locale if locale in LOCALES else "en"
        self.zone = zone or ZoneInfo("UTC")
        self.zone_shown = zone_shown
        """Times carry their zone (`9:30 AM (Asia/Tokyo)`): a channel's readers may be
        anywhere, while a person reads their own zone."""

    def __call__(self, key: str, **params: object) -> Safe:
        template = self._template(key, params)
        bold = _bold_slots(template)
        safe = {name: _markup(value, bold=name in bold) for name, value in params.items()}
        return Safe(template.format(**safe))

    def _template(self, key: str, params: dict[str, object]) -> str:
        """The message in this language (else English); with plural forms, the one the
        message's first number asks for (`1 open promise`, `2 open promises`)."""
        locale = self.locale if key in catalog(self.locale) else "en"
        template = catalog(locale)[key]
        forms = plural_forms(locale).get(key)
        if forms is None:
            return template
        numbers = [params[name] for name in _placeholders(template) if name in params]
        count = next((n for n in numbers if isinstance(n, int)), None)
        if count is None:
            return template
        return forms[min(_read(locale)[2](abs(count)), len(forms) - 1)]

    def date(self, value: date) -> Safe:
        return Safe(
            format_date(value, "long" if self.locale == "ja" else "medium", locale=self.locale)
        )

    def datetime(self, value: datetime) -> Safe:
        local = value.astimezone(self.zone)
        pattern = "yyyy年M月d日 H:mm" if self.locale == "ja" else "MMM d, yyyy h:mm a"
        shown = format_datetime(local, pattern, locale=self.locale)
        return Safe(f"{shown} ({self.zone.key})" if self.zone_shown else shown)

    def per_year(self, amount: Decimal | int | None, currency: str) -> Safe:
        """A contract value in a sentence: `$24,000.00 a year`, or that none was recorded
        (never `— a year`)."""
        if amount is None:
            return self("money.per_year.none")
        return self("money.per_year", value=self.money(amount, currency))

    def money(self, amount: Decimal | int | None, currency: str) -> Safe:
        if amount is None:
            return Safe("—")
        text = format_currency(amount, currency, locale=self.locale)
        # Babel's Japanese locale uses the full-width yen sign; people write ¥.
        return Safe(text.replace("￥", "¥"))


@cache
def _placeholders(template: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in Formatter().parse(template) if name)


@cache
def _bold_slots(template: str) -> frozenset[str]:
    """Parameters the template sets in bold (`*{title}*`)."""
    return frozenset(re.findall(r"\*\{([a-z_]+)\}\*", template))


def _markup(value: object, *, bold: bool = False) -> object:
    """Typed text escaped. A bold slot takes a message without its own bold marks: Slack
    cannot nest emphasis, and `**ACME* promises*` shows stray stars."""
    if isinstance(value, Safe) and bold:
        return Safe(value.replace("*", ""))
    if isinstance(value, str):
        return escape(value)
    return value
