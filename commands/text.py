"""Reading what people typed: help words, control characters, folding, clipping.

Replies are written in the neutral markup of `commands.markup` (re-exported here: `Safe`,
`escape`, `mention`), which each adapter renders.
"""

from __future__ import annotations

import re
import unicodedata

from commands.markup import Safe, escape, mention

__all__ = ["Safe", "escape", "mention"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

HELP_WORDS = frozenset({"help", "ヘルプ", "?"})
"""What, typed as a command's whole text, asks for its usage."""


def is_help(text: str) -> bool:
    """Whether a command's whole text asks for its usage: `help`, `?` or `ヘルプ`, in any width
    or case. Every command asks this one function."""
    return fold(strip_control(text)) in HELP_WORDS


def strip_control(text: str, replacement: str = "") -> str:
    """Control characters (not tabs and line breaks) removed: they are never meant."""
    return _CONTROL.sub(replacement, text)


def clip(value: str, limit: int) -> str:
    """At most `limit` characters, ending with an ellipsis when something was cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def fold(value: str) -> str:
    """Full-width and half-width forms, and upper and lower case, compare equal."""
    return unicodedata.normalize("NFKC", value).casefold().strip()
