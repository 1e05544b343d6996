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
4. writes one DM per recipient to the outbox, `WRITE_BATCH` DMs a transaction (each DM in one
   of its own when another sweep wrote some first), as its reminders and a summary line; the
   delivery engine composes the DM from the data just before sending it (`fresh_message`), so an
   item whose data changed in between (a kept promise, a new touch) is not sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, union
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from commands.context import PROFILE_MAX_AGE, Directory, refresh_profile
from commands.i18n import Translator, translator_for, zone_of
from commands.reminders import dm
from commands.reminders.rules import ReminderRules
from commands.ui import Message, Room, message_to_json
from commands.worktime import WorkCalendar, WorkWeek
from jobs.reminders.due import _ORDER, KINDS, Occurrence, currents
from jobs.reminders.preview import previewed, who
from jobs.reminders.snapshot import LATE_LIMIT, Recipient, Snapshot
from storage import outbox
from storage import reminders as stored
from storage.accounts import Account, is_live
from storage.db import session_scope
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person, Role
from storage.promises import Promise, PromiseStatus
from storage.reminders import Reminder, ReminderStatus

log = logging.getLogger(__name__)


MAX_ITEMS = 20
"""Most reminders in one DM (fewer when the platform's message holds fewer blocks: two each);
the rest follow in the next sweep."""


WRITE_BATCH = 5
"""DMs written per transaction. While one is open every other writer waits (on SQLite the whole
database, from both of `kakehashi run`'s processes: a request being written down before its
acknowledgement, a card, delivery): all 267 DMs of a full sweep in one held the lock 0.3–0.7 s,
10 at a time 30–200 ms (bench/RESULTS.md, benchmark 1). One at a time made the sweep a second
longer for little: each transaction has its cost."""


KIND = "reminder"
"""The outbox kind of reminder DMs."""


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


@dataclass
class Batch:
    """What one person gets in this sweep."""

    person: Person
    new: list[Occurrence] = field(default_factory=list)
    """The `MAX_ITEMS` most pressing new reminders; the others follow in later sweeps."""
    returning: list[Reminder] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [o.key for o in sorted(self.new, key=priority)] + [r.key for r in self.returning]


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
    room: Room = field(default_factory=Room)
    """How much one message holds on the platform (set by the wiring): how many reminders fit."""

    @property
    def max_items(self) -> int:
        """Reminders in one DM: a header and a note, then two blocks each."""
        return max(1, min(MAX_ITEMS, (self.room.blocks - 2) // 2))

    def calendar(self, person: Person) -> WorkCalendar:
        return self.work.calendar(zone_of(person.tz, self.default_zone))

    def translator(self, person: Person) -> Translator:
        return translator_for(person, self.default_locale, self.default_zone)

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
            most = self.max_items
            room = {i: most - len(b.new) for i, b in batches.items() if len(b.new) < most}
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
            found.sort(key=priority)
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
                if person.platform != self.directory.platform:
                    continue  # another platform's people: their profiles come from there
                refresh_profile(person, self.directory, now)
                session.add(person)

    # ---- the sweep and its preview ---------------------------------------------------------

    def sweep(self, now: datetime) -> list[str]:
        """Writes this sweep's reminder DMs to the outbox. Returns no lines: a DM counts as sent
        when the delivery sweep, which runs next in the tick, sends it."""
        self.refresh_profiles(now)
        with session_scope(self.engine) as session:
            batches = self.due(session, now, write=True)
        for start in range(0, len(batches), WRITE_BATCH):
            part = batches[start : start + WRITE_BATCH]
            try:
                with session_scope(self.engine) as session:
                    self._write(session, part, now)
            except IntegrityError:  # another sweep wrote some first: each DM on its own then
                for batch in part:
                    self._send(batch, now)
        return []

    def preview(self, now: datetime) -> list[str]:
        """What `sweep` would write, writing nothing."""
        with Session(self.engine) as session:
            batches: list[Batch] = list(self.due(session, now, write=False))
            wanted = {
                i.account_id
                for b in batches
                for i in previewed_items(b, self.max_items)
                if i.account_id
            }
            query = select(Account.id, Account.name).where(col(Account.id).in_(wanted))
            names: dict[int | None, str] = {row[0]: row[1] for row in session.execute(query)}
            return [
                f"{KIND} → {who(b.person)}: "
                + "; ".join(previewed(i, names) for i in previewed_items(b, self.max_items))
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
        chosen = [(batch, sorted(batch.new, key=priority)[: self.max_items]) for batch in batches]
        # Read before the first write: on SQLite the write turn is held from there to the commit.
        superseded = self._superseded(session, [o for _, n in chosen for o in n])
        new_ids = iter(
            stored.insert(session=session, rows=[o.row(now) for _, n in chosen for o in n])
        )
        items: dict[str, list[int]] = {}
        messages: dict[str, tuple[str, dict[str, Any]]] = {}
        platforms: dict[str, str] = {}
        for batch, new in chosen:
            ids = [next(new_ids) for _ in new]
            keys = [o.key for o in new]
            for snoozed in batch.returning[: self.max_items - len(new)]:
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
            platforms[key] = batch.person.platform
            log.info("reminders for %s: %s", batch.person.user_id, ", ".join(keys))
        stored.add_items(session=session, items=items)
        outbox.enqueue_new(
            session=session, kind=KIND, messages=messages, at=now, platforms=platforms
        )
        for reminder in superseded:
            self._drop(session, reminder, now)

    @staticmethod
    def _superseded(session: Session, sent: list[Occurrence]) -> list[Reminder]:
        """One subject, one reminder: a new occurrence takes the place of the earlier ones its
        person still has open about the same subject (they leave the Home tab and their DM)."""
        newest = {(o.person_id, *o.subject): o.key for o in sent}
        accounts = {o.account_id for o in sent if o.account_id is not None}
        found = []
        for reminder in stored.open_on_accounts(session=session, account_ids=accounts):
            key = newest.get((reminder.person_id, *stored.subject(reminder)))
            if key is not None and key != reminder.key and reminder.status == ReminderStatus.SENT:
                found.append(reminder)
        return found

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


def priority(occurrence: Occurrence) -> tuple[int, date, str]:
    """The most pressing kind first, then the oldest; the key only makes the order repeatable."""
    return _ORDER.index(occurrence.kind), occurrence.due_on or date.min, occurrence.key


def previewed_items(batch: Batch, most: int) -> list[Occurrence | Reminder]:
    items: list[Occurrence | Reminder] = [*sorted(batch.new, key=priority)]
    return [*items, *batch.returning][:most]
