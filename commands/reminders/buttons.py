"""Reminder DMs: one message per person per sweep, each reminder with its own buttons.

**Done**, **Snooze** (later today / tomorrow / next week, in the person's working time), **Log
touch**, and for promises **Kept**. Every button names a `ReminderItem` (a reminder's place in one
DM); pressing it changes the reminder, records who did what in the audit trail, and rebuilds that
DM in place. The DM is composed from the data as it is now, so it never shows a stale due date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col

from commands.context import Context
from commands.handoff import press_accept
from commands.policy import Permission, may, refuse
from commands.promise_close import Verdict, close_promise
from commands.registry import Handlers
from commands.reminders.dm import SNOOZES, Action, compose, redraw
from commands.touch import log_touch_form
from commands.ui import (
    Message,
    Outcome,
)
from commands.worktime import Snooze
from storage import reminders as stored
from storage.accounts import Account
from storage.audit import record
from storage.db import note_changed
from storage.handoffs import Handoff, HandoffStatus
from storage.promises import Promise
from storage.reminders import Reminder, ReminderItem, ReminderStatus


def _pressed(ctx: Context, value: str) -> tuple[ReminderItem, Reminder] | Outcome:
    """The item a button names, if the person pressing it may act on it."""
    found = stored.item(session=ctx.session, item_id=int(value)) if value.isdigit() else None
    if found is None:
        return Outcome(reply=Message.plain(ctx.t("reminders.gone")))
    if not may(ctx.actor, Permission.ACT_ON_REMINDER, owners=(found[1].person_id,)):
        owners = (found[1].person_id,)
        about = f"reminder:{found[1].id}"
        refused = refuse(ctx, Permission.ACT_ON_REMINDER, owners=owners, about=about)
        return Outcome(reply=Message.plain(refused))
    return found


def _redrawn(ctx: Context, item: ReminderItem, snoozing: int | None = None) -> Outcome:
    return Outcome(
        replace_original=compose(ctx.session, ctx.t, item.message_key, ctx.now, snoozing=snoozing)
    )


def _handle(
    ctx: Context,
    item: ReminderItem,
    reminder: Reminder,
    status: ReminderStatus,
    snoozed_until: datetime | None = None,
) -> None:
    """Records what the person did with an open (or snoozed) reminder, in the audit trail. A
    compare-and-set: of presses at the same moment, only the first is recorded."""
    message_key = item.message_key
    previous = reminder.status
    handled = ctx.session.execute(
        update(Reminder)
        .where(col(Reminder.id) == reminder.id, col(Reminder.status).in_(_OPEN))
        .values(
            status=status.value,
            snoozed_until=snoozed_until,
            handled_at=ctx.now,
            handled_by_id=ctx.actor.id,
        )
    )
    ctx.session.refresh(reminder)
    if handled.rowcount != 1:  # type: ignore[attr-defined]
        return
    note_changed(ctx.session, reminder)
    changes: dict[str, object] = {"status": [previous, status.value]}
    if snoozed_until is not None:
        changes["snoozed_until"] = snoozed_until.isoformat()
    record(
        session=ctx.session,
        actor=ctx.actor,
        at=ctx.now,
        entity="reminder",
        entity_id=reminder.id,
        action=status.value,
        changes=changes,
        note=reminder.key,
    )
    # One subject, one reminder: its other open copies (earlier occurrences, other DMs) go too.
    about = [reminder.account_id or 0]
    copies = [
        r
        for r in stored.open_on_accounts(session=ctx.session, account_ids=about)
        if r.id != reminder.id
        and r.person_id == reminder.person_id
        and stored.subject(r) == stored.subject(reminder)
    ]
    for each in copies:
        each.status = status.value
        each.snoozed_until = snoozed_until
        each.handled_at = ctx.now
        each.handled_by_id = ctx.actor.id
        ctx.session.add(each)
    redraw(ctx.session, ctx.translator_for, copies, ctx.now, except_key=message_key)


_OPEN = (ReminderStatus.SENT.value, ReminderStatus.SNOOZED.value)


def _is_open(reminder: Reminder) -> bool:
    return reminder.status in _OPEN


def done(ctx: Context, value: str) -> Outcome:
    found = _pressed(ctx, value)
    if isinstance(found, Outcome):
        return found
    item, reminder = found
    if _is_open(reminder):
        _handle(ctx, item, reminder, ReminderStatus.DONE)
    return _redrawn(ctx, item)


def show_snooze(ctx: Context, value: str) -> Outcome:
    found = _pressed(ctx, value)
    if isinstance(found, Outcome):
        return found
    return _redrawn(ctx, found[0], snoozing=found[0].id)


def back(ctx: Context, value: str) -> Outcome:
    found = _pressed(ctx, value)
    return found if isinstance(found, Outcome) else _redrawn(ctx, found[0])


def snooze(choice: Snooze) -> Callable[[Context, str], Outcome]:
    def snooze_until(ctx: Context, value: str) -> Outcome:
        found = _pressed(ctx, value)
        if isinstance(found, Outcome):
            return found
        item, reminder = found
        if _is_open(reminder):
            calendar = ctx.work.calendar(ctx.t.zone)
            _handle(
                ctx,
                item,
                reminder,
                ReminderStatus.SNOOZED,
                snoozed_until=calendar.snoozed_until(ctx.now, choice),
            )
        return _redrawn(ctx, item)

    return snooze_until


def kept(ctx: Context, value: str) -> Outcome:
    """Closes the promise as kept (a recurring one: this occurrence), as `/promise kept` does,
    with the same rules on who may."""
    found = _pressed(ctx, value)
    if isinstance(found, Outcome):
        return found
    item, reminder = found
    promise = ctx.session.get(Promise, reminder.promise_id) if reminder.promise_id else None
    if promise is None or promise.id is None or not _is_open(reminder):
        return _redrawn(ctx, item)
    before = (promise.status, promise.kept_count)
    said = close_promise(ctx, promise.id, Verdict.KEPT, None)
    if (promise.status, promise.kept_count) != before:
        _handle(ctx, item, reminder, ReminderStatus.KEPT)
    outcome = _redrawn(ctx, item)
    outcome.reply = Message.plain(said)
    return outcome


def accept(ctx: Context, value: str) -> Outcome:
    """Accepts the handoff, as its card's **Accept** does, with the same rules on who may."""
    found = _pressed(ctx, value)
    if isinstance(found, Outcome):
        return found
    item, reminder = found
    if reminder.handoff_id is None or not _is_open(reminder):
        return _redrawn(ctx, item)
    said = press_accept(ctx, str(reminder.handoff_id))
    handoff = ctx.session.get(Handoff, reminder.handoff_id)
    if handoff is not None and handoff.status != HandoffStatus.PENDING.value:
        _handle(ctx, item, reminder, ReminderStatus.RESOLVED)
    outcome = _redrawn(ctx, item)
    outcome.reply = said.reply
    return outcome


def log_touch(ctx: Context, value: str) -> Outcome:
    """Opens the **Log touch** form for the reminder's account; the touch it logs restarts the
    account's silence and makes its check-in unnecessary."""
    found = _pressed(ctx, value)
    if isinstance(found, Outcome):
        return found
    reminder = found[1]
    account = ctx.session.get(Account, reminder.account_id) if reminder.account_id else None
    return Outcome(form=log_touch_form(ctx, account))


ACTIONS: dict[str, Callable[[Context, str], Outcome]] = {
    Action.DONE: done,
    Action.SNOOZE: show_snooze,
    Action.BACK: back,
    Action.KEPT: kept,
    Action.LOG_TOUCH: log_touch,
    Action.ACCEPT: accept,
    **{action: snooze(choice) for action, choice in SNOOZES.items()},
}


HANDLERS = Handlers(actions=ACTIONS)
