"""Reminder DMs: one message per person per sweep, each reminder with its own buttons.

**Done**, **Snooze** (later today / tomorrow / next week, in the person's working time), **Log
touch**, and for promises **Kept**. Every button names a `ReminderItem` (a reminder's place in one
DM); pressing it changes the reminder, records who did what in the audit trail, and rebuilds that
DM in place. The DM is composed from the data as it is now, so it never shows a stale due date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from commands.context import Context
from commands.handoff import press_accept
from commands.i18n import Translator
from commands.policy import Permission, may, refuse
from commands.promise import Verdict, close_promise
from commands.registry import Handlers
from commands.text import Safe, clip, mention
from commands.touch import log_touch_form
from commands.ui import (
    Actions,
    Block,
    Button,
    Header,
    Message,
    Note,
    Outcome,
    Section,
    Style,
    message_to_json,
)
from commands.worktime import Snooze
from storage import outbox
from storage import reminders as stored
from storage.accounts import Account, days_silent, silent_since
from storage.audit import record
from storage.db import note_changed
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person
from storage.promises import Promise
from storage.reminders import Reminder, ReminderItem, ReminderKind, ReminderStatus
from storage.touches import Touch

TEXT_LIMIT = 400
"""Longest promise text or goals quoted in a reminder (the DM holds up to 20)."""


class Action(StrEnum):
    DONE = "reminders.done"
    SNOOZE = "reminders.snooze"
    """Shows the snooze choices in place of the reminder's buttons."""
    SNOOZE_TODAY = "reminders.snooze.today"
    SNOOZE_TOMORROW = "reminders.snooze.tomorrow"
    SNOOZE_WEEK = "reminders.snooze.week"
    BACK = "reminders.back"
    LOG_TOUCH = "reminders.log_touch"
    KEPT = "reminders.kept"
    ACCEPT = "reminders.accept"
    """Accepts the handoff a "handoff waiting" reminder (or its escalation) is about."""


_SNOOZES = {
    Action.SNOOZE_TODAY: Snooze.LATER_TODAY,
    Action.SNOOZE_TOMORROW: Snooze.TOMORROW,
    Action.SNOOZE_WEEK: Snooze.NEXT_WEEK,
}


# ---- composing the DM ----------------------------------------------------------------------


def compose(
    session: Session, t: Translator, message_key: str, now: datetime, *, snoozing: int | None = None
) -> Message:
    """The DM `message_key` as it stands: open reminders with buttons, handled ones with who
    handled them. `snoozing` is the item whose snooze choices are shown."""
    items = [
        (i, r)
        for i, r in stored.items_of(session=session, message_key=message_key)
        if r.status != ReminderStatus.DROPPED
    ]
    _held = _load(session, [r for _, r in items])  # in the session while composing
    blocks: list[Block] = [Header(t("reminders.header"))]
    for item, reminder in items:
        blocks.append(Section(describe(session, t, reminder, now)))
        blocks.append(_controls(session, t, item, reminder, snoozing == item.id))
    waiting = sum(1 for _, r in items if r.status == ReminderStatus.SENT)
    if not waiting:
        blocks.insert(1, Note(t("reminders.all_handled")))
    return Message(text=t("reminders.text", count=waiting), blocks=tuple(blocks))


def _controls(
    session: Session, t: Translator, item: ReminderItem, reminder: Reminder, snoozing: bool
) -> Block:
    value = str(item.id)
    if reminder.status == ReminderStatus.SENT and snoozing:
        return Actions(
            (
                Button(t("reminders.button.later_today"), Action.SNOOZE_TODAY, value),
                Button(t("reminders.button.tomorrow"), Action.SNOOZE_TOMORROW, value),
                Button(t("reminders.button.next_week"), Action.SNOOZE_WEEK, value),
                Button(t("reminders.button.back"), Action.BACK, value),
            ),
            block_id=f"reminder-{item.id}",
        )
    if reminder.status == ReminderStatus.SENT:
        buttons = [
            Button(t("reminders.button.done"), Action.DONE, value, Style.PRIMARY),
            Button(t("reminders.button.snooze"), Action.SNOOZE, value),
            Button(t("reminders.button.log_touch"), Action.LOG_TOUCH, value),
        ]
        buttons += extra_buttons(t, reminder.kind, value)
        return Actions(tuple(buttons), block_id=f"reminder-{item.id}")
    return Note(_status(session, t, reminder))


def extra_buttons(t: Translator, kind: str, value: str) -> list[Button]:
    """What a kind of reminder asks for, as a button: **Kept** on a promise, **Accept** on a
    waiting handoff (to its CS owner and to the managers)."""
    if kind == ReminderKind.PROMISE:
        return [Button(t("reminders.button.kept"), Action.KEPT, value)]
    if kind in (ReminderKind.HANDOFF, ReminderKind.ESCALATION):
        return [Button(t("handoff.button.accept"), Action.ACCEPT, value)]
    return []


def redraw(
    session: Session,
    translator_of: Callable[[Person], Translator],
    reminders: Iterable[Reminder],
    now: datetime,
    *,
    except_key: str | None = None,
) -> None:
    """Updates in place the DMs that named these reminders (but `except_key`, which the
    button's answer replaces): each shows what became of them."""
    changed = [r.id for r in reminders if r.id is not None]
    session.flush()
    for key in stored.message_keys(session=session, reminder_ids=changed):
        original = outbox.get_by_key(session=session, key=key)
        if key == except_key or original is None:
            continue
        person = session.exec(select(Person).where(Person.user_id == original.recipient)).first()
        if person is None:
            continue
        outbox.enqueue(
            session=session,
            key=f"{key}:handled:{min(changed)}",
            kind=UPDATE_KIND,
            recipient=original.recipient,
            payload=message_to_json(compose(session, translator_of(person), key, now)),
            at=now,
            update_of=key,
        )


