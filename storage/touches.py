"""Touches: logged outreach to a customer (call, email, meeting, chat) by anyone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index
from sqlmodel import Field, Session, SQLModel

from storage.types import UTCDateTime


class TouchChannel(StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    CHAT = "chat"


class Touch(SQLModel, table=True):
    __tablename__ = "touches"
    __table_args__ = (Index("ix_touches_account_at", "account_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id")
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    channel: str = Field(default=TouchChannel.CHAT.value, max_length=8)
    note: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def log(
    *,
    session: Session,
    account_id: int,
    person_id: int | None,
    channel: TouchChannel,
    note: str,
    at: datetime,
) -> Touch:
    """An outreach to the customer; the newest one restarts the account's silence timer."""
    touch = Touch(
        account_id=account_id, person_id=person_id, channel=channel.value, note=note, at=at
    )
    session.add(touch)
    session.flush()
    return touch
