"""Reminders (PRODUCT §9): what has come due for whom, derived from the data, and sent once.

A sweep at `now`, for the people whose working window is open:
1. derives from the data every *family* of reminder occurrences: a promise's "3 days before",
   "on the day" and weekly "overdue" reminders; an account's renewal runway; its silence since
   the last contact; its onboarding check-ins; a pending handoff's reminder and escalations;
2. keeps, per family, the latest occurrence that has come due in its recipient's working time
   (so after downtime each family is reminded once, not once per missed occurrence) — and drops
   occurrences more than `LATE_LIMIT` late, so the first run on old data is not a flood;
3. keeps, per person, the `MAX_ITEMS` most pressing that were not sent yet (each occurrence has
   a stable key, see `storage.reminders`): the kinds are derived in the order a DM ranks them,
   each only for the people whose DM still has room, and keys are checked most pressing first;
   then adds back snoozed reminders whose time has come, if they are still due;
4. writes one DM per recipient to the outbox, all in one transaction (each DM in one of its own
   when another sweep wrote some first), as its reminders and a summary line; the delivery
   engine composes the DM from the data just before sending it (`fresh_message`), so an item
   whose data changed in between (a kept promise, a new touch) is not sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Engine, Row, false, func, or_, union
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from commands.context import Directory, apply_profile
from commands.i18n import Translator, locale_from_slack, zone_of
from commands.reminders import buttons as dm
from commands.reminders.rules import REPEAT_DAYS, ReminderRules
from commands.ui import Message, message_to_json
from commands.worktime import WorkCalendar, WorkWeek
from storage import outbox
from storage import reminders as stored
from storage.accounts import (
    Account,
    Stage,
    days_silent,
    is_live,
    renewal_overdue,
    silent_cutoff,
    silent_since,
)
from storage.db import as_date, plain_rows, session_scope
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus, is_open
from storage.reminders import Reminder, ReminderKind, ReminderStatus
from storage.touches import Touch

log = logging.getLogger(__name__)

ONE_DAY = timedelta(days=1)
LATE_LIMIT = timedelta(days=14)
"""An occurrence this late when first seen is not sent (its family's next one will be)."""
CHECKIN_TOUCH_LEAD = 3
"""A touch logged this many days before a check-in is due (or later) counts as the check-in."""
PROFILE_MAX_AGE = timedelta(days=1)
MAX_ITEMS = 20
"""Reminders in one DM (two blocks each, within Slack's 50); the rest follow in the next sweep."""
KIND = "reminder"
"""The outbox kind of reminder DMs."""
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


# The calendar arithmetic is pure (`WorkCalendar` is frozen) and a sweep asks the same few
# hundred questions for tens of thousands of reminders.
_start_of = lru_cache(maxsize=8192)(WorkCalendar.start_of)
_add_working_days = lru_cache(maxsize=8192)(WorkCalendar.add_working_days)


@dataclass(frozen=True)
class Recipient:
    """A person reminders may go to, and their clock as of the sweep."""

    person: Person
    calendar: WorkCalendar
    today: date
    due_by: date
    """The latest local day whose reminders have come due by now: the day itself once the
    window has opened since its midnight (a Saturday's reminders come due on Monday morning)."""

    @classmethod
    def at(cls, person: Person, calendar: WorkCalendar, now: datetime) -> Recipient:
        today = calendar.local_day(now)
        due_by = today
        while _start_of(calendar, due_by) > now:  # the start of a day never moves backwards
            due_by -= timedelta(days=1)
        return cls(person, calendar, today, due_by)

    def local_date(self, at: datetime) -> date:
        return self.calendar.local_day(at)


Moment = tuple[str, date]
"""(detail, local day) of one occurrence of a family; a family's moments go oldest first and
only the latest one that has come due is sent (so after downtime a family is reminded once)."""


def latest_due(moments: Iterable[Moment], due_by: date) -> Moment | None:
    found = None
    for detail, day in moments:
        if day <= due_by:
            found = detail, day
    return found


@dataclass
class Snapshot:
    """What reminders are derived from, as of `now`, for some recipients: each family reads its
    rows when it is derived, as plain rows, and only what can be due (promises due by the
    horizon, renewals inside the runway, accounts whose last contact is old enough to be
    silent)."""

    session: Session
    rules: ReminderRules
    now: datetime
    recipients: dict[int, Recipient]
    account_id: int | None = None
    """Only this account's (the send-time check); None: every account's."""
    oldest_due: datetime | None = None
    """Occurrences that came due before this are left out: too late to be worth sending."""
    first_days: dict[int, date] = field(default_factory=dict)
    """Per recipient, `first_day_in_time`, worked out once."""

    def in_time(self, comes_due: datetime) -> bool:
        return self.oldest_due is None or comes_due >= self.oldest_due

    def on_day_in_time(self, person_id: int, day: date) -> bool:
        """Whether a reminder due on this local day of the recipient's is not too late."""
        return self.oldest_due is None or day >= self.first_day_in_time(person_id)

    def first_day_in_time(self, person_id: int) -> date:
        """The recipient's first local day whose reminders come due at `oldest_due` or later
        (when a day's reminders come due never moves backwards as the day moves forwards)."""
        assert self.oldest_due is not None
        found = self.first_days.get(person_id)
        if found is None:
            calendar, oldest, day = self.recipients[person_id].calendar, self.oldest_due, ONE_DAY
            found = calendar.local_day(oldest)
            while _start_of(calendar, found - day) >= oldest:
                found -= day
            while _start_of(calendar, found) < oldest:
                found += day
            self.first_days[person_id] = found
        return found

    def only(self, ids: Iterable[int]) -> Snapshot:
        return replace(self, recipients={i: self.recipients[i] for i in ids})

    @property
    def managers(self) -> list[int]:
        """Managers among the recipients."""
        return [i for i, r in self.recipients.items() if r.person.role == Role.MANAGER]

    def _rows(self, query: Any, account: Any) -> Sequence[Row[Any]]:
        return self.session.execute(self._about(query, account)).all()

    def _about(self, query: Any, account: Any) -> Any:
        """The query, about the snapshot's account only if it has one."""
        return query if self.account_id is None else query.where(account == self.account_id)

    def pending_handoffs(self) -> Sequence[Row[Any]]:
        query = sa.select(
            col(Handoff.id),
            col(Handoff.account_id),
            col(Handoff.cs_owner_id),
            col(Handoff.created_at),
        ).where(col(Handoff.status) == HandoffStatus.PENDING.value)
        return self._rows(query, col(Handoff.account_id))

    def checked_in_handoffs(self) -> Sequence[Row[Any]]:
        """Handoffs accepted recently enough for a check-in to be due, on the live accounts of
        the recipients, with the account's last touch."""
        longest = max((d for days in self.rules.checkin_days.values() for d in days), default=0)
        last_touch = (
            sa.select(func.max(col(Touch.at)))
            .where(col(Touch.account_id) == col(Account.id))
            .scalar_subquery()
        )
        query = (
            sa.select(
                col(Handoff.id),
                col(Handoff.account_id),
                col(Handoff.accepted_at),
                col(Account.cs_owner_id),
                col(Account.touch_model),
                last_touch.label("last_touch"),
            )
            .join(Account, col(Account.id) == col(Handoff.account_id))
            .where(
                col(Handoff.accepted_at)
                >= self.now - timedelta(days=longest + LATE_LIMIT.days + 2),
                is_live(),
                col(Account.cs_owner_id).in_(list(self.recipients)),
            )
        )
        return self._rows(query, col(Handoff.account_id))

    def promises(self) -> list[tuple[Any, ...]]:
        """Open promises due by a few days ahead, on live accounts, with who keeps them: (id,
        account id, keeper's id, due date as `plain_rows` gives it)."""
        owner = func.coalesce(col(Promise.owner_id), col(Account.cs_owner_id))
        horizon = self.now.date() + timedelta(days=2 + self.rules.promise_lead_days)
        query = (
            sa.select(
                col(Promise.id),
                col(Promise.account_id),
                owner.label("owner_id"),
                col(Promise.due_date),
            )
            .join(Account, col(Account.id) == col(Promise.account_id))
            .where(
                is_open(),
                col(Promise.due_date) <= horizon,
                is_live(),
                owner.in_(list(self.recipients)),
            )
        )
        return plain_rows(self.session, self._about(query, col(Promise.account_id)))

    def renewals(self) -> Sequence[Row[Any]]:
        runway = max(self.rules.renewal_days, default=0)
        today = self.now.date()
        query = sa.select(
            col(Account.id), col(Account.cs_owner_id), col(Account.renewal_date), col(Account.stage)
        ).where(
            is_live(),
            col(Account.cs_owner_id).in_(list(self.recipients)),
            col(Account.renewal_date).between(
                today - timedelta(days=1), today + timedelta(days=runway + 1)
            )
            | renewal_overdue(today + timedelta(days=1)),
        )
        return self._rows(query, col(Account.id))

    def quiet(self) -> Sequence[Row[Any]]:
        """Live accounts with a silence threshold and no contact since it could have started."""
        query = sa.select(
            col(Account.id),
            col(Account.cs_owner_id),
            col(Account.touch_model),
            col(Account.created_at),
            col(Account.last_contact_at),
        ).where(
            is_live(),
            col(Account.cs_owner_id).in_(list(self.recipients)),
            _silent_long_enough(self.rules, self.now),
        )
        return self._rows(query, col(Account.id))


def _silent_long_enough(rules: ReminderRules, now: datetime) -> Any:
    """Accounts whose touch model has a silence threshold and with no contact inside it, give or
    take two days for time zones and DST: only they can be silent now."""
    contact = col(Account.last_contact_at)
    return or_(
        false(),
        *(
            (col(Account.touch_model) == model)
            & (contact.is_(None) | (contact < silent_cutoff(days - 2, now)))
            for model, days in rules.silence_days.items()
            if days
        ),
    )


# ---- what is due now, per kind of data -----------------------------------------------------


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
"""The families of reminders, in the order `_priority` ranks what they yield: a person whose
DM is full after one is not asked about the next."""


def stale_recipients(fetched_before: datetime) -> SelectOfScalar[Person]:
    """People reminders may go to whose cached profile is older than `fetched_before`."""
    recipients = union(
        select(Account.cs_owner_id).where(is_live()),
        select(Promise.owner_id).where(Promise.status == PromiseStatus.OPEN.value),
        select(Handoff.cs_owner_id).where(Handoff.status == HandoffStatus.PENDING.value),
        select(Person.id).where(Person.role == Role.MANAGER),
    ).subquery()
    fetched = col(Person.profile_fetched_at)
    return select(Person).where(
        col(Person.id).in_(select(recipients.c[0])),
        fetched.is_(None) | (fetched < fetched_before),
    )


# ---- the sweep -----------------------------------------------------------------------------


@dataclass
class Batch:
    """What one person gets in this sweep."""

    person: Person
    new: list[Occurrence] = field(default_factory=list)
    """The `MAX_ITEMS` most pressing new reminders; the others follow in later sweeps."""
    returning: list[Reminder] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [o.key for o in sorted(self.new, key=_priority)] + [r.key for r in self.returning]


@dataclass
class Reminders:
    """The reminder sweep of a scheduler tick (`sweep`), its preview, and the send-time check
    the delivery engine makes (`fresh_message`)."""

    engine: Engine
    directory: Directory | None = None
    """Where time zones and locales are refreshed from; None: as cached."""
    rules: ReminderRules = field(default_factory=ReminderRules)
    work: WorkWeek = field(default_factory=WorkWeek)
    default_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    default_locale: str = "en"

    def calendar(self, person: Person) -> WorkCalendar:
        return self.work.calendar(zone_of(person.tz, self.default_zone))

    def translator(self, person: Person) -> Translator:
        return Translator(
            locale_from_slack(person.locale, self.default_locale),
            zone_of(person.tz, self.default_zone),
        )

    def recipients(
        self, session: Session, now: datetime, *, open_only: bool
    ) -> dict[int, Recipient]:
        """Everyone reminders may go to (bots left out), or only those whose window is open."""
        found = {}
        for person in session.exec(select(Person).where(col(Person.is_bot).is_(False))).all():
            calendar = self.calendar(person)
            if person.id is not None and (not open_only or calendar.is_open(now)):
                found[person.id] = Recipient.at(person, calendar, now)
        return found

    def snapshot(
        self, session: Session, now: datetime, *, account_id: int | None = None
    ) -> Snapshot:
        """For the sweep: what everyone whose window is open should be sent (not what is more
        than `LATE_LIMIT` late); or everything about one account, as the send-time check
        needs it."""
        sweep = account_id is None
        return Snapshot(
            session=session,
            rules=self.rules,
            now=now,
            recipients=self.recipients(session, now, open_only=sweep),
            account_id=account_id,
            oldest_due=now - LATE_LIMIT if sweep else None,
        )

    # ---- finding what is due ---------------------------------------------------------------

    def due(self, session: Session, now: datetime, *, write: bool) -> list[Batch]:
        """Per recipient whose working window is open: what to send them now (the `MAX_ITEMS`
        most pressing new ones). A snoozed reminder of someone whose window is closed waits for
        it to open."""
        snap = self.snapshot(session, now)
        snoozed = [
            r
            for r in stored.snoozed_due(session=session, now=now)
            if r.person_id in snap.recipients
        ]
        waiting = {r.key for r in snoozed}
        held = stored.snoozed_subjects(session=session, after=now)
        still: set[str] = set()
        batches = {i: Batch(r.person) for i, r in snap.recipients.items()}
        for kind in KINDS:
            room = {i: MAX_ITEMS - len(b.new) for i, b in batches.items() if len(b.new) < MAX_ITEMS}
            if not room:
                break
            candidates: dict[int, list[Occurrence]] = defaultdict(list)
            for occurrence in kind(snap.only(room)):
                if occurrence.key in waiting:
                    still.add(occurrence.key)  # sent already, and snoozed
                elif (occurrence.person_id, *occurrence.subject) not in held:
                    # A subject snoozed until later stays quiet until then, whatever comes due.
                    candidates[occurrence.person_id].append(occurrence)
            for person_id, unsent in self._unsent(session, candidates, room).items():
                batches[person_id].new += unsent
        # However late it is by now, a snoozed reminder comes back while the data still calls
        # for it (the sweep's own snapshot leaves out what is too late to send first, and what
        # a full DM would not have room for).
        still |= self.still_due(session, [r for r in snoozed if r.key not in still], now)
        for reminder in snoozed:
            if reminder.key in still:
                batches[reminder.person_id].returning.append(reminder)
            elif write:
                self._drop(session, reminder, now)
        return [b for b in batches.values() if b.new or b.returning]

    @staticmethod
    def _unsent(
        session: Session, candidates: dict[int, list[Occurrence]], room: dict[int, int]
    ) -> dict[int, list[Occurrence]]:
        """Per person, the most pressing of their candidates that were not sent yet, as many as
        they have room for. Keys are checked most pressing first, in rounds that double, so a
        sweep checks about as many keys as it sends, not every key that is due."""
        for found in candidates.values():
            found.sort(key=_priority)
        checked = dict.fromkeys(candidates, 0)
        unsent: dict[int, list[Occurrence]] = defaultdict(list)
        while wanted := {
            person_id: found[checked[person_id] : checked[person_id] * 2 + room[person_id]]
            for person_id, found in candidates.items()
            if len(unsent[person_id]) < room[person_id] and checked[person_id] < len(found)
        }:
            sent = stored.sent_keys(
                session=session, keys=[o.key for g in wanted.values() for o in g]
            )
            for person_id, group in wanted.items():
                checked[person_id] += len(group)
                fresh = [o for o in group if o.key not in sent]
                unsent[person_id] += fresh[: room[person_id] - len(unsent[person_id])]
        return unsent

    def _drop(self, session: Session, reminder: Reminder, now: datetime) -> None:
        reminder.status = ReminderStatus.DROPPED.value
        reminder.snoozed_until = None
        reminder.handled_at = now
        session.add(reminder)

    def refresh_profiles(self, now: datetime) -> None:
        """Time zones and locales come from the chat platform, refreshed when a day old, for
        everyone reminders may go to (CS owners, promise keepers, managers): a cheap query when
        every profile is fresh, as on most ticks."""
        if self.directory is None:
            return
        with session_scope(self.engine) as session:
            for person in session.exec(stale_recipients(now - PROFILE_MAX_AGE)).all():
                profile = self.directory.lookup(person.user_id)
                if profile is not None:
                    apply_profile(person, profile)
                person.profile_fetched_at = now
                session.add(person)

    # ---- the sweep and its preview ---------------------------------------------------------

    def sweep(self, now: datetime) -> list[str]:
        """Writes this sweep's reminder DMs to the outbox. Returns no lines: a DM counts as sent
        when the delivery sweep, which runs next in the tick, sends it."""
        self.refresh_profiles(now)
        with session_scope(self.engine) as session:
            batches = self.due(session, now, write=True)
        try:
            with session_scope(self.engine) as session:  # one commit (a disk flush) for all
                self._write(session, batches, now)
        except IntegrityError:  # another sweep wrote some first: each DM on its own then
            for batch in batches:
                self._send(batch, now)
        return []

    def preview(self, now: datetime) -> list[str]:
        """What `sweep` would write, writing nothing."""
        with Session(self.engine) as session:
            batches: list[Batch] = list(self.due(session, now, write=False))
            wanted = {i.account_id for b in batches for i in _previewed_items(b) if i.account_id}
            query = select(Account.id, Account.name).where(col(Account.id).in_(wanted))
            names: dict[int | None, str] = {row[0]: row[1] for row in session.execute(query)}
            return [
                f"{KIND} → {_who(b.person)}: "
                + "; ".join(_previewed(i, names) for i in _previewed_items(b))
                for b in batches
            ]

    def _send(self, batch: Batch, now: datetime) -> None:
        """One DM, in a transaction of its own: when another process sent these reminders first,
        the unique keys refuse them here and nothing is written."""
        try:
            with session_scope(self.engine) as session:
                self._write(session, [batch], now)
        except IntegrityError:
            log.info("reminders for %s were sent by another sweep", batch.person.user_id)

    def _write(self, session: Session, batches: list[Batch], now: datetime) -> None:
        """The DMs of these batches, with bulk inserts. A DM's payload is only its summary
        line: the delivery engine composes the DM from the data just before sending it
        (`fresh_message`)."""
        chosen = [(batch, sorted(batch.new, key=_priority)[:MAX_ITEMS]) for batch in batches]
        new_ids = iter(
            stored.insert(session=session, rows=[o.row(now) for _, n in chosen for o in n])
        )
        items: dict[str, list[int]] = {}
        messages: dict[str, tuple[str, dict[str, Any]]] = {}
        for batch, new in chosen:
            ids = [next(new_ids) for _ in new]
            keys = [o.key for o in new]
            for snoozed in batch.returning[: MAX_ITEMS - len(new)]:
                assert snoozed.id is not None
                if stored.claim_again(session=session, reminder_id=snoozed.id, now=now):
                    ids.append(snoozed.id)
                    keys.append(snoozed.key)
            if not ids:
                continue
            key = f"{KIND}:{batch.person.user_id}:{now:%Y%m%dT%H%MZ}:{ids[0]}"
            items[key] = ids
            summary = self.translator(batch.person)("reminders.text", count=len(ids))
            messages[key] = batch.person.user_id, message_to_json(Message.plain(summary))
            log.info("reminders for %s: %s", batch.person.user_id, ", ".join(keys))
        stored.add_items(session=session, items=items)
        outbox.enqueue_new(session=session, kind=KIND, messages=messages, at=now)
        self._supersede(session, [o for _, n in chosen for o in n], now)

    def _supersede(self, session: Session, sent: list[Occurrence], now: datetime) -> None:
        """One subject, one reminder: a new occurrence takes the place of the earlier ones its
        person still has open about the same subject (they leave the Home tab and their DM)."""
        newest = {(o.person_id, *o.subject): o.key for o in sent}
        accounts = {o.account_id for o in sent if o.account_id is not None}
        for reminder in stored.open_on_accounts(session=session, account_ids=accounts):
            key = newest.get((reminder.person_id, *stored.subject(reminder)))
            if key is not None and key != reminder.key and reminder.status == ReminderStatus.SENT:
                self._drop(session, reminder, now)

    # ---- at send time ----------------------------------------------------------------------

    def fresh_message(self, key: str, written: Message, now: datetime) -> Message | None:
        """The DM as it should be sent now: items whose data changed since it was written (a
        kept promise, a new touch, a new renewal date, an accepted handoff) are dropped; None
        when nothing is left to send. A message no sweep wrote is sent as written."""
        with session_scope(self.engine) as session:
            items = [r for _, r in stored.items_of(session=session, message_key=key)]
            if not items:
                return written
            live = [r for r in items if r.status == ReminderStatus.SENT]
            still = self.still_due(session, live, now)
            for reminder in live:
                if reminder.key not in still:
                    self._drop(session, reminder, now)
            if not any(r.status == ReminderStatus.SENT for r in items):
                return None
            person = session.get(Person, items[0].person_id)
            assert person is not None
            return dm.compose(session, self.translator(person), key, now)

    def resolve_followed(
        self, session: Session, *, account_ids: Iterable[int], by: int | None, now: datetime
    ) -> list[Reminder]:
        """Resolves the open reminders about these accounts whose subject the data no longer
        calls for (the promise kept, a touch logged, the handoff accepted, however it was
        done), and updates their DMs in place; the resolved ones."""
        open_ = stored.open_on_accounts(session=session, account_ids=account_ids)
        if not open_:
            return []
        current: set[tuple[object, ...]] = set()
        for account_id in {r.account_id for r in open_ if r.account_id is not None}:
            snap = self.snapshot(session, now, account_id=account_id)
            current |= {(o.person_id, *o.subject) for o in currents(snap)}
        resolved = [r for r in open_ if (r.person_id, *stored.subject(r)) not in current]
        for reminder in resolved:
            reminder.status = ReminderStatus.RESOLVED.value
            reminder.snoozed_until = None
            reminder.handled_at = now
            reminder.handled_by_id = by
            session.add(reminder)
        dm.redraw(session, self.translator, resolved, now)
        return resolved

    def still_due(self, session: Session, reminders: Iterable[Reminder], now: datetime) -> set[str]:
        """The keys, among these reminders', that the data still calls for as of `now`."""
        wanted: dict[int | None, set[str]] = defaultdict(set)
        for reminder in reminders:
            wanted[reminder.account_id].add(reminder.key)
        keys: set[str] = set()
        for account_id, group in wanted.items():
            if account_id is not None:
                snap = self.snapshot(session, now, account_id=account_id)
                keys |= group & {o.key for o in currents(snap)}
        return keys


def _priority(occurrence: Occurrence) -> tuple[int, date, str]:
    """The most pressing kind first, then the oldest; the key only makes the order repeatable."""
    return _ORDER.index(occurrence.kind), occurrence.due_on or date.min, occurrence.key


def _previewed_items(batch: Batch) -> list[Occurrence | Reminder]:
    items: list[Occurrence | Reminder] = [*sorted(batch.new, key=_priority)]
    return [*items, *batch.returning][:MAX_ITEMS]


def _who(person: Person) -> str:
    return f"@{person.name} ({person.user_id})" if person.name else person.user_id


def _previewed(item: Occurrence | Reminder, names: dict[int | None, str]) -> str:
    """A reminder as an operator reads it: which kind and occurrence, about which account."""
    parts = [f"{item.kind} {item.detail}".strip(), names.get(item.account_id, "")]
    if item.promise_id is not None:
        parts.append(f"P-{item.promise_id}")
    return " · ".join(part for part in parts if part)
