"""The outbox's Teams rows, as `bot.teams_transport` sends them: where a person or channel is
reached (the conversation reference the handlers stored), each message as an Adaptive Card with
its delivery key in `channelData`, and the managers told once of a person Teams cannot reach."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot import adaptivecards as cards
from bot.settings import Settings
from bot.teams_markup import Names
from bot.teams_markup import as_plain as plain_text
from bot.teams_text import ENTRA_ID
from bot.teams_transport import ConversationRef, Unreachable, teams_delivery
from commands.context import Clock, SystemClock
from commands.i18n import Translator, translator_for
from commands.ui import Message, message_to_json
from jobs.delivery import Claim, Delivery, PermanentError
from storage import outbox
from storage.agenda.subscriptions import SyncSubscription
from storage.db import session_scope
from storage.outbox import OutboxMessage
from storage.people import Person, get_by_user_id, managers

log = logging.getLogger(__name__)

TEAMS = "teams"
CARD = "application/vnd.microsoft.card.adaptive"
KEY_FIELD = "kakehashiKey"
"""Where an activity carries its outbox key (`channelData`)."""


def reference_from(stored: dict[str, Any] | None, *, person: bool) -> ConversationRef | None:
    """A stored reference (`bot.teams_people.reference_of`) as the transport needs it. A
    person is reached in their personal chat: one kept from another conversation (a channel)
    only gives their id, and the transport creates the chat."""
    if not isinstance(stored, dict) or not _trusted(stored.get("serviceUrl")):
        return None
    conversation = _dict(stored.get("conversation"))
    user = _dict(stored.get("user"))
    personal = conversation.get("conversationType") == "personal"
    conversation_id = conversation.get("id") if (personal or not person) else None
    user_id = user.get("id") or user.get("aadObjectId")
    if conversation_id is None and (not person or not user_id):
        return None
    return ConversationRef(
        service_url=str(stored["serviceUrl"]).rstrip("/"),
        tenant_id=str(conversation.get("tenantId") or ""),
        conversation_id=str(conversation_id).split(";")[0] if conversation_id else None,
        user_id=str(user_id) if user_id else None,
    )


def _trusted(url: object) -> bool:
    """The bot's token goes to this URL: https, or http on this machine (tests, Playground)."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    return (parts.scheme == "https" or local) and bool(parts.hostname)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def references(engine: Engine) -> Callable[[str], ConversationRef | None]:
    """A Teams recipient (a person's key, a channel's id, or a conversation a message landed
    in) → where to reach them; None when nothing was stored (the app is not installed)."""

    def find(recipient: str) -> ConversationRef | None:
        with Session(engine) as session:
            return _stored(session, recipient) or _landed_in(session, recipient)

    return find


def _stored(session: Session, recipient: str) -> ConversationRef | None:
    person = get_by_user_id(session=session, user_id=recipient, platform=TEAMS)
    if person is not None:
        return reference_from(person.delivery_ref, person=True)
    channel = session.exec(
        select(SyncSubscription).where(
            SyncSubscription.platform == TEAMS, SyncSubscription.channel_id == recipient
        )
    ).first()
    return reference_from(channel.delivery_ref, person=False) if channel is not None else None


def _landed_in(session: Session, conversation: str) -> ConversationRef | None:
    """A conversation a message landed in (an update in place after a restart): reached
    where its recipient is, in that conversation."""
    sent = session.exec(
        select(OutboxMessage.recipient).where(
            OutboxMessage.platform == TEAMS, OutboxMessage.channel == conversation
        )
    ).first()
    ref = _stored(session, sent) if sent is not None else None
    return replace(ref, conversation_id=conversation) if ref is not None else None


def names(engine: Engine) -> Names:
    """A mention token's key → (Entra object id, name), for the Teams people known."""

    def lookup(key: str) -> tuple[str, str] | None:
        if ENTRA_ID.fullmatch(key) is None:
            return None
        with Session(engine) as session:
            person = get_by_user_id(session=session, user_id=key, platform=TEAMS)
            return (key, person.name or key) if person is not None else None

    return lookup


def card_renderer(engine: Engine, settings: Settings) -> Callable[[Message, str], dict[str, Any]]:
    """A neutral message → a message activity with its Adaptive Card; the key in channelData."""
    t = Translator(settings.locale, settings.zone)

    def render(message: Message, key: str) -> dict[str, Any]:
        card = cards.card(message, names(engine), lambda count: t("teams.more", count=count))
        return {
            "type": "message",
            "summary": plain_text(message.text)[:200],
            "attachments": [{"contentType": CARD, "content": card}],
            "channelData": {KEY_FIELD: key},
        }

    return render


def tell_managers(
    engine: Engine, settings: Settings, clock: Clock
) -> Callable[[Claim, PermanentError], None]:
    """After a Teams DM failed because Teams cannot reach the person: one message to each
    manager (on the manager's own platform, through the outbox), once per person."""

    def failed(claim: Claim, error: PermanentError) -> None:
        if not isinstance(error, Unreachable):
            return
        with session_scope(engine) as session:
            person = get_by_user_id(session=session, user_id=claim.recipient, platform=TEAMS)
            if person is None:
                return  # a channel: `jobs failed` lists it
            for manager in managers(session=session):
                if manager.id != person.id:
                    t = translator_for(manager, settings.locale, settings.zone)
                    _tell(session, manager, person, t, clock.now(), due=claim.not_before)

    return failed


def _tell(
    session: Session,
    manager: Person,
    person: Person,
    t: Translator,
    now: datetime,
    *,
    due: datetime,
) -> None:
    """The manager's message, due when the failed DM was (a sweep at that time sends it)."""
    text = t("delivery.unreachable.teams", name=person.name or person.user_id)
    added = outbox.enqueue(
        session=session,
        key=f"unreachable:{person.platform}:{person.user_id}:{manager.id}",
        kind="unreachable",
        recipient=manager.user_id,
        payload=message_to_json(Message.plain(text)),
        at=now,
        not_before=due,
        platform=manager.platform,
    )
    if added:
        log.info("told manager %s that person %s cannot be reached on Teams", manager.id, person.id)


def teams_delivery_from(
    settings: Settings, engine: Engine, *, clock: Clock | None = None
) -> Delivery:
    """The engine sending the outbox's Teams rows (only those) as cards."""
    clock = clock or SystemClock()
    delivery = teams_delivery(
        settings, engine, references(engine), clock=clock, render=card_renderer(engine, settings)
    )
    delivery.platform = TEAMS
    delivery.on_failed = tell_managers(engine, settings, clock)
    return delivery
