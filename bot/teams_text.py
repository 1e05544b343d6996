"""Text between Teams and the commands: incoming messages → (command, arguments), and the
shared markup → Teams markdown with `<at>` mentions.

Incoming activities are dicts as Teams sends them (the SDK's `activity.model_dump(by_alias=True)`
gives the same shape).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commands.i18n import LOCALES
from commands.markup import mention
from commands.text import fold, is_help, strip_control

# ---- who is who ---------------------------------------------------------------------------


ENTRA_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
"""A Teams person's key (their Entra object id); other keys are not Teams people."""
TEAMS_MANAGER = "aad:"
"""How `KAKEHASHI_MANAGERS` names a Teams person: `aad:<Entra object id>`."""


def is_teams_manager(entry: str) -> bool:
    """An `aad:` entry of `KAKEHASHI_MANAGERS`; a malformed one is refused with an example."""
    if not entry.lower().startswith(TEAMS_MANAGER):
        return False
    if ENTRA_ID.fullmatch(entry[len(TEAMS_MANAGER) :]) is None:
        raise ValueError(f'must be aad:<Entra object id, a GUID> on Teams, got "{entry}"')
    return True


def managers_by_platform(
    managers: tuple[str, ...], others: str = "slack"
) -> dict[str, tuple[str, ...]]:
    """`KAKEHASHI_MANAGERS` split: Teams people's Entra object ids, and the user ids of the
    `others` platform (Slack's, unless a test platform says otherwise)."""
    # Teams sends Entra object ids in lower case; an administrator may paste them in upper.
    teams = tuple(m[len(TEAMS_MANAGER) :].lower() for m in managers if is_teams_manager(m))
    return {others: tuple(m for m in managers if not is_teams_manager(m)), "teams": teams}


# ---- incoming -----------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|tr)>|<br\s*/?>", re.IGNORECASE)
_AT = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_MARK = re.compile("[\ue000\ue001]")
_MARKED = re.compile("\ue000(\\d+)\ue001")


@dataclass(frozen=True)
class Typed:
    """What a person typed to the bot: a command name (lower case, no slash) and its text."""

    name: str
    text: str


def read_message(activity: dict[str, Any], bot_id: str) -> Typed:
    """The command a message asks for: the bot's own mention dropped, a leading `/` allowed,
    people's mentions turned into mention tokens, HTML turned into plain text."""
    text = _MARK.sub("", str(activity.get("text") or ""))
    if activity.get("textFormat") != "plain" and "<" in text:
        text = _BLOCK_END.sub("\n", text)
    mentions = _mentions(activity, bot_id)
    tokens: list[str] = []

    def mark(match: re.Match[str]) -> str:
        # A mark, not the token yet: the tags are stripped next, and the token looks like one.
        name = html.unescape(_TAG.sub("", match[1])).strip()
        tokens.append(mentions.get(name, name))  # no entity: the name as typed, no one named
        return f"\ue000{len(tokens) - 1}\ue001"

    text = _AT.sub(mark, text)
    if activity.get("textFormat") != "plain":
        text = html.unescape(_TAG.sub("", text))
    text = _MARKED.sub(lambda m: tokens[int(m[1])], text)
    text = strip_control(text).replace("\xa0", " ").strip()
    words = text.split(None, 1)  # at any space: a line break, a full-width one
    first, rest = (words[0], words[1] if len(words) > 1 else "") if words else ("", "")
    name = fold(first.removeprefix("/").removeprefix("／"))
    if is_help(name) and not rest.strip():  # `help` alone: the overview, as `/kakehashi help`
        return Typed(name="kakehashi", text="")
    return Typed(name=name, text=rest.strip())


def _mentions(activity: dict[str, Any], bot_id: str) -> dict[str, str]:
    """`<at>` inner text → its replacement: nothing for the bot, a token for a person."""
    found: dict[str, str] = {}
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        who = entity.get("mentioned") or {}
        name = html.unescape(_TAG.sub("", str(entity.get("text") or ""))).strip()
        if who.get("id") == bot_id:
            found[name] = ""
        elif aad := who.get("aadObjectId"):
            found[name] = mention(str(aad))
    return found


def locale_of(activity: dict[str, Any], default: str) -> str:
    """`ja-JP` → `ja`: from the activity, else its clientInfo entity, else the default."""
    for raw in (activity.get("locale"), _client_info(activity).get("locale")):
        language = str(raw or "").split("-")[0].lower()
        if language in LOCALES:
            return language
    return default


def zone_of(activity: dict[str, Any]) -> str | None:
    """The IANA time zone of the person's Teams client, when it said one we know."""
    for raw in (_client_info(activity).get("timezone"), activity.get("localTimezone")):
        if isinstance(raw, str) and raw:
            try:
                ZoneInfo(raw)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return raw
    return None


def _client_info(activity: dict[str, Any]) -> dict[str, Any]:
    for entity in activity.get("entities") or []:
        if isinstance(entity, dict) and entity.get("type") == "clientInfo":
            return entity
    return {}
