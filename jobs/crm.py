"""The scheduler's CRM sweep (PRODUCT §14): each stored event is worked on once. The deal is
read again (events arrive out of order), the account created or updated by its CRM id, and the
deal owner, found by email on the chat platform, gets one DM with **Hand it off**. Managers are
told, once, when the owner cannot be found or the deal is not handed off in 2 working days.

Every message goes through the outbox under a key made of the deal, so the same deal won again,
or an event processed twice by two replicas, sends one DM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from commands.context import UserProfile, remember
from commands.crm import HAND_OFF
from commands.crm_deals import WonDeal, read_won_deal, salesforce_deal
from commands.handoff_cards import fit
from commands.i18n import Translator, translator_for, zone_of
from commands.ui import Actions, Button, Message, Note, Room, Section, Style, message_to_json
from commands.worktime import WorkCalendar, WorkWeek
from jobs import telemetry
from storage import crm_events, outbox, people
from storage.accounts import Account, fold_name
from storage.audit import record
from storage.crm_events import CrmEvent, CrmSource, CrmStatus
from storage.db import session_scope
from storage.handoffs import Handoff
from storage.people import Person

log = logging.getLogger(__name__)

ESCALATE_AFTER_WORKING_DAYS = 2
MAX_ATTEMPTS = 8
"""Tries while the CRM fails (backing off from 1 minute to about 2 hours); then failed."""


class CrmUnavailable(Exception):
    """The CRM could not be read now (an outage, a rate limit that did not pass): try later."""


class DealReader(Protocol):
    """Reads a HubSpot event's deal again (`bot.hubspot`): the won deal, or why there is none
    (`not_won`, `unknown_deal`, `invalid`)."""

    def won_deal(self, event: dict[str, Any]) -> WonDeal | str: ...


@runtime_checkable
class PeopleByEmail(Protocol):
    """The chat platform's person with this email (Slack: `users.lookupByEmail`)."""

    platform: str

    def by_email(self, email: str) -> UserProfile | None: ...


