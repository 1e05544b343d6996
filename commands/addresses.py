"""Who and where, whatever the chat platform: a person is (platform, user id), a place to post is
an address. What an id means (a person or a channel, a direct conversation) only the platform's
adapter knows: the core asks it through the `Directory` port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from commands.markup import MENTIONED


class AddressKind(StrEnum):
    PERSON = "person"
    CHANNEL = "channel"


@dataclass(frozen=True)
class PersonRef:
    """A person as their platform names them."""

    platform: str
    user_id: str


@dataclass(frozen=True)
class Address:
    """A place to post: a person (a direct message) or a channel, on one platform, with what the
    platform needs to reach it (`delivery_ref`, e.g. a Teams conversation reference)."""

    platform: str
    kind: AddressKind
    id: str
    delivery_ref: Mapping[str, Any] | None = None

    @classmethod
    def person(cls, who: PersonRef, delivery_ref: Mapping[str, Any] | None = None) -> Address:
        return cls(who.platform, AddressKind.PERSON, who.user_id, delivery_ref)


@dataclass(frozen=True)
class UserProfile:
    user_id: str
    name: str
    tz: str | None
    locale: str | None
    email: str | None
    is_bot: bool
    deleted: bool = False


@dataclass(frozen=True)
class ChannelInfo:
    channel_id: str
    is_member: bool
    """The bot is in the channel, so it can post there."""
    is_archived: bool = False


class Directory(Protocol):
    """What the core asks the chat platform about its ids (Slack: the Web API; the shell: the
    people in its database)."""

    platform: str

    def lookup(self, user_id: str) -> UserProfile | None:
        """A person's profile; None when the platform has no such person."""
        ...

    def by_email(self, email: str) -> UserProfile | None:
        """The person with this e-mail address (CSV import, a won deal's owner), if any."""
        ...

    def channel(self, channel_id: str) -> ChannelInfo | None:
        """The channel as the bot sees it (Slack: `conversations.info`); None when the bot
        cannot see it (a private channel it is not in) or the platform did not say."""
        ...

    def kind(self, platform_id: str) -> AddressKind | None:
        """Whether an id names a person or a channel; None when it names neither."""
        ...

    def is_direct(self, channel_id: str) -> bool:
        """Whether a conversation is a direct message, where only its members can read."""
        ...

    def open_direct(self, user_id: str) -> Address:
        """Where a direct message to the person goes."""
        ...


def mentioned(text: str) -> list[str]:
    """The user ids of the people mentioned in typed text (the adapter wrote them as the
    neutral mention token), in order."""
    return MENTIONED.findall(text)


def mentioned_one(word: str) -> str | None:
    """The user id when the word is exactly one mention."""
    found = MENTIONED.fullmatch(word)
    return found[1] if found else None
