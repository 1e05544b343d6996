"""Reminders (PRODUCT §9): what has come due for whom, derived from the data, and sent once.

A sweep at `now`:
1. derives from the data every *family* of reminder occurrences: a promise's "3 days before",
   "on the day" and weekly "overdue" reminders; an account's renewal runway; its silence since
   the last touch; its onboarding check-ins; a pending handoff's reminder and escalations;
2. keeps, per family, the latest occurrence that has come due in its recipient's working time
   (so after downtime each family is reminded once, not once per missed occurrence) — and drops
   occurrences more than `LATE_LIMIT` late, so the first run on old data is not a flood;
3. leaves out what was already sent (each occurrence has a stable key, see `storage.reminders`),
   and adds back snoozed reminders whose time has come, if they are still due;
4. writes one DM per recipient whose working window is open to the outbox, in a transaction of
   its own; the delivery engine sends it, and recomposes it just before (`fresh_message`), so an
   item whose data changed in between (a kept promise, a new touch) is not sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, union
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from commands import reminders as dm
from commands.context import Directory, apply_profile
from commands.i18n import Translator, locale_from_slack, zone_of
from commands.ui import Message, message_to_json
from commands.worktime import WorkCalendar, WorkWeek
from jobs.reminder_rules import REPEAT_DAYS, ReminderRules
from storage import outbox
from storage import reminders as stored
from storage.accounts import Account, Stage
from storage.db import session_scope
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus
from storage.reminders import Reminder, ReminderItem, ReminderKind, ReminderStatus
from storage.touches import Touch

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
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
    working_days: int = 0
    suppressed: bool = False
    """Made unnecessary by the data (a check-in after a recent touch): not sent."""

    def comes_due(self, calendar: WorkCalendar) -> datetime:
        if self.since is not None:
            return calendar.add_working_days(self.since, self.working_days)
        assert self.due_on is not None
        return calendar.start_of(self.due_on)

    def row(self, now: datetime) -> Reminder:
        due_on = self.due_on
        if due_on is None and self.since is not None:
            due_on = self.since.date()
        return Reminder(
            key=self.key,
            kind=self.kind.value,
            detail=self.detail,
            person_id=self.person_id,
            account_id=self.account_id,
            promise_id=self.promise_id,
            handoff_id=self.handoff_id,
            due_on=due_on,
            status=ReminderStatus.SENT.value,
            sent_at=now,
        )


Family = list[Occurrence]
"""Occurrences that supersede each other, oldest first: only the latest due one is sent."""


@dataclass
class Snapshot:
    """The data reminders are derived from, as of `now`, in a few queries."""

    now: datetime
    accounts: dict[int, Account]
    promises: list[Promise]
    handoffs: list[Handoff]
    last_touch: dict[int, datetime]
    people: dict[int, Person]
    """Everyone who may be reminded (bots left out)."""
    default_zone: ZoneInfo

    @classmethod
    def load(
        cls,
        session: Session,
        rules: ReminderRules,
        now: datetime,
        default_zone: ZoneInfo,
        *,
        account_id: int | None = None,
    ) -> Snapshot:
        horizon = now.date() + timedelta(days=2 + rules.promise_lead_days)
        promise_q = select(Promise).where(
            Promise.status == PromiseStatus.OPEN.value,
            col(Promise.due_date).is_not(None),
            col(Promise.due_date) <= horizon,
        )
        longest = max((d for days in rules.checkin_days.values() for d in days), default=0)
        accepted_since = now - timedelta(days=longest + LATE_LIMIT.days + 2)
        handoff_q = select(Handoff).where(
            (col(Handoff.status) == HandoffStatus.PENDING.value)
            | (col(Handoff.accepted_at) >= accepted_since)
        )
        account_q = select(Account).where(Account.stage != Stage.CHURNED.value)
        touch_q = select(Touch.account_id, func.max(Touch.at)).group_by(col(Touch.account_id))
        if account_id is not None:
            promise_q = promise_q.where(Promise.account_id == account_id)
            handoff_q = handoff_q.where(Handoff.account_id == account_id)
            account_q = account_q.where(Account.id == account_id)
            touch_q = touch_q.where(Touch.account_id == account_id)
        return cls(
            now=now,
            accounts={a.id: a for a in session.exec(account_q).all() if a.id is not None},
            promises=list(session.exec(promise_q).all()),
            handoffs=list(session.exec(handoff_q).all()),
            last_touch={a: at for a, at in session.exec(touch_q).all() if at is not None},
            people={
                p.id: p
                for p in session.exec(select(Person).where(col(Person.is_bot).is_(False))).all()
                if p.id is not None
            },
            default_zone=default_zone,
        )

    def zone(self, person_id: int) -> ZoneInfo:
        person = self.people.get(person_id)
        return zone_of(person.tz if person else None, self.default_zone)

    def local_date(self, person_id: int, at: datetime) -> date:
        return at.astimezone(self.zone(person_id)).date()

    def today(self, person_id: int) -> date:
        return self.local_date(person_id, self.now)

    @property
    def managers(self) -> list[Person]:
        return [p for p in self.people.values() if p.role == Role.MANAGER]


# ---- the families each kind of data calls for ---------------------------------------------


def families(snap: Snapshot, rules: ReminderRules) -> Iterator[Family]:
    """Every family the data calls for, with its occurrences up to the recipient's today."""
    yield from handoff_families(snap, rules)
    yield from checkin_families(snap, rules)
    yield from promise_families(snap, rules)
    yield from renewal_families(snap, rules)
    yield from silent_families(snap, rules)