@dataclass
class CrmEvents:
    engine: Engine
    people: PeopleByEmail
    hubspot: DealReader | None
    locale: str
    zone: ZoneInfo
    work: WorkWeek
    room: Room = field(default_factory=Room)
    """How much a DM holds on the platform (set by the wiring): a long list of products is cut."""

    def sweep(self, now: datetime) -> list[str]:
        """Works on every due event, then tells managers of deals waiting too long."""
        lines: list[str] = []
        while True:
            with session_scope(self.engine) as session:
                ids = crm_events.due(session=session, now=now)
            for event_id in ids:
                lines.extend(self._one(event_id, now))
            if len(ids) < 100:
                break
        lines.extend(self._escalate(now))
        return lines

    def _one(self, event_id: int, now: datetime) -> list[str]:
        with session_scope(self.engine) as session:
            if not crm_events.claim(session=session, event_id=event_id, now=now):
                return []
        with session_scope(self.engine) as session:
            event = session.get(CrmEvent, event_id)
            assert event is not None
            try:
                outcome = self._work(session, event, now)
            except CrmUnavailable as exc:
                return [self._later(session, event, now, str(exc))]
            event.status, event.outcome = CrmStatus.DONE.value, outcome
            event.processed_at, event.claimed_until = now, None
            self._audit(session, event, now)
            session.add(event)
            log.info("crm event %s %s: %s", event.source, event.id, outcome)
            telemetry.CRM_EVENTS_PROCESSED.labels(event.source, outcome).inc()
            return [f"crm {event.source} {event.event_id}: {outcome}"]

    def _later(self, session: Session, event: CrmEvent, now: datetime, why: str) -> str:
        event.attempts += 1
        event.claimed_until, event.last_error = None, why
        if event.attempts >= MAX_ATTEMPTS:
            event.status, event.outcome = CrmStatus.FAILED.value, CrmStatus.FAILED.value
            telemetry.CRM_EVENTS_PROCESSED.labels(event.source, CrmStatus.FAILED.value).inc()
            event.processed_at = now
            self._audit(session, event, now)
        else:
            event.not_before = now + timedelta(minutes=2 ** (event.attempts - 1))
        session.add(event)
        log.warning("crm event %s %s: %s (attempt %d)", event.source, event.id, why, event.attempts)
        return f"crm {event.source} {event.event_id}: {event.status} ({why})"

    def _audit(self, session: Session, event: CrmEvent, now: datetime) -> None:
        deal_id = (event.deal or {}).get("deal", {}).get("id")
        record(
            session=session,
            actor=None,
            at=now,
            entity="crm_event",
            entity_id=event.id,
            action=event.outcome or event.status,
            changes={
                "source": event.source,
                "event_id": event.event_id,
                "deal_id": deal_id,
                "account_id": event.account_id,
            },
            note=event.last_error if event.status == CrmStatus.FAILED else None,
        )

    def _work(self, session: Session, event: CrmEvent, now: datetime) -> str:
        deal = self._deal(event)
        if not isinstance(deal, WonDeal):
            return deal
        event.deal = deal.model_dump(mode="json")
        existing = _account_by_crm_id(session, deal)
        handed = _latest_handoff(session, existing) if existing else None
        # An account already handed off is left as it is: the DM says so, nothing else changes.
        account = (
            existing
            if existing and handed
            else account_for_deal(session=session, deal=deal, at=now)
        )
        event.account_id = account.id
        return self._offer(session, event, deal, account, handed, now)

    def _deal(self, event: CrmEvent) -> WonDeal | str:
        if event.source == CrmSource.HUBSPOT:
            if self.hubspot is None:
                raise CrmUnavailable("HUBSPOT_ACCESS_TOKEN is not set")
            return self.hubspot.won_deal(event.payload)
        if event.source == CrmSource.SALESFORCE:
            deal = salesforce_deal(event.payload)
            if deal is None:
                return "not_won"
        else:
            deal = read_won_deal(event.payload)
        return deal if isinstance(deal, WonDeal) else "invalid"

    def _offer(
        self,
        session: Session,
        event: CrmEvent,
        deal: WonDeal,
        account: Account,
        handed: Handoff | None,
        now: datetime,
    ) -> str:
        key = f"crm:{event.source}:{deal.deal.id}"
        email = deal.deal.owner_email
        profile = self.people.by_email(email) if email else None
        if profile is None or profile.deleted or profile.is_bot:
            self._tell_managers(session, key, "owner_unknown", deal, now)
            event.escalated_at = now
            return "owner_unknown"
        owner = remember(session, self.people.platform, profile, now)
        event.owner_user_id = owner.user_id
        t = translator_for(owner, self.locale, self.zone)
        if handed is not None:
            message = Message.plain(
                t("crm.already", deal=deal.deal.name, account=account.name, number=f"H-{handed.id}")
            )
            _send(session, f"{key}:already", owner, message, now)
            return "already_handed_off"
        if account.sales_owner_id is None:
            account.sales_owner_id = owner.id
            session.add(account)
        _send(session, f"{key}:offer", owner, offer(t, deal, event, self.room), now)
        return "offered"

    def _tell_managers(
        self, session: Session, key: str, why: str, deal: WonDeal, now: datetime
    ) -> None:
        for manager in people.managers(session=session):
            t = translator_for(manager, self.locale, self.zone)
            text = t(
                f"crm.managers.{why}",
                deal=deal.deal.name,
                account=deal.account.name,
                email=deal.deal.owner_email or "—",
            )
            _send(session, f"{key}:{why}:{manager.user_id}", manager, Message.plain(text), now)

    def _escalate(self, now: datetime) -> list[str]:
        """Deals offered 2 working days ago and still not handed off: the managers are told."""
        lines: list[str] = []
        with session_scope(self.engine) as session:
            for event in crm_events.offered_before(session=session, before=now):
                assert event.processed_at is not None
                due = self._owners_calendar(session, event).add_working_days(
                    event.processed_at, ESCALATE_AFTER_WORKING_DAYS
                )
                if due > now:
                    continue
                event.escalated_at = now
                session.add(event)
                if _handed_off_since(session, event):
                    continue
                deal = WonDeal.model_validate(event.deal)
                self._tell_managers(
                    session, f"crm:{event.source}:{deal.deal.id}", "late", deal, now
                )
                lines.append(f"crm {event.source} {event.event_id}: managers told")
        return lines

    def _owners_calendar(self, session: Session, event: CrmEvent) -> WorkCalendar:
        """Working days as the deal owner counts them, in their own time zone."""
        owner = people.get_by_user_id(
            session=session, user_id=event.owner_user_id or "", platform=self.people.platform
        )
        return self.work.calendar(zone_of(owner.tz if owner else None, self.zone))


