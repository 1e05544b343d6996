"""The outbox: every message the bot sends on its own (DMs, channel posts, in-place updates) is
written here first, in the same transaction as the change that caused it, then delivered by the
delivery engine. The unique `key` is the message's identity: it is sent once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, insert
from sqlmodel import Field, Session, SQLModel, select

from storage.types import UTCDateTime


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    """Refused for good (user gone, channel archived); `last_error` says why."""
    SKIPPED = "skipped"
    """No longer worth sending (stale data, an agenda too late)."""


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=32)
    """What it is: `handoff.dm`, `reminder`, `agenda`, …"""
    platform: str = Field(
        default="slack", max_length=16, sa_column_kwargs={"server_default": "slack"}
    )
    """The chat platform the message goes out on."""
    recipient: str = Field(max_length=255, index=True)
    """A user ID (sent as a DM) or a channel ID, in the platform's own shape."""
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The neutral message (`commands.ui.message_to_json`)."""
    update_of: str | None = Field(default=None, max_length=255)
    """Key of an already-sent message to edit in place instead of posting a new one."""
    status: str = Field(default=OutboxStatus.PENDING.value, max_length=8)
    attempts: int = 0
    not_before: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_error: str | None = None
    channel: str | None = Field(default=None, max_length=255)
    """Where it landed (a DM's channel ID), for in-place updates."""
    ts: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    claimed_by: str | None = Field(default=None, max_length=64)
    """The process holding the claim (`host:pid`): on SQLite, where every sender runs on one
    host, a claim whose process is gone is taken over at once, others only when they expire."""


def enqueue(
    *,
    session: Session,
    key: str,
    kind: str,
    recipient: str,
    payload: dict[str, Any],
    at: datetime,
    not_before: datetime | None = None,
    update_of: str | None = None,
    platform: str = "slack",
) -> bool:
    """Adds the message unless one with the same key exists; True when it was added."""
    if session.exec(select(OutboxMessage.id).where(OutboxMessage.key == key)).first():
        return False
    session.add(
        OutboxMessage(
            key=key,
            kind=kind,
            platform=platform,
            recipient=recipient,
            payload=payload,
            update_of=update_of,
            not_before=not_before or at,
            created_at=at,
        )
    )
    session.flush()
    return True


def enqueue_new(
    *,
    session: Session,
    kind: str,
    messages: dict[str, tuple[str, dict[str, Any]]],
    at: datetime,
    platforms: Mapping[str, str] | None = None,
) -> None:
    """Adds messages whose keys are new by construction (key → recipient, payload), in one
    statement; a key that exists already raises `IntegrityError`. `platforms` gives a key's
    platform when it is not Slack."""
    rows = [
        {
            "key": key,
            "kind": kind,
            "recipient": recipient,
            "payload": payload,
            "platform": (platforms or {}).get(key, "slack"),
        }
        for key, (recipient, payload) in messages.items()
    ]
    if rows:
        session.execute(insert(OutboxMessage).values(not_before=at, created_at=at), rows)


def get_by_key(*, session: Session, key: str) -> OutboxMessage | None:
    return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()