def handoff_families(snap: Snapshot, rules: ReminderRules) -> Iterator[Family]:
    to_owner, to_managers = rules.handoff_days
    for handoff in snap.handoffs:
        if handoff.status != HandoffStatus.PENDING.value:
            continue
        yield [
            Occurrence(
                key=f"handoff:{handoff.id}:cs",
                kind=ReminderKind.HANDOFF,
                detail="cs",
                person_id=handoff.cs_owner_id,
                account_id=handoff.account_id,
                handoff_id=handoff.id,
                since=handoff.created_at,
                working_days=to_owner,
            )
        ]
        for manager in snap.managers:
            if manager.id is None or manager.id == handoff.cs_owner_id:
                continue
            yield [
                Occurrence(
                    key=f"handoff:{handoff.id}:manager:{manager.id}",
                    kind=ReminderKind.ESCALATION,
                    detail="manager",
                    person_id=manager.id,
                    account_id=handoff.account_id,
                    handoff_id=handoff.id,
                    since=handoff.created_at,
                    working_days=to_managers,
                )
            ]


def checkin_families(snap: Snapshot, rules: ReminderRules) -> Iterator[Family]:
    for handoff in snap.handoffs:
        account = snap.accounts.get(handoff.account_id)
        if handoff.accepted_at is None or account is None or account.cs_owner_id is None:
            continue
        owner = account.cs_owner_id
        accepted = snap.local_date(owner, handoff.accepted_at)
        touched = snap.last_touch.get(handoff.account_id)
        touched_on = snap.local_date(owner, touched) if touched else None
        family = []
        for day in rules.checkin_days.get(account.touch_model, ()):
            due = accepted + timedelta(days=day)
            if due > snap.today(owner):
                break
            recent = touched_on is not None and touched_on >= due - timedelta(CHECKIN_TOUCH_LEAD)
            family.append(
                Occurrence(
                    key=f"checkin:{handoff.id}:{day}",
                    kind=ReminderKind.CHECKIN,
                    detail=str(day),
                    person_id=owner,
                    account_id=account.id,
                    handoff_id=handoff.id,
                    due_on=due,
                    suppressed=recent,
                )
            )
        yield family


