"""Neutral markup as Slack shows it, for tests that read a command's outcome directly."""

from __future__ import annotations

from bot.slack_markup import mrkdwn


def slack(markup: str | None) -> str:
    """`markup` rendered as Slack mrkdwn (mentions `<@id>`, typed `<` as `&lt;`), unclipped."""
    return mrkdwn(markup or "", 1_000_000)
