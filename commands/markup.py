"""The neutral markup's mention token: what a command writes for "this person", and what an
adapter turns a platform's own mention into before the command sees the text."""

from __future__ import annotations

import re

MENTION_OPEN = "\ue000"
MENTION_CLOSE = "\ue001"
MENTIONED = re.compile("\ue000([^\ue000\ue001]+)\ue001")


def mention(user_id: str) -> str:
    return MENTION_OPEN + user_id + MENTION_CLOSE
