"""What is due now, per kind of data: each family's latest occurrence that has come due in its
recipient's working time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Row

from commands.reminders.rules import REPEAT_DAYS
from commands.worktime import WorkCalendar
from jobs.reminders.snapshot import ONE_DAY, Snapshot, _add_working_days
from storage import reminders as stored
from storage.accounts import (
    Stage,
    days_silent,
    silent_since,
)
from storage.db import as_date
from storage.reminders import ReminderKind, ReminderStatus

CHECKIN_TOUCH_LEAD = 3
"""A touch logged this many days before a check-in is due (or later) counts as the check-in."""


_ORDER = [
    ReminderKind.ESCALATION,
    ReminderKind.HANDOFF,
    ReminderKind.PROMISE,
    ReminderKind.RENEWAL,
    ReminderKind.CHECKIN,
    ReminderKind.SILENT,
]


@dataclass(slots=True)
class Occurrence:
    """One reminder the data calls for, due either on a calendar day in the recipient's zone
    (`due_on`) or a number of their working days after an instant (`since`)."""

    key: str
    kind: ReminderKind
    detail: str
    person_id: int
    account_id: int | None
    promise_id: int | None = None
    handoff_id: int | None = None
    due_on: date | None = None
    since: datetime | None = None

    @property
    def subject(self) -> stored.Subject:
        return self.kind.value, self.account_id, self.promise_id, self.handoff_id

    def row(self, now: datetime) -> dict[str, object]:
        """The `Reminder` row that records it as sent."""
        due_on = self.due_on
        if due_on is None and self.since is not None:
            due_on = self.since.date()
        return {
            "key": self.key,
            "kind": self.kind.value,
            "detail": self.detail,
            "person_id": self.person_id,
            "account_id": self.account_id,
            "promise_id": self.promise_id,
            "handoff_id": self.handoff_id,
            "due_on": due_on,
            "status": ReminderStatus.SENT.value,
            "sent_at": now,
        }


Moment = tuple[str, date]
"""(detail, local day) of one occurrence of a family; a family's moments go oldest first and
only the latest one that has come due is sent (so after downtime a family is reminded once)."""


def latest_due(moments: Iterable[Moment], due_by: date) -> Moment | None:
    found = None
    for detail, day in moments:
        if day <= due_by:
            found = detail, day
    return found


def currents(snap: Snapshot) -> Iterator[Occurrence]:
    """Per family the data calls for, the occurrence that has come due by now, if any."""
    for kind in KINDS:
        yield from kind(snap)


def handoff_currents(snap: Snapshot) -> Iterator[Occurrence]:
    """A pending handoff's reminder to its CS owner, and its escalation to every other
    manager. Managers who share a calendar share when an escalation comes due."""
    to_owner, to_managers = snap.rules.handoff_days
    calendars: dict[WorkCalendar, list[int]] = defaultdict(list)
    for manager in snap.managers:
        calendars[snap.recipients[manager].calendar].append(manager)
    for handoff in snap.pending_handoffs():
        owner = handoff.cs_owner_id
        recipient = snap.recipients.get(owner)
        if recipient and _came_due(snap, recipient.calendar, handoff.created_at, to_owner):
            yield _handoff_occurrence(handoff, owner, escalation=False)
        for calendar, managers in calendars.items():
            if _came_due(snap, calendar, handoff.created_at, to_managers):
                for manager in managers:
                    if manager != owner:
                        yield _handoff_occurrence(handoff, manager, escalation=True)


def _came_due(snap: Snapshot, calendar: WorkCalendar, since: datetime, days: int) -> bool:
    """Whether `days` working days after `since` have passed, and not too long ago."""
    comes_due = _add_working_days(calendar, since, days)
    return comes_due <= snap.now and snap.in_time(comes_due)


def _handoff_occurrence(handoff: Row[Any], person_id: int, *, escalation: bool) -> Occurrence:
    return Occurrence(
        key=f"handoff:{handoff.id}:{f'manager:{person_id}' if escalation else 'cs'}",
        kind=ReminderKind.ESCALATION if escalation else ReminderKind.HANDOFF,
        detail="manager" if escalation else "cs",
        person_id=person_id,
        account_id=handoff.account_id,
        handoff_id=handoff.id,
        since=handoff.created_at,
    )


def checkin_currents(snap: Snapshot) -> Iterator[Occurrence]:
    for handoff in snap.checked_in_handoffs():
        recipient = snap.recipients[handoff.cs_owner_id]
        accepted = recipient.local_date(handoff.accepted_at)
        days = []
        for day in snap.rules.checkin_days.get(handoff.touch_model, ()):
            if accepted + timedelta(days=day) > recipient.today:
                break
            days.append((str(day), accepted + timedelta(days=day)))
        moment = latest_due(days, recipient.due_by)
        if moment is None or not snap.on_day_in_time(handoff.cs_owner_id, moment[1]):
            continue
        detail, due = moment
        touched = handoff.last_touch
        if touched is not None and recipient.local_date(touched) >= due - timedelta(
            CHECKIN_TOUCH_LEAD
        ):
            continue  # a recent touch made the check-in unnecessary
        yield Occurrence(
            key=f"checkin:{handoff.id}:{detail}",
            kind=ReminderKind.CHECKIN,
            detail=detail,
            person_id=recipient.person.id or 0,
            account_id=handoff.account_id,
            handoff_id=handoff.id,
            due_on=due,
        )


_Moment = tuple[str, date, str]
"""A promise's moment: its detail, its local day and its key's suffix."""


def promise_currents(snap: Snapshot) -> Iterator[Occurrence]:
    """A sweep reads tens of thousands of promises and the recipients share a few clocks (a
    zone's today and the first day still in time), so each clock works out the moment of each
    due date once."""
    lead = snap.rules.promise_lead_days
    per_clock: dict[tuple[date, date, date | None], dict[date | str, _Moment | None]] = {}
    moments = {}
    for owner, recipient in snap.recipients.items():
        first = None if snap.oldest_due is None else snap.first_day_in_time(owner)
        moments[owner] = per_clock.setdefault((recipient.today, recipient.due_by, first), {})
    for promise_id, account_id, owner_id, due in snap.promises():
        known = moments[owner_id]
        if due in known:
            moment = known[due]
        else:
            recipient = snap.recipients[owner_id]
            moment = _promise_moment(as_date(due), recipient.today, recipient.due_by, lead)
            if moment is not None and not snap.on_day_in_time(owner_id, moment[1]):
                moment = None
            known[due] = moment
        if moment is not None:
            yield Occurrence(
                key=f"promise:{promise_id}:{moment[2]}",
                kind=ReminderKind.PROMISE,
                detail=moment[0],
                person_id=owner_id,
                account_id=account_id,
                promise_id=promise_id,
                due_on=moment[1],
            )


def _promise_moment(due: date, today: date, due_by: date, lead_days: int) -> _Moment | None:
    """The latest of a promise's "before", "due" and weekly "overdue" moments that has come
    due, with its key's suffix."""
    moments = [("before", due - timedelta(days=lead_days))] if lead_days else []
    moments.append(("due", due))
    weeks = (today - due).days // REPEAT_DAYS
    moments += [
        (f"overdue-{n}", due + timedelta(days=REPEAT_DAYS * n))
        for n in range(max(1, weeks - 1), weeks + 1)
    ]
    moment = latest_due(moments, due_by)
    return None if moment is None else (*moment, f"{due.isoformat()}:{moment[0]}")


def renewal_currents(snap: Snapshot) -> Iterator[Occurrence]:
    for account in snap.renewals():
        renews, recipient = account.renewal_date, snap.recipients[account.cs_owner_id]
        if renews < recipient.today and account.stage == Stage.RENEWED.value:
            continue
        moments = (
            _overdue_renewal_moments(renews, recipient.today)
            if renews < recipient.today
            else [
                (str(days), renews - timedelta(days=days))
                for days in sorted(snap.rules.renewal_days, reverse=True)
            ]
        )
        moment = latest_due(moments, recipient.due_by)
        if moment is not None and snap.on_day_in_time(account.cs_owner_id, moment[1]):
            yield Occurrence(
                key=f"renewal:{account.id}:{renews.isoformat()}:{moment[0]}",
                kind=ReminderKind.RENEWAL,
                detail=moment[0],
                person_id=account.cs_owner_id,
                account_id=account.id,
                due_on=moment[1],
            )


def _overdue_renewal_moments(renews: date, today: date) -> list[Moment]:
    """A renewal date passed without a renewal: reminded the day after, then weekly, until the
    stage or the date changes (the query leaves renewed accounts out)."""
    weeks = (today - renews - ONE_DAY).days // REPEAT_DAYS
    return [
        (f"overdue-{n}", renews + ONE_DAY + timedelta(days=REPEAT_DAYS * n))
        for n in range(max(0, weeks - 1), weeks + 1)
    ]


def silent_currents(snap: Snapshot) -> Iterator[Occurrence]:
    for account in snap.quiet():
        threshold = snap.rules.silence_days.get(account.touch_model, 0)
        recipient = snap.recipients[account.cs_owner_id]
        if not threshold:
            continue
        since = silent_since(account.created_at, account.last_contact_at)
        silent = days_silent(since, snap.now)
        if silent < threshold:
            continue
        # The n-th weekly repeat comes due once the silence reaches threshold + 7n days, on
        # the recipient's local day of that instant.
        weeks = (silent - threshold) // REPEAT_DAYS
        moments = [
            (str(n), recipient.local_date(since + timedelta(days=threshold + REPEAT_DAYS * n)))
            for n in range(max(0, weeks - 1), weeks + 1)
        ]
        moment = latest_due(moments, recipient.due_by)
        if moment is not None and snap.on_day_in_time(account.cs_owner_id, moment[1]):
            stamp = since.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
            yield Occurrence(
                key=f"silent:{account.id}:{stamp}:{moment[0]}",
                kind=ReminderKind.SILENT,
                detail=str(threshold + REPEAT_DAYS * int(moment[0])),
                person_id=account.cs_owner_id,
                account_id=account.id,
                due_on=moment[1],
            )


KINDS: list[Callable[[Snapshot], Iterator[Occurrence]]] = [
    handoff_currents,
    promise_currents,
    renewal_currents,
    checkin_currents,
    silent_currents,
]
"""The families of reminders, in the order `sweep.priority` ranks what they yield: a person whose
DM is full after one is not asked about the next."""
