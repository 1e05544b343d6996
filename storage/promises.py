"""Promises made to a customer during the sale (or later), owned until kept, broken or waived."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class PromiseStatus(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    WAIVED = "waived"


class Recurrence(StrEnum):
    WEEK = "week"
    MONTH = "month"


class Promise(SQLModel, table=True):
    """Shown to people as `P-<id>`."""

    __tablename__ = "promises"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    text: str
    owner_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    """Who keeps it: the account's CS owner."""
    promised_by_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    """Who made it to the customer, usually the sales rep."""
    source: str = Field(default="command", max_length=16)
    """`handoff` or `command`."""
    handoff_id: int | None = Field(default=None, foreign_key="handoffs.id", index=True)
    due_date: date | None = Field(default=None, index=True)
    """For recurring promises: the next occurrence's due date."""
    recurrence: str | None = Field(default=None, max_length=8)
    kept_count: int = 0
    status: str = Field(default=PromiseStatus.OPEN.value, max_length=8, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    closed_by_id: int | None = Field(default=None, foreign_key="people.id")
    close_note: str | None = None
