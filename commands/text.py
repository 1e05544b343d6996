"""Text people typed is shown, never executed (PRODUCT §11).

Replies are written in a small markup shared by every adapter: Slack's mrkdwn escaping rules
(`&`, `<`, `>` escaped) with the neutral mention token (`commands/markup.py`) for real mentions.
Anything a person typed goes through `escape`; only values built here (mentions, formatted
dates) are `Safe`.
"""

from __future__ import annotations

import re
import unicodedata

from commands import markup

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TOKEN_MARKS = re.compile(f"[{markup.MENTION_OPEN}{markup.MENTION_CLOSE}]")
"""The mention token's marks: in text shown as typed they could forge a mention."""

HELP_WORDS = frozenset({"help", "ヘルプ", "?"})
"""What, typed as a command's whole text, asks for its usage."""


def is_help(text: str) -> bool:
    """Whether a command's whole text asks for its usage: `help`, `?` or `ヘルプ`, in any width
    or case. Every command asks this one function."""
    return fold(strip_control(text)) in HELP_WORDS


def strip_control(text: str, replacement: str = "") -> str:
    """Control characters (not tabs and line breaks) removed: they are never meant."""
    return _CONTROL.sub(replacement, text)


class Safe(str):
    """Markup that is already escaped, or built by the bot itself."""


def escape(value: str) -> Safe:
    if isinstance(value, Safe):
        return value
    # A mention inside typed text is shown as text (`@id`): only the bot's own mentions notify.
    cleaned = _TOKEN_MARKS.sub("", markup.MENTIONED.sub(r"@\1", strip_control(value)))
    return Safe(cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def unescape(markup: str) -> str:
    return markup.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_EMPHASIS = re.compile(r"\*([^*\n]+)\*|`([^`\n]+)`")


def plain(markup: str) -> str:
    """Markup for places that show text as typed (form field errors, headers, buttons): the
    emphasis marks dropped and the escapes undone."""
    return unescape(_EMPHASIS.sub(lambda m: m[1] or m[2], markup))


def mention(user_id: str) -> Safe:
    """A person, as the neutral mention token; the adapter shows it its own way."""
    return Safe(markup.mention(_TOKEN_MARKS.sub("", user_id)))


def clip(value: str, limit: int) -> str:
    """At most `limit` characters, ending with an ellipsis when something was cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def fold(value: str) -> str:
    """Full-width and half-width forms, and upper and lower case, compare equal."""
    return unicodedata.normalize("NFKC", value).casefold().strip()
