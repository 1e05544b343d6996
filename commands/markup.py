"""The small markup that commands, jobs and the catalogs write; each adapter renders it.

What a message may contain:

- Emphasis: `*words*` (one level; never nested). Code: `` `words` ``.
- Line breaks: `\\n`. A quote: a line starting with `> `. A list item: a line starting with `• `.
- A mention of a person: `mention(user_id)`, the id between `MENTION_OPEN` and `MENTION_CLOSE`
  (private-use code points, so no typed text can hold one). Slack renders its own mention, the shell
  `@name`, Teams a mention entity.
- A link the bot built: `link(url, label)`, the url and label between `LINK_OPEN`,
  `LINK_SEPARATOR` and `LINK_CLOSE`.

Text people typed goes through `escape` (the catalog does it for every parameter that is not
`Safe`): control characters, NUL, bidirectional overrides and isolates and our own delimiters
are removed, and every character that is significant in some platform's markup (`* _ ~ \\``,
`< > &`, `[ ] |`, `\\`) is transposed to a private-use code point of `LITERALS`, so
it can never form markup. Each renderer maps those back to something the platform shows as
typed: a `Renderer` walks a message with the adapter's own choices. The catalogs never start a
line with `-`, `+`, `#` or `1.` (lists use `• `), so a Markdown renderer may escape those at a
line's start whoever wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MENTION_OPEN = "\ue000"
MENTION_CLOSE = "\ue001"
MENTIONED = re.compile("\ue000([^\ue000\ue001]+)\ue001")
"""A mention token in markup; group 1 is the platform's user id."""

LINK_OPEN, LINK_SEPARATOR, LINK_CLOSE = "\ue002", "\ue003", "\ue004"
LINKED = re.compile("\ue002([^\ue002-\ue004]+)\ue003([^\ue002-\ue004]*)\ue004")

SIGNIFICANT = "*_~`<>&[]|\\"
"""Characters that form markup on some platform (Slack mrkdwn, Markdown, Adaptive Cards)."""
_LITERAL_BASE = 0xE010
LITERALS: Mapping[str, str] = {c: chr(_LITERAL_BASE + i) for i, c in enumerate(SIGNIFICANT)}
"""A significant character people typed → the private-use code point that stands for it."""
TYPED: Mapping[str, str] = {v: k for k, v in LITERALS.items()}
"""The reverse: a private-use code point in markup → the character that was typed."""

_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # control characters (tabs and line breaks stay)
    "\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069"  # direction marks, overrides, isolates
    "\ue000-\ue0ff]"  # our own delimiters and literals
)
_TRANSPOSE = str.maketrans(dict(LITERALS))


class Safe(str):
    """Markup: built by the bot, or typed text already escaped."""


def strip_unsafe(text: str) -> str:
    """Control characters, NUL, bidirectional controls and our delimiters removed: they are
    never meant, and an override would make a name read backwards."""
    return _UNSAFE.sub("", text)


def escape(value: str) -> Safe:
    """Typed text as markup that shows it as typed on every platform."""
    if isinstance(value, Safe):
        return value
    # A mention inside typed text is shown as text (`@id`): only the bot's own mentions notify.
    return Safe(strip_unsafe(MENTIONED.sub(r"@\1", value)).translate(_TRANSPOSE))


def mention(user_id: str) -> Safe:
    """A mention of a person, whose adapter-given id is rendered by the adapter."""
    return Safe(MENTION_OPEN + strip_unsafe(user_id) + MENTION_CLOSE)


def link(url: str, label: str) -> Safe:
    """A link the bot built; `label` is markup (escape typed text first)."""
    return Safe(LINK_OPEN + strip_unsafe(url) + LINK_SEPARATOR + label + LINK_CLOSE)


_EMPHASIS = re.compile(r"\*([^*\n]+)\*|`([^`\n]+)`")


def unemphasized(markup: str) -> Safe:
    """Markup without emphasis and code marks, for places that show plain text (headers,
    buttons, form labels)."""
    return Safe(_EMPHASIS.sub(lambda m: m[1] or m[2], markup))


@dataclass(frozen=True)
class Renderer:
    """How one platform shows markup: what a typed character becomes, and a mention, a link."""

    literal: Mapping[str, str]
    """Each character of `SIGNIFICANT` → how the platform shows it as typed."""
    mention: Callable[[str], str]
    link: Callable[[str, str], str]
    text: Callable[[str], str] = str
    """What the bot's own text becomes (Slack: an HTML entity for `&`)."""

    def __call__(self, markup: str) -> str:
        def token(m: re.Match[str]) -> str:
            if m[1] is not None:
                return self.mention(m[1])
            if m[2] is not None:
                return self.link(m[2], self._body(m[3]))
            return self._body(m[0])

        return _TOKEN.sub(token, markup)

    def _body(self, text: str) -> str:
        own = self.text(text)
        return "".join(self.literal[TYPED[c]] if c in TYPED else c for c in own)


_TOKEN = re.compile(
    "\ue000([^\ue000\ue001]+)\ue001"
    "|\ue002([^\ue002-\ue004]+)\ue003([^\ue002-\ue004]*)\ue004"
    "|[^\ue000\ue002]+|[\ue000\ue002]"
)


def as_text(markup: str, name: Callable[[str], str] = str) -> str:
    """Markup as plain text (a terminal, a CSV report): typed characters as typed, emphasis
    marks kept, a mention as `@name`, a link as `label (url)`."""
    renderer = Renderer(
        literal={c: c for c in SIGNIFICANT},
        mention=lambda user_id: "@" + name(user_id),
        link=lambda url, label: f"{label} ({url})",
    )
    return renderer(markup)


EXPANSION = 5
"""At most how many characters a renderer spends on one typed significant character (Slack:
an HTML entity)."""
MENTION_EXPANSION = 8
"""At most how many characters a renderer adds to a mention's id (two on Slack)."""


def width(markup: str) -> int:
    """A bound on how long `markup` becomes once rendered, for adapters that do not measure."""
    typed = sum(c in TYPED for c in markup)
    return len(markup) + (EXPANSION - 1) * typed + MENTION_EXPANSION * markup.count(MENTION_OPEN)
