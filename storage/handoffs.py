"""Handoffs from sales to CS, the customer's key contacts, and the questions asked about them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class HandoffStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


class Handoff(SQLModel, table=True):
    """Shown to people as `H-<id>`."""

    __tablename__ = "handoffs"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    sales_rep_id: int = Field(foreign_key="people.id", index=True)
    cs_owner_id: int = Field(foreign_key="people.id", index=True)
    status: str = Field(default=HandoffStatus.PENDING.value, max_length=12, index=True)
    goals: str
    problems: str | None = None
    risks: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    accepted_by_id: int | None = Field(default=None, foreign_key="people.id")


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    handoff_id: int | None = Field(default=None, foreign_key="handoffs.id")
    name: str = Field(max_length=200)
    role: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)


class HandoffMessage(SQLModel, table=True):
    """A CS owner's question about a handoff, or the sales rep's reply."""

    __tablename__ = "handoff_messages"

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoffs.id", index=True)
    author_id: int = Field(foreign_key="people.id")
    kind: str = Field(max_length=8)
    """`question` or `answer`."""
    reply_to_id: int | None = Field(default=None, foreign_key="handoff_messages.id")
    text: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
