"""Slack's id shapes, known here and nowhere else: which ids name people and channels, and how
Slack writes a mention in text (`<@U123|name>`) against the core's neutral mention token."""

from __future__ import annotations

import re

from commands.addresses import AddressKind
from commands.markup import MENTION_CLOSE, MENTION_OPEN, mention

PLATFORM = "slack"

_USER = re.compile(r"[UW][A-Z0-9]{2,}")
"""A person (`U…`, or `W…` on Enterprise Grid)."""
_BOT_USER = re.compile(r"B[A-Z0-9]{2,}")
"""An app's bot, which can be mentioned but not written to."""
_CHANNEL = re.compile(r"[CDG][A-Z0-9]{2,}")
"""A public channel (`C…`), a direct message (`D…`), or a private channel or group DM (`G…`)."""
_TYPED_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
SLACKBOT = "USLACKBOT"


def is_user_id(value: str) -> bool:
    return _USER.fullmatch(value) is not None


def kind(value: str) -> AddressKind | None:
    if _USER.fullmatch(value):
        return AddressKind.PERSON
    if _CHANNEL.fullmatch(value):
        return AddressKind.CHANNEL
    return None


def is_direct(channel_id: str) -> bool:
    """A direct message's conversation id starts with `D`."""
    return channel_id.startswith("D")


def neutral(typed: str) -> str:
    """Typed text as Slack sent it (with `should_escape`), its mentions as neutral tokens. Any
    token character a person typed is removed first: only Slack's own mentions become tokens."""
    cleaned = typed.replace(MENTION_OPEN, "").replace(MENTION_CLOSE, "")
    return _TYPED_MENTION.sub(lambda m: mention(m[1]), cleaned)


def slack_mention(user_id: str) -> str:
    """A mention token's id as a Slack mention (`<@U…>`); an id that does not name a Slack person
    is shown as its id, escaped."""
    if _USER.fullmatch(user_id) or _BOT_USER.fullmatch(user_id):
        return f"<@{user_id}>"
    return user_id.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def check_managers(ids: tuple[str, ...]) -> None:
    """`KAKEHASHI_MANAGERS` on Slack: user ids (`U…`/`W…`)."""
    bad = [i for i in ids if not is_user_id(i)]
    if bad:
        raise ValueError(f'must be Slack user IDs such as U0123ABCD, got "{bad[0]}"')
