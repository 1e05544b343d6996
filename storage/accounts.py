"""Accounts: the customer companies."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Column, Numeric
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class TouchModel(StrEnum):
    HIGH = "high"
    LOW = "low"
    TECH = "tech"


class Stage(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    AT_RISK = "at_risk"
    RENEWED = "renewed"
    CHURNED = "churned"


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    external_id: str | None = Field(default=None, max_length=100, unique=True)
    sales_owner_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    cs_owner_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    touch_model: str = Field(default=TouchModel.LOW.value, max_length=8)
    plan: str | None = Field(default=None, max_length=500)
    arr: Decimal | None = Field(default=None, sa_column=Column(Numeric(16, 2)))
    currency: str = Field(default="USD", max_length=3)
    contract_start: date | None = None
    renewal_date: date | None = Field(default=None, index=True)
    stage: str = Field(default=Stage.ONBOARDING.value, max_length=16, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
