"""`/portfolio [@person …]`: the portfolio summary for managers (PRODUCT §8).

/portfolio              the whole portfolio
/portfolio @aiko        the accounts whose CS owner is @aiko (several people: their accounts)
/portfolio help         usage

The numbers come from `storage.metrics`; this module only parses, checks the role and renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from commands.context import Context
from commands.markup import MENTIONED
from commands.policy import Permission, may, refuse
from commands.registry import CommandSpec
from commands.text import Safe, clip, is_help, mention, strip_control
from commands.ui import Block, Divider, Header, Message, Note, Outcome, Section
from storage import metrics, people
from storage.metrics import Amount, Group, OwnerLine, Portfolio

MAX_PEOPLE = 20
"""`/portfolio @a @b …`: more than this is a team, not a narrowing."""
RENEWAL_DAYS = 90
DUE_DAYS = 14
WINDOW_DAYS = 30
NAME_LIMIT = 80
ROOM_FOR_MORE = 240
"""A section's lines stop this short of its room, which keeps the "and N more" line."""


@dataclass(frozen=True)
class PortfolioRequest:
    user_ids: tuple[str, ...] = ()
    """The platform's user ids to narrow to; empty: the whole portfolio."""


def parse(text: str) -> PortfolioRequest | str:
    """Nothing, or one or more @mentions → a request; else the key of what is wrong."""
    words = strip_control(text, " ").split()
    if len(words) > MAX_PEOPLE:
        return "portfolio.too_many"
    user_ids: list[str] = []
    for word in words:
        found = MENTIONED.fullmatch(word)
        if found is None:
            return "portfolio.need_mention"
        if found[1] not in user_ids:
            user_ids.append(found[1])
    return PortfolioRequest(tuple(user_ids))


def run(ctx: Context, text: str) -> Outcome:
    if is_help(text):
        return Outcome(reply=Message.plain(ctx.t("portfolio.usage")))
    if not may(ctx.actor, Permission.VIEW_PORTFOLIO):
        return Outcome(reply=Message.plain(refuse(ctx, Permission.VIEW_PORTFOLIO)))
    request = parse(text)
    if isinstance(request, str):
        return Outcome(reply=Message.plain(ctx.t(request) + "\n" + ctx.t("portfolio.usage")))
    owners = _owner_ids(ctx, request.user_ids) if request.user_ids else None
    summary = compute(ctx, owners)
    if summary.accounts == 0:
        key = "portfolio.none_for" if request.user_ids else "portfolio.none"
        names = Safe(", ".join(mention(u) for u in request.user_ids))
        return Outcome(reply=Message.plain(ctx.t(key, who=names)))
    return Outcome(reply=render(ctx, summary, request.user_ids))


def compute(
    ctx: Context, owners: Sequence[int] | None, *, with_owner_lines: bool = True
) -> Portfolio:
    """The §8 numbers as of now, in the viewer's today."""
    return metrics.portfolio(
        session=ctx.session,
        today=ctx.now.astimezone(ctx.t.zone).date(),
        now=ctx.now,
        silence_days=ctx.reminder_rules.silence_days,
        owners=owners,
        renewal_days=RENEWAL_DAYS,
        due_within_days=DUE_DAYS,
        window_days=WINDOW_DAYS,
        with_owner_lines=with_owner_lines,
    )


def _owner_ids(ctx: Context, user_ids: Iterable[str]) -> list[int]:
    """People Kakehashi has never met own no accounts: they narrow to nothing."""
    found = [
        people.get_by_user_id(session=ctx.session, user_id=u, platform=ctx.directory.platform)
        for u in user_ids
    ]
    return [p.id for p in found if p is not None and p.id is not None]


# ---- rendering -------------------------------------------------------------------------------


def render(ctx: Context, summary: Portfolio, narrowed_to: Sequence[str] = ()) -> Message:
    t = ctx.t
    when = t("portfolio.as_of", date=t.date(summary.today))
    if narrowed_to:
        who = Safe(", ".join(mention(u) for u in narrowed_to))
        when = t("portfolio.narrowed", date=t.date(summary.today), who=who)
    blocks: list[Block] = [
        Header(t("portfolio.title")),
        Note(when),
        headline(ctx, summary),
        Section(_groups(ctx, "portfolio.by_stage", "account.stage", summary.by_stage)),
        Section(
            _groups(ctx, "portfolio.by_touch_model", "account.touch_model", summary.by_touch_model)
        ),
    ]
    oldest = summary.handoffs.oldest
    if oldest is not None:
        waited = duration(ctx, ctx.now - oldest.created_at)
        blocks.append(
            Section(
                t(
                    "portfolio.oldest_handoff",
                    id=oldest.handoff_id,
                    account=clip(oldest.account_name, NAME_LIMIT),
                    owner=mention(oldest.cs_owner),
                    waited=waited,
                )
            )
        )
    if summary.owners:
        blocks += [Divider(), Section(_owner_lines(ctx, summary.owners))]
    return Message(text=t("portfolio.title"), blocks=tuple(blocks))