def promise_families(snap: Snapshot, rules: ReminderRules) -> Iterator[Family]:
    for promise in snap.promises:
        account = snap.accounts.get(promise.account_id)
        owner = promise.owner_id or (account.cs_owner_id if account else None)
        if promise.due_date is None or owner is None or account is None:
            continue
        due, today = promise.due_date, snap.today(owner)
        moments = (
            [("before", due - timedelta(days=rules.promise_lead_days))]
            if rules.promise_lead_days
            else []
        )
        moments.append(("due", due))
        weeks = (today - due).days // REPEAT_DAYS
        moments += [
            (f"overdue-{n}", due + timedelta(days=REPEAT_DAYS * n))
            for n in range(max(1, weeks - 1), weeks + 1)
        ]
        yield [
            Occurrence(
                key=f"promise:{promise.id}:{due.isoformat()}:{detail}",
                kind=ReminderKind.PROMISE,
                detail=detail,
                person_id=owner,
                account_id=promise.account_id,
                promise_id=promise.id,
                due_on=when,
            )
            for detail, when in moments
            if when <= today
        ]


def renewal_families(snap: Snapshot, rules: ReminderRules) -> Iterator[Family]:
    for account in snap.accounts.values():
        renews, owner = account.renewal_date, account.cs_owner_id
        if renews is None or owner is None or renews < snap.today(owner):
            continue
        yield [
            Occurrence(
                key=f"renewal:{account.id}:{renews.isoformat()}:{days}",
                kind=ReminderKind.RENEWAL,
                detail=str(days),
                person_id=owner,
                account_id=account.id,
                due_on=renews - timedelta(days=days),
            )
            for days in sorted(rules.renewal_days, reverse=True)
            if renews - timedelta(days=days) <= snap.today(owner)
        ]


def silent_families(snap: Snapshot, rules: ReminderRules) -> Iterator[Family]:
    accepted: dict[int, datetime] = {}
    for handoff in snap.handoffs:
        if handoff.accepted_at is not None:
            earlier = accepted.get(handoff.account_id, handoff.accepted_at)
            accepted[handoff.account_id] = max(handoff.accepted_at, earlier)
    for account in snap.accounts.values():
        threshold = rules.silence_days.get(account.touch_model, 0)
        owner = account.cs_owner_id
        if not threshold or owner is None or account.id is None:
            continue
        since = silent_since(account, snap.last_touch.get(account.id), accepted.get(account.id))
        first = snap.local_date(owner, since) + timedelta(days=threshold)
        today = snap.today(owner)
        if first > today:
            continue
        weeks = (today - first).days // REPEAT_DAYS
        stamp = since.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        yield [
            Occurrence(
                key=f"silent:{account.id}:{stamp}:{n}",
                kind=ReminderKind.SILENT,
                detail=str(threshold + REPEAT_DAYS * n),
                person_id=owner,
                account_id=account.id,
                due_on=first + timedelta(days=REPEAT_DAYS * n),
            )
            for n in range(max(0, weeks - 1), weeks + 1)
        ]


def silent_since(account: Account, touched: datetime | None, accepted: datetime | None) -> datetime:
    """The last sign of contact: the last touch or the handoff's acceptance, whichever is later;
    with neither, when the account was created (an imported account starts its clock then)."""
    return max((t for t in (touched, accepted) if t is not None), default=account.created_at)


def current(family: Family, calendar: WorkCalendar, now: datetime) -> Occurrence | None:
    """The family's latest occurrence that has come due by `now`, unless the data made it
    unnecessary."""
    latest = None
    for occurrence in family:
        if occurrence.comes_due(calendar) <= now:
            latest = occurrence
    return None if latest is None or latest.suppressed else latest


