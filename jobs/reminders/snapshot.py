"""What reminders are derived from: each recipient's calendar, and the rows that can be due,
read as plain rows when a family of reminders is derived."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Row, false, func, or_
from sqlmodel import Session, col

from commands.reminders.rules import ReminderRules
from commands.worktime import WorkCalendar
from storage.accounts import (
    Account,
    is_live,
    renewal_overdue,
    silent_cutoff,
)
from storage.db import plain_rows
from storage.handoffs import Handoff, HandoffStatus
from storage.people import Person, Role
from storage.promises import Promise, is_open
from storage.touches import Touch

ONE_DAY = timedelta(days=1)


LATE_LIMIT = timedelta(days=14)
"""An occurrence this late when first seen is not sent (its family's next one will be)."""


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
