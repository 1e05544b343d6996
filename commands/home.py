"""The Home tab (PRODUCT §8): each person's own version of the portfolio, without a command.

- CS reps: reminders due and snoozed (with the reminder buttons), handoffs waiting for them
  (Accept / Ask a question), their accounts (renewal, last touch, open promises) and the
  promises they are to keep;
- sales reps: their handoffs and the promises they made, with their status;
- managers: the portfolio headline numbers, then their own items.
Anyone sees every section that has something in it; a role's main sections show even when
empty, saying so. The view stays within the platform's room however much a person owns: each
list is cut short with "and N more" (the adapter keeps to its own count of blocks).

`changed_people` tells the adapter whose Home tab a request changed, so it can republish them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, event, inspect
from sqlmodel import Session, col, select

from commands import account_card, account_lines, portfolio
from commands.context import Context
from commands.handoff_cards import HandoffAction
from commands.policy import Permission, may
from commands.reminders import dm as reminder_dm
from commands.text import Safe, clip, mention
from commands.ui import Actions, Block, Button, Divider, Header, Note, Section, Style, View
from storage import personal
from storage.account_summary import count_accounts, summaries
from storage.accounts import Account, Stage
from storage.db import rows_changed_by_statements
from storage.people import Person, Role
from storage.reminders import ReminderStatus

REMINDERS = 10
"""Reminders shown with their buttons (two blocks each)."""
HANDOFFS = 5
ACCOUNTS = 40
PROMISES = 15
RECENT_DAYS = 30
"""Closed promises a sales rep made stay on their Home this long."""
NAME_LIMIT = 80
TEXT_LIMIT = 200


def home(ctx: Context) -> View:
    """The Home tab of `ctx.actor`."""
    me = ctx.actor
    blocks: list[Block] = [Header(ctx.t("home.title")), Note(_subtitle(ctx))]
    if may(me, Permission.VIEW_PORTFOLIO):
        summary = portfolio.compute(ctx, None, with_owner_lines=False)
        blocks += [Section(ctx.t("home.portfolio")), portfolio.headline(ctx, summary)]
    is_cs, is_sales = me.role == Role.CS, me.role == Role.SALES
    own = [
        *_reminders(ctx, always=is_cs),
        *_waiting_handoffs(ctx, always=is_cs),
        *_accounts(ctx, always=is_cs),
        *_promises_to_keep(ctx),
        *_handoffs_made(ctx, always=is_sales),
        *_promises_made(ctx, always=is_sales),
    ]
    blocks += own or [Divider(), Section(ctx.t("home.nothing"))]
    blocks.append(Note(ctx.t("home.footer")))
    return View(blocks=tuple(blocks))


def _subtitle(ctx: Context) -> Safe:
    role = ctx.actor.role
    named = ctx.t(f"role.name.{role}") if role in {r.value for r in Role} else ctx.t("home.no_role")
    return ctx.t(
        "home.subtitle", who=mention(ctx.actor.user_id), role=named, when=ctx.t.datetime(ctx.now)
    )


def _titled(ctx: Context, key: str, total: int) -> list[Block]:
    return [Divider(), Section(ctx.t(key, count=total))]


def _empty(ctx: Context, key: str, always: bool) -> list[Block]:
    return [Divider(), Section(ctx.t(key))] if always else []


def _more(ctx: Context, more: int) -> list[Block]:
    return [Note(ctx.t("home.more", count=more))] if more > 0 else []


# ---- CS: reminders, handoffs to accept, accounts, promises to keep ----------------------------


def _reminders(ctx: Context, *, always: bool) -> list[Block]:
    me = _id(ctx.actor)
    listed = personal.open_reminders(session=ctx.session, person_id=me, limit=REMINDERS)
    if not listed.total:
        return _empty(ctx, "home.reminders.none", always)
    blocks = _titled(ctx, "home.reminders", listed.total)
    for item in listed.items:
        reminder = item.reminder
        blocks.append(Section(reminder_dm.describe(ctx.session, ctx.t, reminder, ctx.now)))
        if reminder.status == ReminderStatus.SNOOZED and reminder.snoozed_until:
            until = ctx.t.datetime(reminder.snoozed_until)
            blocks.append(Note(ctx.t("home.reminders.snoozed", until=until)))
        elif item.item_id is not None:
            blocks.append(_reminder_buttons(ctx, item.item_id, reminder.kind))
    return blocks + _more(ctx, listed.more)


def _reminder_buttons(ctx: Context, item_id: int, kind: str) -> Actions:
    """The reminder DM's buttons, with the snooze choices shown at once (a Home tab cannot be
    redrawn in place the way a DM is)."""
    t, value, action = ctx.t, str(item_id), reminder_dm.Action
    buttons = [
        Button(t("reminders.button.done"), action.DONE, value, Style.PRIMARY),
        Button(t("reminders.button.later_today"), action.SNOOZE_TODAY, value),
        Button(t("reminders.button.tomorrow"), action.SNOOZE_TOMORROW, value),
        Button(t("reminders.button.next_week"), action.SNOOZE_WEEK, value),
        Button(t("reminders.button.log_touch"), action.LOG_TOUCH, value, opens_form=True),
    ]
    buttons += reminder_dm.extra_buttons(t, kind, value)
    return Actions(tuple(buttons), block_id=f"home-reminder-{item_id}")


def _waiting_handoffs(ctx: Context, *, always: bool) -> list[Block]:
    me = _id(ctx.actor)
    listed = personal.handoffs_waiting_for(session=ctx.session, person_id=me, limit=HANDOFFS)
    if not listed.total:
        return _empty(ctx, "home.waiting.none", always)
    blocks = _titled(ctx, "home.waiting", listed.total)
    for line in listed.items:
        handoff = line.handoff
        blocks.append(
            Section(
                ctx.t(
                    "home.waiting.line",
                    id=handoff.id,
                    account=clip(line.account_name, NAME_LIMIT),
                    rep=mention(line.other),
                    since=ctx.t.datetime(handoff.created_at),
                )
            )
        )
        value = str(handoff.id)
        blocks.append(
            Actions(
                (
                    Button(
                        ctx.t("handoff.button.accept"), HandoffAction.ACCEPT, value, Style.PRIMARY
                    ),
                    Button(ctx.t("handoff.button.ask"), HandoffAction.ASK, value, opens_form=True),
                ),
                block_id=f"home-handoff-{handoff.id}",
            )
        )
    return blocks + _more(ctx, listed.more)


def _accounts(ctx: Context, *, always: bool) -> list[Block]:
    mine = and_(col(Account.cs_owner_id) == ctx.actor.id, col(Account.stage) != Stage.CHURNED)
    total = count_accounts(session=ctx.session, where=mine)
    if not total:
        return _empty(ctx, "home.accounts.none", always)
    today = account_card.today(ctx)
    found = summaries(session=ctx.session, today=today, where=mine, limit=ACCOUNTS)
    lines = [account_lines.summary_line(ctx, s, today) for s in found]
    listed = account_lines.listing(ctx, ctx.t("home.accounts", count=total), lines, total)
    return [Divider(), *listed.blocks]


def _promises_to_keep(ctx: Context) -> list[Block]:
    me = _id(ctx.actor)
    listed = personal.open_promises_kept_by(session=ctx.session, person_id=me, limit=PROMISES)
    if not listed.total:
        return []
    today = account_card.today(ctx)
    lines = [_promise_line(ctx, p, today) for p in listed.items]
    return [Divider(), Section(_lines(ctx, "home.to_keep", listed.total, lines, listed.more))]


# ---- sales: handoffs made, promises made ------------------------------------------------------


def _handoffs_made(ctx: Context, *, always: bool) -> list[Block]:
    me = _id(ctx.actor)
    listed = personal.handoffs_by(session=ctx.session, person_id=me, limit=HANDOFFS * 2)
    if not listed.total:
        return _empty(ctx, "home.handoffs.none", always)
    lines = [
        ctx.t(
            "home.handoffs.accepted" if line.handoff.accepted_at else "home.handoffs.pending",
            id=line.handoff.id,
            account=clip(line.account_name, NAME_LIMIT),
            cs=mention(line.other),
            since=ctx.t.datetime(line.handoff.created_at),
            when=ctx.t.datetime(line.handoff.accepted_at) if line.handoff.accepted_at else "",
        )
        for line in listed.items
    ]
    return [Divider(), Section(_lines(ctx, "home.handoffs", listed.total, lines, listed.more))]


def _promises_made(ctx: Context, *, always: bool) -> list[Block]:
    me = _id(ctx.actor)
    since = ctx.now - timedelta(days=RECENT_DAYS)
    listed = personal.promises_made_by(
        session=ctx.session, person_id=me, closed_since=since, limit=PROMISES
    )
    if not listed.total:
        return _empty(ctx, "home.made.none", always)
    today = account_card.today(ctx)
    lines = [_promise_line(ctx, p, today) for p in listed.items]
    return [Divider(), Section(_lines(ctx, "home.made", listed.total, lines, listed.more))]


def _promise_line(ctx: Context, line: personal.PromiseLine, today: Any) -> Safe:
    promise = line.promise
    if promise.status != "open":
        state = ctx.t(f"home.promise.{promise.status}")
    elif promise.due_date is None:
        state = ctx.t("home.promise.undated")
    elif promise.due_date < today:
        state = ctx.t("home.promise.overdue", due=ctx.t.date(promise.due_date))
    else:
        state = ctx.t("home.promise.due", due=ctx.t.date(promise.due_date))
    return ctx.t(
        "home.promise",
        id=promise.id,
        account=clip(line.account_name, NAME_LIMIT),
        text=clip(promise.text, TEXT_LIMIT),
        state=state,
    )


def _lines(ctx: Context, key: str, total: int, lines: list[Safe], more: int) -> Safe:
    shown = portfolio.within(ctx, ctx.t(key, count=total), lines)
    return Safe(shown + "\n" + ctx.t("home.more", count=more)) if more > 0 else shown


def _id(person: Person) -> int:
    assert person.id is not None, "the actor is stored"
    return person.id


# ---- whose Home a request changed -------------------------------------------------------------

_CHANGED = "kakehashi.home.changed"
_PERSON_FIELDS = (
    "cs_owner_id",
    "sales_owner_id",
    "owner_id",
    "promised_by_id",
    "sales_rep_id",
    "person_id",
)


def watch_changes(session: Session) -> None:
    """Notes, on every flush, the people and accounts the changed rows name (with the previous
    owners of a row whose owner changed), for `changed_people`."""

    def note(flushing: Session, _context: object, _instances: object) -> None:
        people, accounts = flushing.info.setdefault(_CHANGED, (set(), set()))
        for row in [*flushing.new, *flushing.dirty, *flushing.deleted]:
            _note_row(row, people, accounts)

    event.listen(session, "before_flush", note)


def _note_row(row: object, people: set[int], accounts: set[int]) -> None:
    if isinstance(row, Person):
        if row.id is not None:
            people.add(row.id)
        return
    if isinstance(row, Account) and row.id is not None:
        accounts.add(row.id)
    if getattr(row, "account_id", None) is not None:
        accounts.add(row.account_id)  # type: ignore[attr-defined]
    state = inspect(row)
    for name in _PERSON_FIELDS:
        if name not in state.attrs:
            continue
        history = state.attrs[name].history
        for value in (*history.added, *history.unchanged, *history.deleted):
            if isinstance(value, int):
                people.add(value)


def _changes(session: Session) -> tuple[set[int], set[int]]:
    """The people and accounts this unit of work changed: what its flushes noted, and the rows
    its compare-and-sets changed (`storage.db.note_changed`)."""
    session.flush()
    people, accounts = session.info.setdefault(_CHANGED, (set(), set()))
    for row in rows_changed_by_statements(session):
        _note_row(row, people, accounts)
    return people, accounts


def changed_accounts(session: Session) -> frozenset[int]:
    """The accounts whose rows this unit of work changed (after `watch_changes`)."""
    return frozenset(_changes(session)[1])


def changed_people(session: Session) -> frozenset[str]:
    """User ids of the people whose Home tab shows something this unit of work changed: the
    people the changed rows name, and the owners of the accounts they belong to."""
    people, accounts = _changes(session)
    if not people and not accounts:
        return frozenset()
    wanted = set(people)
    if accounts:
        rows = session.exec(
            select(Account.cs_owner_id, Account.sales_owner_id).where(col(Account.id).in_(accounts))
        ).all()
        wanted |= {pid for row in rows for pid in row if pid is not None}
    return frozenset(_user_ids(session, wanted))


def _user_ids(session: Session, person_ids: Iterable[int]) -> set[str]:
    ids = list(person_ids)
    if not ids:
        return set()
    rows = session.exec(
        select(Person.user_id).where(col(Person.id).in_(ids), col(Person.is_bot).is_(False))
    ).all()
    return set(rows)