def offer(t: Translator, deal: WonDeal, event: CrmEvent, room: Room) -> Message:
    """The DM to the deal owner: the deal in a few lines, and **Hand it off**."""
    facts = deal.deal
    lines = [t("crm.offer.title", deal=facts.name, account=deal.account.name)]
    if facts.amount is not None:
        lines.append(t("crm.offer.amount", amount=t.money(facts.amount, facts.currency or "USD")))
    if facts.close_date:
        lines.append(t("crm.offer.closed", date=t.date(facts.close_date)))
    if facts.products:
        left = room.section - room.measure("\n".join(lines)) - PRODUCTS_LINE
        products = fit(", ".join(facts.products), left, room.measure)
        lines.append(t("crm.offer.products", products=products))
    text = "\n".join(lines)
    return Message(
        text=t("crm.offer.summary", deal=facts.name, account=deal.account.name),
        blocks=(
            Section(text),
            Note(t("crm.offer.note")),
            Actions(
                (
                    Button(
                        t("crm.button.hand_off"),
                        HAND_OFF,
                        str(event.id),
                        Style.PRIMARY,
                        opens_form=True,
                    ),
                ),
                block_id=f"crm-{event.id}",
            ),
        ),
    )


PRODUCTS_LINE = 100
"""Room kept for the products line's own words, in any language."""


def _send(session: Session, key: str, to: Person, message: Message, now: datetime) -> None:
    outbox.enqueue(
        session=session,
        key=key,
        kind="crm",
        recipient=to.user_id,
        payload=message_to_json(message),
        at=now,
        platform=to.platform,
    )


def _latest_handoff(session: Session, account: Account) -> Handoff | None:
    query = select(Handoff).where(Handoff.account_id == account.id)
    return session.exec(query.order_by(col(Handoff.id).desc())).first()


def _handed_off_since(session: Session, event: CrmEvent) -> bool:
    query = select(Handoff.id).where(Handoff.account_id == event.account_id)
    query = query.where(col(Handoff.created_at) >= event.received_at)
    return session.exec(query).first() is not None


def _account_by_crm_id(session: Session, deal: WonDeal) -> Account | None:
    return session.exec(select(Account).where(Account.external_id == deal.account.id)).first()


def account_for_deal(*, session: Session, deal: WonDeal, at: datetime) -> Account:
    """The account whose CRM id is the deal's account id (as the CSV import keys it), created or
    updated with what the deal knows; audited."""
    facts = deal.deal
    values: dict[str, Any] = {
        "plan": ", ".join(facts.products)[:500] or None,
        "arr": facts.amount,
        "currency": facts.currency,
        "contract_start": facts.contract_start,
        "renewal_date": facts.renewal_date,
    }
    values = {key: value for key, value in values.items() if value is not None}
    account = _account_by_crm_id(session, deal)
    if account is None:
        name = deal.account.name
        account = Account(name=name, name_key=fold_name(name), external_id=deal.account.id,
                          created_at=at, updated_at=at, **values)  # fmt: skip
        action = "create"
    else:
        for key, value in values.items():
            setattr(account, key, value)
        account.updated_at = at
        action = "update"
    session.add(account)
    session.flush()
    changes = {key: str(value) for key, value in values.items()}
    record(session=session, actor=None, at=at, entity="account", entity_id=account.id,
           action=action, changes=changes, note="crm")  # fmt: skip
    return account
