"""Account values as people write them, in English or Japanese: stages and touch models (dates
are read by `commands.dates`, amounts by `commands.amounts`).

Shared by `/account` and the accounts CSV import, so both accept the same words. Each parser
returns the value or None; it never raises.
"""

from __future__ import annotations

import re

from commands.text import fold
from storage.accounts import Stage, TouchModel

_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+")


def is_email(text: str) -> bool:
    """Whether the text is one e-mail address (a contact's, an owner's in the CSV import)."""
    return _EMAIL.fullmatch(text) is not None


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


def _word(text: str) -> str:
    """`At Risk`, `at-risk` and `ＡＴ＿ＲＩＳＫ` all read as `at_risk`."""
    return re.sub(r"[\s\-_]+", "_", fold(text)).strip("_")


def parse_stage(text: str) -> Stage | None:
    return STAGE_WORDS.get(_word(text))


def parse_touch_model(text: str) -> TouchModel | None:
    return TOUCH_MODEL_WORDS.get(_word(text))
