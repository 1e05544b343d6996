"""The neutral markup (`commands.markup`) as Teams markdown: typed characters escaped so they
show as typed, `*b*` bold, mentions as `<at>Name</at>` with their entities, bot-built links as
`[label](url)`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from commands import markup

WORD_JOINER = "\u2060"
"""Put after a typed `<`, so that `<at>` or HTML typed by a person is shown as typed and never
read as a tag or a mention by Teams."""

Names = Callable[[str], tuple[str, str] | None]
"""A person key → (Entra object id, display name), for mentions; None when unknown."""


@dataclass
class Rendered:
    """Teams markdown, and the mentions it carries (`msteams.entities`)."""

    text: str
    mentions: list[tuple[str, str]]
    """(Entra object id, display name) per `<at>` in the text."""


LITERAL: dict[str, str] = {c: "\\" + c for c in markup.SIGNIFICANT} | {
    "<": "<" + WORD_JOINER,  # never a tag, never `<at>`
    ">": ">",
    "&": "&",
    "|": "|",
}
"""How Teams shows each markup-significant character people typed."""

_BOLD = re.compile(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])")
_LINE_START = re.compile(r"^(\s*)([#+\-]|\d+\.)", re.MULTILINE)


def _own(text: str) -> str:
    """The bot's own text: `*b*` is Markdown's `**b**`; a line needs a blank line to break."""
    text = _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}", _BOLD.sub(r"**\1**", text))
    return text.replace("\n", "\n\n")


def as_plain(text: str) -> str:
    """Shown as typed: titles, labels, buttons."""
    return markup.as_text(markup.unemphasized(text))


def render(text: str, names: Names) -> Rendered:
    mentions: list[tuple[str, str]] = []

    def mention(user_id: str) -> str:
        found = names(user_id)
        if found is None:
            return "@" + renderer(markup.escape(user_id))
        aad, name = found
        shown = renderer(markup.escape(name)) or aad
        mentions.append((aad, shown))
        return f"<at>{shown}</at>"

    def link(url: str, label: str) -> str:
        return f"[{label}]({url.replace(')', '%29')})"

    renderer = markup.Renderer(literal=LITERAL, mention=mention, link=link, text=_own)
    return Rendered(text=renderer(text), mentions=mentions)
