"""Weekly sync agendas (PRODUCT §9, §10): each subscribed channel gets one agenda a week, at its
own local day and time.

A sweep at `now` looks, for every subscription, at its latest slot at or before `now`. A slot
not yet written (after `last_slot`) and not older than the schedule itself (`starts_at`) gets
its agenda, for the week ending at the slot, written to the outbox under the key
`agenda:<channel>:<local date of the slot>` with `not_before` = the slot, in a transaction that
also moves `last_slot`; the delivery engine then posts it once. A second sweep finds nothing to
do; another process racing for the same slot is refused by the outbox's unique key.

After downtime only the latest slot is written (earlier missed ones are logged); when it is
more than a day late the delivery engine skips it and logs why (`jobs.delivery.LATE_AFTER`),
instead of posting last week's agenda days later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from commands.agenda.shared import SharedReadings
from commands.agenda.subscribe import channel_agenda
from commands.ui import message_to_json
from storage import outbox
from storage.agenda import subscriptions as stored
from storage.agenda.subscriptions import WEEK, SyncSubscription
from storage.db import session_scope

log = logging.getLogger(__name__)

KIND = "agenda"
"""The outbox kind of agenda posts."""
MISSED_LOGGED = 8
"""Missed weeks named in the log after a long downtime."""


def agenda_key(subscription: SyncSubscription, slot: datetime) -> str:
    """One agenda per channel per local day: the outbox key that makes it sent once."""
    day = subscription.slot.local_date(slot)
    return f"{KIND}:{subscription.channel_id}:{day.isoformat()}"


def due_slot(subscription: SyncSubscription, now: datetime) -> datetime | None:
    """The slot whose agenda should be written now, if any."""
    slot = subscription.slot.latest(now)
    if slot < subscription.starts_at:
        return None
    if subscription.last_slot is not None and slot <= subscription.last_slot:
        return None
    return slot


@dataclass
class Agendas:
    """The agenda sweep of a scheduler tick (`sweep`) and its preview (`preview`)."""

    engine: Engine
    default_locale: str
    """`KAKEHASHI_LOCALE`: the language of channels that did not choose one."""
    silence_days: Mapping[str, int]
    """When an account counts as silent: the reminders' thresholds (`KAKEHASHI_REMIND_SILENCE`)."""

    def due(self, session: Session, now: datetime) -> list[tuple[SyncSubscription, datetime]]:
        found = []
        for subscription in stored.subscriptions(session=session):
            slot = due_slot(subscription, now)
            if slot is not None:
                found.append((subscription, slot))
        return found

    def sweep(self, now: datetime) -> list[str]:
        """Writes every agenda that has come due to the outbox. Returns no lines: an agenda
        counts as sent when the delivery sweep, which runs next, posts it."""
        with session_scope(self.engine) as session:
            found = self.due(session, now)
            due = [(s.id, slot) for s, slot in found]
            # Channels due together read the same numbers once, and their teams' per owner.
            shared = SharedReadings()
        for subscription_id, slot in due:
            assert subscription_id is not None
            self._write(subscription_id, slot, now, shared)
        return []

    def preview(self, now: datetime) -> list[str]:
        """What `sweep` would write, writing nothing."""
        with Session(self.engine) as session:
            return [
                f"{KIND} → {s.channel_id} (week ending "
                f"{slot.astimezone(s.slot.zone).isoformat(timespec='minutes')})"
                for s, slot in self.due(session, now)
            ]

    def _write(
        self,
        subscription_id: int,
        slot: datetime,
        now: datetime,
        shared: SharedReadings | None = None,
    ) -> None:
        """One channel's agenda, in a transaction of its own; `shared` by the sweep's agendas."""
        try:
            with session_scope(self.engine) as session:
                subscription = session.get(SyncSubscription, subscription_id)
                if subscription is None or due_slot(subscription, now) != slot:
                    return  # stopped, changed or written meanwhile
                self._missed(subscription, slot)
                message = channel_agenda(
                    session,
                    subscription,
                    end=slot,
                    default_locale=self.default_locale,
                    silence_days=self.silence_days,
                    shared=shared,
                )
                outbox.enqueue(
                    session=session,
                    key=agenda_key(subscription, slot),
                    kind=KIND,
                    recipient=subscription.channel_id,
                    platform=subscription.platform,
                    payload=message_to_json(message),
                    at=now,
                    not_before=slot,
                )
                subscription.last_slot = slot
                session.add(subscription)
        except IntegrityError:
            log.info("the agenda for %s was written by another sweep", subscription_id)

    def _missed(self, subscription: SyncSubscription, slot: datetime) -> None:
        """Logs the slots that passed while nothing swept (only the latest one is written)."""
        since = max(filter(None, (subscription.last_slot, subscription.starts_at)))
        day = subscription.slot.local_date(slot)
        earlier = (day - weeks * WEEK for weeks in range(1, MISSED_LOGGED + 1))
        missed = [d for d in earlier if subscription.slot.on(d) > since]
        if missed:
            log.warning(
                "agendas for %s were not posted on %s: nothing ran at their time",
                subscription.channel_id,
                ", ".join(d.isoformat() for d in missed),
            )