def headline(ctx: Context, summary: Portfolio) -> Section:
    """The numbers at a glance (eight fields); the Home tab shows managers this too."""
    t = ctx.t
    p, h = summary.promises, summary.handoffs
    renewals = t(
        "portfolio.count_value",
        count=summary.renewals.count,
        value=money(ctx, summary.renewals.values),
    )
    if summary.renewals.overdue:
        overdue = t("portfolio.renewals_overdue", count=summary.renewals.overdue)
        renewals = Safe(f"{renewals}\n{overdue}")
    rate = t("portfolio.kept_rate_value", rate=percent(p.kept_rate), kept=p.kept, broken=p.broken)
    median = (
        t("portfolio.median_value", median=duration(ctx, h.median_to_accept), count=h.accepted)
        if h.median_to_accept is not None
        else t("portfolio.no_value")
    )
    fields = (
        (
            t(
                "portfolio.accounts",
            ),
            Safe(str(summary.accounts)),
        ),
        (t("portfolio.renewals", days=RENEWAL_DAYS), renewals),
        (t("portfolio.overdue"), Safe(str(p.overdue))),
        (t("portfolio.due_soon", days=DUE_DAYS), Safe(str(p.due_soon))),
        (t("portfolio.kept_rate", days=WINDOW_DAYS), rate),
        (t("portfolio.pending"), Safe(str(h.pending))),
        (t("portfolio.median", days=WINDOW_DAYS), median),
        (t("portfolio.silent"), Safe(str(summary.silent))),
    )
    return Section("", tuple(Safe(f"*{label}*\n{value}") for label, value in fields))


def _groups(ctx: Context, title: str, names: str, groups: Sequence[Group]) -> Safe:
    lines = [
        ctx.t(
            "portfolio.group_line",
            name=ctx.t(f"{names}.{g.key}") if g.key in _KNOWN else g.key,
            count=g.accounts,
            value=money(ctx, g.values),
        )
        for g in groups
    ]
    return Safe("\n".join([ctx.t(title), *lines]))


_KNOWN = {"onboarding", "active", "at_risk", "renewed", "churned", "high", "low", "tech"}


def _owner_lines(ctx: Context, lines: Sequence[OwnerLine]) -> Safe:
    rendered = [
        ctx.t(
            "portfolio.owner_line",
            owner=mention(line.owner) if line.owner else ctx.t("portfolio.no_owner"),
            count=line.accounts,
            value=money(ctx, line.values),
            overdue=line.overdue_promises,
            silent=line.silent_accounts,
        )
        for line in lines
    ]
    return within(ctx, ctx.t("portfolio.by_owner"), rendered)


def within(ctx: Context, title: str, lines: Sequence[str]) -> Safe:
    """The title and as many lines as fit in one section (`ctx.room`), then "and N more"."""
    kept: list[str] = [title]
    measure, limit = ctx.room.measure, ctx.room.section - ROOM_FOR_MORE
    size = measure(title)
    for i, line in enumerate(lines):
        if size + measure(line) + 1 > limit:
            kept.append(ctx.t("portfolio.more", count=len(lines) - i))
            break
        kept.append(line)
        size += measure(line) + 1
    return Safe("\n".join(kept))


def money(ctx: Context, values: Sequence[Amount]) -> Safe:
    """Each currency on its own: `¥1,200,000 · $7,000`; `—` when there is no value."""
    if not values:
        return Safe("—")
    return Safe(" · ".join(ctx.t.money(a.total, a.currency) for a in values))


def percent(rate: Decimal | None) -> Safe:
    if rate is None:
        return Safe("—")
    return Safe(f"{(rate * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)}%")


def duration(ctx: Context, value: timedelta | None) -> Safe:
    """`2 d 4 h`, `6 h`, `35 min` (Japanese: `2日4時間`, `6時間`, `35分`)."""
    if value is None:
        return Safe("—")
    minutes = max(0, int(value.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return ctx.t("portfolio.duration.days", days=days, hours=hours)
    if hours:
        return ctx.t("portfolio.duration.hours", hours=hours)
    return ctx.t("portfolio.duration.minutes", minutes=minutes)


SPEC = CommandSpec(name="portfolio", run=run)
