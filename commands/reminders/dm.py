"""A reminder DM: what each reminder says, read from the data at the moment it is composed, and
its buttons; `redraw` composes it again after a press."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from commands.i18n import Translator
from commands.text import Safe, clip, mention
from commands.ui import (
    Actions,
    Block,
    Button,
    Header,
    Message,
    Note,
    Section,
    Style,
    message_to_json,
)
from commands.worktime import Snooze
from storage import outbox
from storage import reminders as stored
from storage.accounts import Account, days_silent, silent_since
from storage.handoffs import Handoff
from storage.people import Person, user_ids
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


SNOOZES = {
    Action.SNOOZE_TODAY: Snooze.LATER_TODAY,
    Action.SNOOZE_TOMORROW: Snooze.TOMORROW,
    Action.SNOOZE_WEEK: Snooze.NEXT_WEEK,
}


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
            Button(t("reminders.button.log_touch"), Action.LOG_TOUCH, value, opens_form=True),
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
        person = session.exec(
            select(Person).where(
                Person.platform == original.platform, Person.user_id == original.recipient
            )
        ).first()
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
            platform=original.platform,
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
    people = user_ids(session=session, person_ids=(handoff.sales_rep_id, handoff.cs_owner_id))
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
    who = user_ids(session=session, person_ids=(touch.person_id,)).get(touch.person_id or 0)
    touched = touch.at.astimezone(t.zone).date()
    return t(
        "reminders.silent",
        account=account.name,
        days=days,
        when=t.date(touched),
        who=mention(who) if who else t("reminders.someone"),
        channel=t(f"reminders.channel.{touch.channel}"),
    )
