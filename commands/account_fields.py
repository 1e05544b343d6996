"""Account values as people write them, in English or Japanese: stages, touch models, dates.

Shared by `/account` and the accounts CSV import, so both accept the same words. Each parser
returns the value or None; it never raises.
"""

from __future__ import annotations

import re
from datetime import date

from commands.text import fold
from storage.accounts import Stage, TouchModel

STAGE_WORDS: dict[str, Stage] = {
    "onboarding": Stage.ONBOARDING,
    "オンボーディング": Stage.ONBOARDING,
    "導入": Stage.ONBOARDING,
    "導入中": Stage.ONBOARDING,
    "active": Stage.ACTIVE,
    "アクティブ": Stage.ACTIVE,
    "稼働": Stage.ACTIVE,
    "稼働中": Stage.ACTIVE,
    "at_risk": Stage.AT_RISK,
    "risk": Stage.AT_RISK,
    "リスク": Stage.AT_RISK,
    "リスクあり": Stage.AT_RISK,
    "要注意": Stage.AT_RISK,
    "renewed": Stage.RENEWED,
    "更新済み": Stage.RENEWED,
    "更新済": Stage.RENEWED,
    "churned": Stage.CHURNED,
    "churn": Stage.CHURNED,
    "解約": Stage.CHURNED,
    "解約済み": Stage.CHURNED,
}

TOUCH_MODEL_WORDS: dict[str, TouchModel] = {
    "high": TouchModel.HIGH,
    "high_touch": TouchModel.HIGH,
    "ハイタッチ": TouchModel.HIGH,
    "low": TouchModel.LOW,
    "low_touch": TouchModel.LOW,
    "ロータッチ": TouchModel.LOW,
    "tech": TouchModel.TECH,
    "tech_touch": TouchModel.TECH,
    "テックタッチ": TouchModel.TECH,
}

_DATE = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})")


def _word(text: str) -> str:
    """`At Risk`, `at-risk` and `ＡＴ＿ＲＩＳＫ` all read as `at_risk`."""
    return re.sub(r"[\s\-_]+", "_", fold(text)).strip("_")


def parse_stage(text: str) -> Stage | None:
    return STAGE_WORDS.get(_word(text))


def parse_touch_model(text: str) -> TouchModel | None:
    return TOUCH_MODEL_WORDS.get(_word(text))


def parse_date(text: str) -> date | None:
    """`2026-12-01`, `2026/12/1` (Excel's Japanese format) or full-width digits; None if it is
    not a real date."""
    found = _DATE.fullmatch(fold(text))
    if not found:
        return None
    try:
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None