UPDATE_KIND = "reminder.update"
"""The outbox kind of a reminder DM's update in place."""


def _status(session: Session, t: Translator, reminder: Reminder) -> Safe:
    who = session.get(Person, reminder.handled_by_id) if reminder.handled_by_id else None
    when = t.datetime(reminder.handled_at) if reminder.handled_at else Safe("")
    if reminder.status == ReminderStatus.SNOOZED and reminder.snoozed_until:
        return t(
            "reminders.status.snoozed",
            until=t.datetime(reminder.snoozed_until),
            who=mention(who.user_id) if who else Safe(""),
        )
    return t(
        f"reminders.status.{reminder.status}", who=mention(who.user_id) if who else "", when=when
    )


def _load(session: Session, reminders: list[Reminder]) -> list[object]:
    """Loads what the reminders are about in three queries, not three per reminder: while the
    returned list holds them, `session.get` finds them in the session."""
    wanted: list[tuple[type[Account] | type[Promise] | type[Handoff], set[int]]] = [
        (Account, {r.account_id for r in reminders if r.account_id}),
        (Promise, {r.promise_id for r in reminders if r.promise_id}),
        (Handoff, {r.handoff_id for r in reminders if r.handoff_id}),
    ]
    return [
        row
        for model, ids in wanted
        if ids
        for row in session.exec(select(model).where(col(model.id).in_(ids))).all()
    ]


def describe(session: Session, t: Translator, reminder: Reminder, now: datetime) -> Safe:
    """One reminder, from the data as it is now."""
    today = now.astimezone(t.zone).date()
    account = session.get(Account, reminder.account_id) if reminder.account_id else None
    name = account.name if account else "?"
    match reminder.kind:
        case ReminderKind.HANDOFF | ReminderKind.ESCALATION:
            return _handoff(session, t, reminder, name)
        case ReminderKind.CHECKIN:
            return _checkin(session, t, reminder, name)
        case ReminderKind.PROMISE:
            return _promise(session, t, reminder, name, today)
        case ReminderKind.RENEWAL if account is not None and account.renewal_date:
            late = account.renewal_date < today
            return t(
                "reminders.renewal.overdue" if late else "reminders.renewal",
                account=name,
                date=t.date(account.renewal_date),
                days=abs((account.renewal_date - today).days),
                value=t.per_year(account.arr, account.currency),
            )
        case ReminderKind.SILENT if account is not None:
            return _silent(session, t, account, now)
    return t("reminders.unknown", account=name)


def _handoff(session: Session, t: Translator, reminder: Reminder, name: str) -> Safe:
    handoff = session.get(Handoff, reminder.handoff_id) if reminder.handoff_id else None
    if handoff is None:
        return t("reminders.unknown", account=name)
    people = _user_ids(session, handoff.sales_rep_id, handoff.cs_owner_id)
    key = "reminders.handoff" if reminder.kind == ReminderKind.HANDOFF else "reminders.escalation"
    return t(
        key,
        account=name,
        id=handoff.id,
        since=t.datetime(handoff.created_at),
        sales=mention(people[handoff.sales_rep_id]),
        cs=mention(people[handoff.cs_owner_id]),
    )


def _checkin(session: Session, t: Translator, reminder: Reminder, name: str) -> Safe:
    handoff = session.get(Handoff, reminder.handoff_id) if reminder.handoff_id else None
    accepted = handoff.accepted_at if handoff and handoff.accepted_at else None
    return t(
        "reminders.checkin",
        account=name,
        day=reminder.detail,
        accepted=t.date(accepted.astimezone(t.zone).date()) if accepted else "—",
        goals=clip(handoff.goals, TEXT_LIMIT) if handoff else "—",
    )


def _promise(session: Session, t: Translator, reminder: Reminder, name: str, today: date) -> Safe:
    promise = session.get(Promise, reminder.promise_id) if reminder.promise_id else None
    if promise is None or promise.due_date is None:
        return t("reminders.unknown", account=name)
    days = (promise.due_date - today).days
    key = "soon" if days > 0 else "today" if days == 0 else "overdue"
    if abs(days) == 1:
        key += ".one"
    return t(
        f"reminders.promise.{key}",
        account=name,
        id=promise.id,
        days=abs(days),
        text=clip(promise.text, TEXT_LIMIT),
        due=t.date(promise.due_date),
    )


def _silent(session: Session, t: Translator, account: Account, now: datetime) -> Safe:
    touch = session.exec(
        select(Touch).where(Touch.account_id == account.id).order_by(col(Touch.at).desc())
    ).first()
    days = days_silent(silent_since(account.created_at, account.last_contact_at), now)
    if touch is None:
        since = account.created_at.astimezone(t.zone).date()
        return t("reminders.silent.never", account=account.name, days=days, since=t.date(since))
    who = _user_ids(session, touch.person_id).get(touch.person_id or 0)
    touched = touch.at.astimezone(t.zone).date()
    return t(
        "reminders.silent",
        account=account.name,
        days=days,
        when=t.date(touched),
        who=mention(who) if who else t("reminders.someone"),
        channel=t(f"reminders.channel.{touch.channel}"),
    )


def _user_ids(session: Session, *person_ids: int | None) -> dict[int, str]:
    wanted = {p for p in person_ids if p is not None}
    rows = session.exec(select(Person.id, Person.user_id).where(col(Person.id).in_(wanted)))
    return {pid: uid for pid, uid in rows.all() if pid is not None}


# ---- the buttons ---------------------------------------------------------------------------


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
    **{action: snooze(choice) for action, choice in _SNOOZES.items()},
}
HANDLERS = Handlers(actions=ACTIONS)
