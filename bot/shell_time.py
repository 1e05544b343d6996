"""`:time` in the shell: move its clock forward to see reminders come due."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_STEP = re.compile(r"^\+(\d{1,4})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def clock_target(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """`+30m`, `+2h`, `+1d`, `+1w` (from `now`), or an ISO-8601 instant such as
    `2026-12-01T09:05+09:00` (read in `zone` without an offset); None when it is neither."""
    text = text.strip().lower()
    step = _STEP.match(text)
    if step:
        return now + timedelta(**{_UNITS[step[2]]: int(step[1])})
    try:
        at = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=zone)).astimezone(UTC)
