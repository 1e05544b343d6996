"""The weekly Sales × CS sync agenda (PRODUCT §9) as one neutral message.

Every section is one block within the platform's room (`AgendaScope.room`): it lists the first
few items and ends with "and N more" when there are others, so however large the portfolio the
message stays within the platform's limits (about 20 blocks). People are mentioned from the data
(the owners' user ids), never from typed text; account names, promise texts and notes are clipped
before they are escaped, so no line can end inside an entity or a mention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from sqlmodel import Session

from commands.agenda.shared import Reader, SharedReadings
from commands.i18n import Translator
from commands.text import Safe, clip, mention
from commands.ui import Block, Divider, Header, Message, Note, Room, Section
from storage import metrics
from storage.accounts import days_silent
from storage.agenda import readings as stored
from storage.handoffs import HandoffStatus
from storage.metrics import Amount, Listing

_T = TypeVar("_T")

ITEMS = 10
"""Items listed per section before "and N more"."""


NAME_LIMIT, TEXT_LIMIT, NOTE_LIMIT = 80, 140, 100
"""Longest account name, promise text and close note shown, before escaping."""


WEEK = timedelta(days=7)


LONG_WINDOW_DAYS = 90
"""The kept-promise rate and the median time to accept are also shown over this many days."""


DUE_WITHIN_DAYS, RENEWAL_WITHIN_DAYS = 14, 90


@dataclass(frozen=True)
class AgendaScope:
    """Which agenda: the week ending at `end`, for the accounts of `owners` (None: all)."""

    end: datetime
    silence_days: Mapping[str, int]
    owners: tuple[int, ...] | None = None
    team: tuple[str, ...] = ()
    """User ids of the team the agenda is narrowed to, for its heading."""
    room: Room = field(default_factory=Room)
    """How much one section holds where the agenda is posted."""

    @property
    def since(self) -> datetime:
        return self.end - WEEK

    @property
    def long_since(self) -> datetime:
        return self.end - timedelta(days=LONG_WINDOW_DAYS)


def compose(
    session: Session, t: Translator, scope: AgendaScope, shared: SharedReadings | None = None
) -> Message:
    """The agenda in `t`'s language, dates in `t`'s time zone (the channel's); with `shared`,
    what it reads is shared with the other agendas composed with the same."""
    read = Reader(session, shared)
    today = scope.end.astimezone(t.zone).date()
    closures = read(
        stored.closures,
        since=scope.since,
        long_since=scope.long_since,
        now=scope.end,
        owners=scope.owners,
        limit=ITEMS,
    )
    sections = [
        _new_handoffs(read, t, scope),
        _waiting_handoffs(read, t, scope),
        _overdue_promises(read, t, scope, today),
        _due_promises(read, t, scope, today),
        _closed_promises(t, scope.room, closures.this_week),
        _renewals(read, t, scope, today),
        _silent_accounts(read, t, scope),
        _numbers(read, t, scope, closures),
    ]
    first_day = scope.since.astimezone(t.zone).date()
    title = t("agenda.title", start=t.date(first_day), end=t.date(today))
    blocks: list[Block] = [Header(title), Note(_scope_note(t, scope))]
    for section in sections:
        blocks += [Divider(), Section(section)]
    return Message(text=title, blocks=tuple(blocks))


def _scope_note(t: Translator, scope: AgendaScope) -> Safe:
    if not scope.team:
        return t("agenda.scope.all")
    return t("agenda.scope.team", team=Safe(", ".join(mention(u) for u in scope.team)))


def _new_handoffs(read: Reader, t: Translator, scope: AgendaScope) -> Safe:
    listing = read(
        stored.new_handoffs, since=scope.since, now=scope.end, owners=scope.owners, limit=ITEMS
    )

    def line(h: stored.NewHandoff) -> Safe:
        if h.status == HandoffStatus.ACCEPTED.value and h.accepted_at is not None:
            status = t("agenda.handoff.accepted", when=t.date(_local(t, h.accepted_at)))
        else:
            status = t("agenda.handoff.pending", cs=mention(h.cs_owner))
        return t(
            "agenda.handoff.new",
            id=h.handoff_id,
            account=_name(h.account_name),
            sales=mention(h.sales_rep),
            cs=mention(h.cs_owner),
            status=status,
        )

    return _listing(t, scope.room, "agenda.new_handoffs", listing, line)


def _waiting_handoffs(read: Reader, t: Translator, scope: AgendaScope) -> Safe:
    listing = read(metrics.pending_handoffs, owners=scope.owners, limit=ITEMS)

    def line(h: metrics.PendingHandoff) -> Safe:
        return t(
            "agenda.handoff.waiting",
            id=h.handoff_id,
            account=_name(h.account_name),
            sales=mention(h.sales_rep),
            cs=mention(h.cs_owner),
            since=t.date(_local(t, h.created_at)),
            days=_days(t, (scope.end - h.created_at).days),
        )

    return _listing(t, scope.room, "agenda.waiting_handoffs", listing, line)


def _overdue_promises(read: Reader, t: Translator, scope: AgendaScope, today: date) -> Safe:
    listing = read(
        metrics.due_promises, today=today, overdue_only=True, owners=scope.owners, limit=ITEMS
    )

    def line(p: metrics.DuePromise) -> Safe:
        return t(
            "agenda.promise.overdue",
            id=p.promise_id,
            account=_name(p.account_name),
            text=clip(p.text, TEXT_LIMIT),
            owner=_owner(t, p.owner),
            due=t.date(p.due_date),
            days=_days(t, (today - p.due_date).days),
        )

    return _listing(t, scope.room, "agenda.overdue_promises", listing, line)


def _due_promises(read: Reader, t: Translator, scope: AgendaScope, today: date) -> Safe:
    listing = read(
        metrics.due_promises,
        today=today,
        within_days=DUE_WITHIN_DAYS,
        upcoming_only=True,
        owners=scope.owners,
        limit=ITEMS,
    )

    def line(p: metrics.DuePromise) -> Safe:
        return t(
            "agenda.promise.due",
            id=p.promise_id,
            account=_name(p.account_name),
            text=clip(p.text, TEXT_LIMIT),
            owner=_owner(t, p.owner),
            due=t.date(p.due_date),
        )

    return _listing(t, scope.room, "agenda.due_promises", listing, line, days=DUE_WITHIN_DAYS)


def _closed_promises(t: Translator, room: Room, listing: Listing[stored.ClosedPromise]) -> Safe:
    def line(p: stored.ClosedPromise) -> Safe:
        note = t("agenda.promise.note", note=clip(p.note, NOTE_LIMIT)) if p.note else ""
        return t(
            "agenda.promise.kept" if p.kept else "agenda.promise.broken",
            id=p.promise_id,
            account=_name(p.account_name),
            text=clip(p.text, TEXT_LIMIT),
            owner=_owner(t, p.owner),
            note=Safe(note),
        )

    return _listing(t, room, "agenda.closed_promises", listing, line)


def _renewals(read: Reader, t: Translator, scope: AgendaScope, today: date) -> Safe:
    listing = read(
        metrics.upcoming_renewals,
        today=today,
        within_days=RENEWAL_WITHIN_DAYS,
        owners=scope.owners,
        limit=ITEMS,
    )

    def line(r: metrics.Renewal) -> Safe:
        left = (r.renewal_date - today).days
        key = "agenda.renewal" if left > 0 else "agenda.renewal_today" if left == 0 else ""
        return t(
            key or "agenda.renewal_overdue",
            account=_name(r.name),
            date=t.date(r.renewal_date),
            days=_days(t, abs(left)),
            value=t.money(r.value.total, r.value.currency) if r.value else t("agenda.no_value"),
            owner=_owner(t, r.cs_owner),
        )

    return _listing(t, scope.room, "agenda.renewals", listing, line, days=RENEWAL_WITHIN_DAYS)


def _silent_accounts(read: Reader, t: Translator, scope: AgendaScope) -> Safe:
    listing = read(
        metrics.silent_accounts,
        now=scope.end,
        silence_days=scope.silence_days,
        owners=scope.owners,
        limit=ITEMS,
    )

    def line(a: metrics.SilentAccount) -> Safe:
        return t(
            "agenda.silent",
            account=_name(a.name),
            days=_days(t, days_silent(a.silent_since, scope.end)),
            model=t(f"account.touch_model.{a.touch_model}"),
            owner=_owner(t, a.cs_owner),
        )

    return _listing(t, scope.room, "agenda.silent_accounts", listing, line)


def _numbers(read: Reader, t: Translator, scope: AgendaScope, closures: stored.Closures) -> Safe:
    stages = read(metrics.by_stage, owners=scope.owners)
    accepted, median = read(
        metrics.median_to_accept, since=scope.long_since, now=scope.end, owners=scope.owners
    )
    lines = [t("agenda.numbers.title"), t("agenda.numbers.stages")]
    lines += [_stage_line(t, g) for g in stages] or [t("agenda.numbers.no_accounts")]
    lines.append(
        t(
            "agenda.numbers.kept_rate",
            week=_rate(t, *closures.week),
            long=_rate(t, *closures.long),
            days=LONG_WINDOW_DAYS,
        )
    )
    lines.append(_median_line(t, accepted, median))
    return _fit(lines, [], 0, t, scope.room)


def _stage_line(t: Translator, group: metrics.Group) -> Safe:
    values = _money(t, group.values)
    return t(
        "agenda.numbers.stage",
        stage=t(f"account.stage.{group.key}"),
        accounts=t("agenda.accounts", count=group.accounts),
        values=values,
    )


def _money(t: Translator, amounts: Iterable[Amount]) -> Safe:
    shown = [t.money(a.total, a.currency) for a in amounts]
    return Safe(" · ".join(shown)) if shown else t("agenda.no_value")


def _rate(t: Translator, kept: int, broken: int) -> Safe:
    if kept + broken == 0:
        return t("agenda.numbers.no_rate")
    percent = round(Decimal(kept) * 100 / Decimal(kept + broken))
    return t("agenda.numbers.rate", percent=percent, kept=kept, closed=kept + broken)


def _median_line(t: Translator, accepted: int, median: timedelta | None) -> Safe:
    if median is None:
        return t("agenda.numbers.median_none", days=LONG_WINDOW_DAYS)
    days = Decimal(median.total_seconds()) / Decimal(86400)
    return t("agenda.numbers.median", median=f"{days:.1f}", count=accepted, days=LONG_WINDOW_DAYS)


def _listing(
    t: Translator,
    room: Room,
    key: str,
    listing: Listing[_T],
    line: Callable[[_T], Safe],
    **params: object,
) -> Safe:
    """`key.title` over one line per item, or `key.none` when there is nothing."""
    title = t(f"{key}.title", **params)
    if listing.total == 0:
        return Safe(f"{title}\n{t(f'{key}.none', **params)}")
    return _fit([title], [line(item) for item in listing.items], listing.total, t, room)


def _fit(head: Sequence[str], lines: Sequence[str], total: int, t: Translator, room: Room) -> Safe:
    """The head, then as many lines as fit in one section with room for "and N more"."""
    measure = room.measure
    reserve = measure(t("agenda.more", count=total)) + 1 if total else 0
    text = "\n".join(head)
    size, shown = measure(text), 0
    for line in lines:
        if size + 1 + measure(line) + reserve > room.section:
            break
        text += "\n" + line
        size, shown = size + 1 + measure(line), shown + 1
    if total > shown:
        text += "\n" + t("agenda.more", count=total - shown)
    return Safe(text[: room.section])


def _name(name: str) -> str:
    return clip(name, NAME_LIMIT)


def _days(t: Translator, count: int) -> Safe:
    return t("agenda.days", count=max(0, count))


def _owner(t: Translator, user_id: str | None) -> Safe:
    return mention(user_id) if user_id else t("agenda.no_owner")


def _local(t: Translator, at: datetime) -> date:
    return at.astimezone(t.zone).date()
