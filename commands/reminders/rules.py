"""When reminders come due (PRODUCT §9): the defaults, and the `KAKEHASHI_REMIND_*` settings
that change them. Each parser raises ValueError with a message that completes "VARIABLE ..."."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from storage.accounts import TouchModel

REPEAT_DAYS = 7
"""Overdue promises and silent accounts are reminded again weekly."""

_NUMBER = re.compile(r"^\d{1,4}$")
_MODELS = tuple(m.value for m in TouchModel)


def _checkins() -> dict[str, tuple[int, ...]]:
    return {"high": (7, 14, 30, 60, 90), "low": (14, 45, 90), "tech": (30, 90)}


def _silence() -> dict[str, int]:
    return {"high": 14, "low": 45, "tech": 90}


@dataclass(frozen=True)
class ReminderRules:
    handoff_days: tuple[int, int] = (1, 2)
    """Working days a handoff may stay pending before its CS owner, then the managers, hear."""
    checkin_days: Mapping[str, tuple[int, ...]] = field(default_factory=_checkins)
    """Days after acceptance, by touch model."""
    promise_lead_days: int = 3
    renewal_days: tuple[int, ...] = (120, 90, 60, 30)
    silence_days: Mapping[str, int] = field(default_factory=_silence)
    """Days without a touch, by touch model; 0 turns silence reminders off for that model."""

    @classmethod
    def from_settings(
        cls, *, handoff: str, checkins: str, promise: str, renewal: str, silence: str
    ) -> ReminderRules:
        return cls(
            handoff_days=parse_handoff(handoff),
            checkin_days=parse_by_model(checkins, _checkins(), example=CHECKINS_EXAMPLE),
            promise_lead_days=parse_number(promise, example="3"),
            renewal_days=tuple(
                sorted(set(parse_days(renewal, example=RENEWAL_EXAMPLE)), reverse=True)
            ),
            silence_days={
                model: days[0] if days else 0
                for model, days in parse_by_model(
                    silence,
                    {m: (d,) for m, d in _silence().items()},
                    example=SILENCE_EXAMPLE,
                    single=True,
                ).items()
            },
        )


CHECKINS_EXAMPLE = "high=7,14,30,60,90; low=14,45,90; tech=30,90"
SILENCE_EXAMPLE = "high=14; low=45; tech=90"
RENEWAL_EXAMPLE = "120,90,60,30"
DEFAULTS = {
    "handoff": "1,2",
    "checkins": CHECKINS_EXAMPLE,
    "promise": "3",
    "renewal": RENEWAL_EXAMPLE,
    "silence": SILENCE_EXAMPLE,
}
"""The `KAKEHASHI_REMIND_*` settings as they read by default."""


def check_setting(name: str, value: str) -> None:
    """Raises ValueError when `KAKEHASHI_REMIND_<NAME>` cannot be read."""
    ReminderRules.from_settings(**{**DEFAULTS, name: value})


def parse_handoff(value: str) -> tuple[int, int]:
    days = parse_days(value, example="1,2")
    if len(days) != 2 or days[0] > days[1]:
        raise ValueError(
            f"must be two numbers of working days, the CS owner's then the managers', such as "
            f'1,2, got "{value.strip()}"'
        )
    return days[0], days[1]


def parse_number(value: str, *, example: str) -> int:
    value = value.strip()
    if not _NUMBER.match(value):
        raise ValueError(f'must be a number of days such as {example}, got "{value}"')
    return int(value)


def parse_days(value: str, *, example: str) -> tuple[int, ...]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or not all(_NUMBER.match(p) for p in parts):
        raise ValueError(f'must be numbers of days such as {example}, got "{value.strip()}"')
    return tuple(int(p) for p in parts)


def parse_by_model(
    value: str,
    defaults: dict[str, tuple[int, ...]],
    *,
    example: str,
    single: bool = False,
) -> dict[str, tuple[int, ...]]:
    """`high=7,14; low=30`: the models given replace their defaults, the others keep them."""
    result = dict(defaults)
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        model, sep, days = part.partition("=")
        model = model.strip().lower()
        if not sep or model not in _MODELS:
            raise ValueError(f'must look like {example}, got "{value.strip()}"')
        parsed = parse_days(days, example=example) if days.strip() else ()
        if single and len(parsed) > 1:
            raise ValueError(f"must give one number per touch model, like {example}")
        result[model] = tuple(sorted(set(parsed)))
    return result
