"""A second chat platform, in process and for tests only: ids that look nothing like Slack's
(people `entra:<guid>`, channels `19:…@thread.tacv2`, direct chats `a:…`), its own directory, its
own text (BBCode-like: `[b]…[/b]`, HTML entities, `[at]name[/at]`), a small room, and an outbox
transport that records what it posts and refuses what would not fit. If the core needed to know
Slack to run on it, the story test (tests/test_second_platform.py) would fail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from commands import ui
from commands.addresses import Address, AddressKind, ChannelInfo, UserProfile
from commands.markup import SIGNIFICANT, Renderer
from jobs.delivery import Landed, PermanentError

PLATFORM = "loom"

ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;"}
"""What the platform's text escapes; every other character typed shows as typed."""


def _own_text(text: str) -> str:
    """The bot's own markup: its `*emphasis*` and `` `code` `` in the platform's tags."""
    text = "".join(ENTITIES.get(c, c) for c in text)
    text = re.sub(r"\*([^*\n]+)\*", r"[b]\1[/b]", text)
    return re.sub(r"`([^`\n]+)`", r"[code]\1[/code]", text)


@dataclass
class LoomDirectory:
    """The platform's people, channels and direct chats."""

    platform: str = PLATFORM
    people: dict[str, UserProfile] = field(default_factory=dict)
    channels: dict[str, ChannelInfo] = field(default_factory=dict)
    chats: dict[str, str] = field(default_factory=dict)
    """Direct chat id → the person it is with."""

    def add_person(self, user_id: str, name: str, tz: str, locale: str) -> str:
        self.people[user_id] = UserProfile(user_id, name, tz, locale, None, is_bot=False)
        self.chats["a:1" + user_id.removeprefix("entra:").replace("-", "")[:20]] = user_id
        return user_id

    def add_channel(self, channel_id: str, *, member: bool = True) -> str:
        self.channels[channel_id] = ChannelInfo(channel_id, is_member=member)
        return channel_id

    def lookup(self, user_id: str) -> UserProfile | None:
        return self.people.get(user_id)

    def by_email(self, email: str) -> UserProfile | None:
        return next((p for p in self.people.values() if p.email == email), None)

    def channel(self, channel_id: str) -> ChannelInfo | None:
        return self.channels.get(channel_id)

    def kind(self, platform_id: str) -> AddressKind | None:
        if platform_id in self.people:
            return AddressKind.PERSON
        return AddressKind.CHANNEL if platform_id in self.channels else None

    def is_direct(self, channel_id: str) -> bool:
        return channel_id in self.chats

    def open_direct(self, user_id: str) -> Address:
        chat = next(c for c, who in self.chats.items() if who == user_id)
        return Address(self.platform, AddressKind.PERSON, user_id, {"conversation": chat})

    def name(self, user_id: str) -> str:
        found = self.people.get(user_id)
        return found.name if found else user_id

    def renderer(self) -> Renderer:
        return Renderer(
            literal={c: ENTITIES.get(c, c) for c in SIGNIFICANT},
            mention=lambda user_id: f"[at]{self.name(user_id)}[/at]",
            link=lambda url, label: f"[url={url}]{label}[/url]",
            text=_own_text,
        )

    def room(self) -> ui.Room:
        """Small on purpose: a section of 600 characters, 24 blocks a message."""
        render = self.renderer()
        return ui.Room(section=600, field=300, blocks=24, measure=lambda m: len(render(m)))


@dataclass(frozen=True)
class Posted:
    """One message as the platform got it."""

    conversation: str
    ts: str
    key: str
    texts: tuple[str, ...]
    buttons: tuple[ui.Button, ...]


@dataclass
class LoomTransport:
    """The delivery engine's `Transport` on this platform: a person's messages go to their
    direct chat; a message that does not fit the room is refused as the platform would."""

    directory: LoomDirectory
    posted: list[Posted] = field(default_factory=list)
    updated: list[Posted] = field(default_factory=list)

    def post(self, recipient: str, message: ui.Message, key: str) -> Landed:
        conversation = self._conversation(recipient)
        posted = self._render(conversation, f"{len(self.posted) + 1}.0", key, message)
        self.posted.append(posted)
        return Landed(conversation, posted.ts)

    def update(self, channel: str, ts: str, message: ui.Message) -> None:
        original = next(p for p in self.posted if (p.conversation, p.ts) == (channel, ts))
        self.updated.append(self._render(channel, ts, original.key, message))

    def find_sent(self, recipient: str, key: str) -> Landed | None:
        found = [p for p in self.posted if p.key == key]
        return Landed(found[0].conversation, found[0].ts) if found else None

    def _conversation(self, recipient: str) -> str:
        kind = self.directory.kind(recipient)
        if kind is AddressKind.PERSON:
            return str(self.directory.open_direct(recipient).delivery_ref["conversation"])  # type: ignore[index]
        if kind is AddressKind.CHANNEL:
            return recipient
        raise PermanentError(f"no such conversation: {recipient[:40]}")

    def _render(self, conversation: str, ts: str, key: str, message: ui.Message) -> Posted:
        room, render = self.directory.room(), self.directory.renderer()
        if len(message.blocks) > room.blocks:
            raise PermanentError(f"{len(message.blocks)} blocks, {room.blocks} fit")
        texts: list[str] = []
        buttons: list[ui.Button] = []
        for block in message.blocks:
            match block:
                case ui.Section(text, fields):
                    texts += [render(text), *(render(f) for f in fields)]
                    if len(render(text)) > room.section:
                        raise PermanentError(f"a section of {len(render(text))} characters")
                case ui.Header(text) | ui.Note(text):
                    texts.append(render(text))
                case ui.Actions(elements):
                    buttons += elements
        return Posted(conversation, ts, key, tuple(texts), tuple(buttons))

    def text(self, conversation: str) -> str:
        """Everything posted to a conversation, as its people read it."""
        return "\n".join(t for p in self.posted if p.conversation == conversation for t in p.texts)
