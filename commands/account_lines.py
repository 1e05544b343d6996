"""Accounts as lines: one line per account, and a titled list of them in as many sections as it
needs (the account list and the Home tab)."""

from __future__ import annotations

from datetime import date, datetime

from commands.account_card import renewal
from commands.context import Context
from commands.text import Safe, clip
from commands.ui import Message, Section
from storage.account_summary import AccountSummary


def summary_line(ctx: Context, summary: AccountSummary, day: date) -> Safe:
    """One account on a line: stage, renewal, open and overdue promises, last touch."""
    account = summary.account
    touched = summary.last_touch
    return ctx.t(
        "account.summary",
        name=clip(account.name, 80),
        stage=ctx.t(f"account.stage.{account.stage}"),
        renewal=renewal(ctx, account.renewal_date, day),
        open=summary.open_promises,
        overdue=summary.overdue_promises,
        touched=ctx.t.date(_local(ctx, touched.at)) if touched else ctx.t("account.never"),
    )


def _local(ctx: Context, at: datetime) -> date:
    return at.astimezone(ctx.t.zone).date()


def listing(ctx: Context, title: str, lines: list[Safe], total: int) -> Message:
    """A titled list in as many sections as it needs (up to the 3,000-character limit each),
    ending with "and N more" when not every item is shown."""
    sections: list[list[str]] = [[title]]
    size = ctx.room.measure(title)
    for line in lines:
        if size + ctx.room.measure(line) + 1 > ctx.room.section - 100:
            sections.append([])
            size = 0
        sections[-1].append(line)
        size += ctx.room.measure(line) + 1
    if total > len(lines):
        sections[-1].append(ctx.t("account.more", count=total - len(lines)))
    blocks = tuple(Section("\n".join(s)) for s in sections)
    return Message(text=title, blocks=blocks)
