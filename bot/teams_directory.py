"""The core's `Directory` on Microsoft Teams: a person is their Entra object id, a place to post
is a conversation the bot has seen (its conversation reference stored).

People are read from their row (name, language and zone cached from their activities) and, for
someone who never wrote to the bot, from the roster of the conversation being answered (the
Bot Connector's `GET /v3/conversations/{id}/members/{member}`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.teams_text import ENTRA_ID
from commands.addresses import Address, AddressKind, ChannelInfo, UserProfile
from storage.agenda.subscriptions import SyncSubscription
from storage.people import Person

log = logging.getLogger(__name__)

PLATFORM = "teams"
SEEN = 1000
"""Channel references kept in memory (a sync subscription keeps its own in the database)."""
TIMEOUT = 5.0

answering: ContextVar[dict[str, Any] | None] = ContextVar("teams_answering", default=None)
"""The conversation reference of the activity being handled (the roster asked is its)."""


def is_conversation(value: str) -> bool:
    """Teams' conversation ids: `19:…@thread…` (channels, group chats), `a:…` (personal)."""
    return value.startswith(("19:", "a:"))


class TeamsDirectory:
    """Who and where on Teams, for the Teams `Runtime`."""

    platform = PLATFORM

    def __init__(self, engine: Engine, token: Callable[[], str] | None = None) -> None:
        self.engine = engine
        self.token = token
        self._channels: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def seen(self, reference: dict[str, Any]) -> None:
        """An activity arrived through `reference`: its conversation can be posted in, and
        people are looked up in its roster while it is answered."""
        answering.set(reference)
        conversation = str((reference.get("conversation") or {}).get("id") or "").split(";")[0]
        if conversation:  # a new post there, not a reply in the thread it came from
            place = {**(reference.get("conversation") or {}), "id": conversation}
            self._channels[conversation] = {
                "serviceUrl": reference.get("serviceUrl"),
                "conversation": place,
            }
            self._channels.move_to_end(conversation)
            while len(self._channels) > SEEN:
                self._channels.popitem(last=False)

    def reference(self, channel_id: str) -> dict[str, Any] | None:
        """The stored reference of a conversation the bot has seen, if any."""
        if channel_id in self._channels:
            return self._channels[channel_id]
        with Session(self.engine) as session:
            query = select(SyncSubscription).where(
                SyncSubscription.platform == PLATFORM, SyncSubscription.channel_id == channel_id
            )
            found = session.exec(query).first()
            return dict(found.delivery_ref) if found and found.delivery_ref else None

    def keep(self, channel_id: str) -> None:
        """The channel's sync subscription posts through the reference seen last."""
        reference = self._channels.get(channel_id)
        if reference is None:
            return
        with Session(self.engine) as session:
            session.execute(
                update(SyncSubscription)
                .where(
                    col(SyncSubscription.platform) == PLATFORM,
                    col(SyncSubscription.channel_id) == channel_id,
                )
                .values(delivery_ref=reference)
            )
            session.commit()

    def lookup(self, user_id: str) -> UserProfile | None:
        person = self._person(user_id)
        if person is not None and person.name:
            return UserProfile(user_id, person.name, person.tz, person.locale, None, False)
        return self._from_roster(user_id) if ENTRA_ID.fullmatch(user_id) else None

    def _person(self, user_id: str) -> Person | None:
        with Session(self.engine) as session:
            query = select(Person).where(Person.platform == PLATFORM, Person.user_id == user_id)
            person = session.exec(query).first()
            if person is not None:
                session.expunge(person)
            return person

    def _from_roster(self, user_id: str) -> UserProfile | None:
        reference = answering.get()
        if reference is None or self.token is None or not reference.get("serviceUrl"):
            return None
        conversation = str((reference.get("conversation") or {}).get("id") or "").split(";")[0]
        url = (
            f"{str(reference['serviceUrl']).rstrip('/')}/v3/conversations/"
            f"{quote(conversation, safe='')}/members/{quote(user_id, safe='')}"
        )
        try:
            headers = {"Authorization": f"Bearer {self.token()}"}
            answer = httpx.get(url, headers=headers, timeout=TIMEOUT)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("Teams roster not read: %s", exc.__class__.__name__)
            return None
        if answer.status_code != 200:
            return None  # not a member of this conversation: unknown here
        member = answer.json()
        name = str(member.get("name") or "") if isinstance(member, dict) else ""
        email = member.get("email") or member.get("userPrincipalName") if name else None
        return UserProfile(user_id, name or user_id, None, None, email, False) if name else None

    def by_email(self, email: str) -> UserProfile | None:
        """Teams has no e-mail look-up without Microsoft Graph: people are named by id."""
        return None

    def channel(self, channel_id: str) -> ChannelInfo | None:
        """A conversation the bot has seen is one it can post in (it is installed there)."""
        reference = self.reference(channel_id)
        if reference is None:
            return None
        return ChannelInfo(channel_id, is_member=True)

    def kind(self, platform_id: str) -> AddressKind | None:
        """A person: an Entra object id, or a Teams person who wrote to the bot (the Agents
        Playground's ids are not GUIDs)."""
        if ENTRA_ID.fullmatch(platform_id) or self._person(platform_id) is not None:
            return AddressKind.PERSON
        if is_conversation(platform_id):
            return AddressKind.CHANNEL
        return None

    def is_direct(self, channel_id: str) -> bool:
        """A personal chat: only the person and the bot read it."""
        if channel_id.startswith("a:"):
            return True
        reference = self.reference(channel_id) or {}
        return (reference.get("conversation") or {}).get("conversationType") == "personal"

    def open_direct(self, user_id: str) -> Address:
        """The person's personal chat, through their stored reference when there is one."""
        person = self._person(user_id)
        ref = dict(person.delivery_ref) if person and person.delivery_ref else None
        return Address(PLATFORM, AddressKind.PERSON, user_id, ref)
