"""The neutral markup (`commands.markup`) as Slack mrkdwn and as Slack plain text.

Slack escapes only `&`, `<` and `>` (as HTML entities) and has no escape for `*`, `_`, `~` or
`` ` `` (slackhq/slack-api-docs#93: a backslash stays visible). The usual workaround, used by
several Slack bot libraries, is a zero-width space; jsx-slack's date-fallback trick
(`<!date^0^{_}|*>`) costs about 25 characters a character. Emphasis opens only
before a non-space and closes only after one, so a typed marker followed by U+200B ZERO WIDTH
SPACE can neither open nor close bold, italics, strike or code, and still reads and copies as
typed. A typed `>` opening a line follows a zero-width space, so it never becomes a quote.
"""

from __future__ import annotations

import re

from bot.slack_ids import slack_mention
from commands.markup import SIGNIFICANT, Renderer, unemphasized
from commands.text import clip

ZWSP = "\u200b"

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LITERAL = {c: c for c in SIGNIFICANT} | {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{c: c + ZWSP for c in "*_~`"},
}
_OWN_SPECIAL = re.compile(r"[&<]|(?<=[^\n])>")


def _own(text: str) -> str:
    """The bot's own text: `&` and `<` as entities; a `>` opening a line stays a quote."""
    return _OWN_SPECIAL.sub(lambda m: _ENTITIES[m[0]], text)


MRKDWN = Renderer(
    literal=_LITERAL,
    mention=slack_mention,
    link=lambda url, label: f"<{url}|{label}>",
    text=_own,
)
PLAIN = Renderer(
    literal={c: c for c in SIGNIFICANT},
    mention=lambda user_id: f"@{user_id}",
    link=lambda url, label: f"{label} ({url})",
)

_CUT_ENTITY = re.compile(r"&[a-z]{0,3}…$")
_TYPED_QUOTE = re.compile(r"^&gt;", re.MULTILINE)
_WORD_INTERNAL = re.compile(r"(?<=[^\W_])([*_~`])\u200b(?=[^\W_])")


def mrkdwn(markup: str, limit: int) -> str:
    """Markup as mrkdwn, at most `limit` characters, never ending inside an entity. The bot's
    quotes are a bare `>`; a typed one is already `&gt;` and gets its guard here. A marker
    between two letters or digits (`New_York`) cannot open or close emphasis: no guard."""
    rendered = _WORD_INTERNAL.sub(r"\1", _TYPED_QUOTE.sub(ZWSP + "&gt;", MRKDWN(markup)))
    return _CUT_ENTITY.sub("…", clip(rendered, limit))


def plain_text(markup: str, limit: int = 3000) -> str:
    """Markup for Slack's plain-text objects (headers, buttons, labels), shown as typed."""
    return clip(PLAIN(unemphasized(markup)), limit)
