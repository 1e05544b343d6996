"""The neutral markup (`commands.markup`, from the `markup` branch) as Teams markdown: typed
characters escaped so they show as typed, `*b*` bold, mentions as `<at>Name</at>` with their
entities, bot-built links as `[label](url)`. `bot.teams_text.to_markdown` uses it once
`commands.markup` is there."""

from __future__ import annotations

import re

from bot.teams_text import WORD_JOINER, Names, Rendered
from commands import markup

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


def token(user_id: str) -> str:
    """The neutral mention token of a person."""
    return str(markup.mention(user_id))


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