def stale_recipients(fetched_before: datetime) -> SelectOfScalar[Person]:
    """People reminders may go to whose cached profile is older than `fetched_before`."""
    recipients = union(
        select(Account.cs_owner_id).where(Account.stage != Stage.CHURNED.value),
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

    def calendar(self, person: Person | None) -> WorkCalendar:
        return self.work.calendar(zone_of(person.tz if person else None, self.default_zone))

    def translator(self, person: Person) -> Translator:
        return Translator(
            locale_from_slack(person.locale, self.default_locale),
            zone_of(person.tz, self.default_zone),
        )

    def snapshot(self, session: Session, now: datetime, account_id: int | None = None) -> Snapshot:
        return Snapshot.load(session, self.rules, now, self.default_zone, account_id=account_id)

    def currents(self, snap: Snapshot) -> dict[str, Occurrence]:
        """Per family, the occurrence that is due now (by key)."""
        found: dict[str, Occurrence] = {}
        for family in families(snap, self.rules):
            if family and family[0].person_id in snap.people:
                calendar = self.calendar(snap.people[family[0].person_id])
                occurrence = current(family, calendar, snap.now)
                if occurrence is not None:
                    found[occurrence.key] = occurrence
        return found

    # ---- finding what is due ---------------------------------------------------------------

    def due(self, session: Session, now: datetime, *, write: bool) -> list[Batch]:
        """Per recipient whose working window is open: what to send them now."""
        snap = self.snapshot(session, now)
        found = self.currents(snap)
        sent = stored.by_keys(session=session, keys=found)
        batches: dict[int, Batch] = {}
        for key, occurrence in found.items():
            person = snap.people[occurrence.person_id]
            if key in sent or now - occurrence.comes_due(self.calendar(person)) > LATE_LIMIT:
                continue
            batches.setdefault(occurrence.person_id, Batch(person)).new.append(occurrence)
        for reminder in stored.snoozed_due(session=session, now=now):
            recipient = snap.people.get(reminder.person_id)
            if reminder.key not in found or recipient is None:
                if write:
                    self._drop(session, reminder, now)
                continue
            batches.setdefault(reminder.person_id, Batch(recipient)).returning.append(reminder)
        return [b for b in batches.values() if self.calendar(b.person).is_open(now)]

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
        for batch in batches:
            self._send(batch, now)
        return []

    def preview(self, now: datetime) -> list[str]:
        """What `sweep` would write, writing nothing."""
        with Session(self.engine) as session:
            return [
                f"{KIND} → {b.person.user_id}: {', '.join(b.keys[:MAX_ITEMS])}"
                for b in self.due(session, now, write=False)
            ]

    def _send(self, batch: Batch, now: datetime) -> None:
        """One DM, in a transaction of its own: when another process sent these reminders first,
        the unique keys refuse them here and nothing is written."""
        try:
            with session_scope(self.engine) as session:
                self._write(session, batch, now)
        except IntegrityError:
            log.info("reminders for %s were sent by another sweep", batch.person.user_id)

    def _write(self, session: Session, batch: Batch, now: datetime) -> None:
        rows = [o.row(now) for o in sorted(batch.new, key=_priority)[:MAX_ITEMS]]
        session.add_all(rows)
        for snoozed in batch.returning[: MAX_ITEMS - len(rows)]:
            assert snoozed.id is not None
            claimed = stored.claim_again(session=session, reminder_id=snoozed.id, now=now)
            if claimed is not None:
                rows.append(claimed)
        if not rows:
            return
        session.flush()
        key = f"{KIND}:{batch.person.user_id}:{now:%Y%m%dT%H%MZ}:{rows[0].id}"
        for position, reminder in enumerate(rows):
            assert reminder.id is not None
            session.add(ReminderItem(message_key=key, reminder_id=reminder.id, position=position))
        session.flush()
        message = dm.compose(session, self.translator(batch.person), key, now)
        outbox.enqueue(
            session=session,
            key=key,
            kind=KIND,
            recipient=batch.person.user_id,
            payload=message_to_json(message),
            at=now,
        )
        log.info("reminders for %s: %s", batch.person.user_id, ", ".join(r.key for r in rows))

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

    def still_due(self, session: Session, reminders: Iterable[Reminder], now: datetime) -> set[str]:
        """The keys, among these reminders', that the data still calls for as of `now`."""
        wanted: dict[int | None, set[str]] = defaultdict(set)
        for reminder in reminders:
            wanted[reminder.account_id].add(reminder.key)
        keys: set[str] = set()
        for account_id, group in wanted.items():
            if account_id is not None:
                keys |= group & set(self.currents(self.snapshot(session, now, account_id)))
        return keys


def _priority(occurrence: Occurrence) -> tuple[int, date]:
    return _ORDER.index(occurrence.kind), occurrence.due_on or date.min
