"""Weekly sync subscriptions: which channel gets the Sales × CS agenda, when, and for whom.

One schedule per channel: a weekday and a local time in an IANA time zone. The instants it
names (`WeeklySlot`) are computed with `zoneinfo`, so 09:00 in New York is 14:00 UTC in winter
and 13:00 UTC in summer; a time skipped by a DST change (02:30 on the spring-forward night)
falls an hour later, and a repeated one (01:30 in the autumn) is its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from storage.audit import record
from storage.types import UTCDateTime

WEEK = timedelta(days=7)


class SyncSubscription(SQLModel, table=True):
    __tablename__ = "sync_subscriptions"
    __table_args__ = (
        UniqueConstraint("platform", "channel_id", name="uq_sync_subscriptions_platform_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(
        default="slack", max_length=16, sa_column_kwargs={"server_default": "slack"}
    )
    """The chat platform of the channel."""
    channel_id: str = Field(max_length=255)
    delivery_ref: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """What the platform needs to post to the channel (a Teams conversation reference)."""
    weekday: int
    """0 is Monday, 6 is Sunday (Python's `date.weekday()`)."""
    hour: int
    minute: int
    zone: str = Field(max_length=64)
    """IANA time zone the day and time are read in."""
    locale: str | None = Field(default=None, max_length=8)
    """`en` or `ja`; None: the configured default (`KAKEHASHI_LOCALE`)."""
    team: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Person ids whose accounts the agenda covers; empty: every account."""
    created_by_id: int | None = Field(default=None, foreign_key="people.id")
    """Who set the schedule up (they, and managers, may change or stop it)."""
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    """When this schedule took effect: slots before it are not posted."""
    last_slot: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    """The latest slot whose agenda was written to the outbox."""
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def slot(self) -> WeeklySlot:
        return WeeklySlot(self.weekday, time(self.hour, self.minute), zone_or_utc(self.zone))


def zone_or_utc(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class WeeklySlot:
    """A weekday and a wall-clock time in a zone: the instants a weekly agenda is due."""

    weekday: int
    at: time
    zone: ZoneInfo

    def on(self, day: date) -> datetime:
        """The instant (UTC) of this time on a local calendar day."""
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def latest(self, now: datetime) -> datetime:
        """The last slot at or before `now`."""
        local = now.astimezone(self.zone).date()
        day = local - timedelta(days=(local.weekday() - self.weekday) % 7)
        slot = self.on(day)
        return slot if slot <= now else self.on(day - WEEK)

    def next(self, now: datetime) -> datetime:
        """The first slot after `now`."""
        local = now.astimezone(self.zone).date()
        day = local + timedelta(days=(self.weekday - local.weekday()) % 7)
        slot = self.on(day)
        return slot if slot > now else self.on(day + WEEK)

    def local_date(self, slot: datetime) -> date:
        return slot.astimezone(self.zone).date()


@dataclass(frozen=True)
class Schedule:
    """What `/sync weekly …` asks for."""

    weekday: int
    at: time
    zone: str
    team: tuple[int, ...] = ()
    locale: str | None = None


def get(*, session: Session, channel_id: str, platform: str = "slack") -> SyncSubscription | None:
    query = select(SyncSubscription).where(
        SyncSubscription.platform == platform, SyncSubscription.channel_id == channel_id
    )
    return session.exec(query).first()


def subscriptions(*, session: Session) -> list[SyncSubscription]:
    return list(session.exec(select(SyncSubscription).order_by(col(SyncSubscription.id))).all())


def subscribe(
    *,
    session: Session,
    channel_id: str,
    schedule: Schedule,
    actor: Any,
    at: datetime,
    platform: str = "slack",
) -> SyncSubscription:
    """Sets the channel's schedule (replacing any earlier one), audited. The new schedule takes
    effect now: a slot already past this week is not posted, the next one is."""
    values: dict[str, Any] = {
        "weekday": schedule.weekday,
        "hour": schedule.at.hour,
        "minute": schedule.at.minute,
        "zone": schedule.zone,
        "locale": schedule.locale,
        "team": list(dict.fromkeys(schedule.team)),
    }
    subscription = get(session=session, channel_id=channel_id, platform=platform)
    if subscription is None:
        subscription = SyncSubscription(
            platform=platform,
            channel_id=channel_id,
            created_by_id=actor.id if actor is not None else None,
            starts_at=at,
            created_at=at,
            updated_at=at,
            **values,
        )
        changes: dict[str, Any] = dict(values)
        action = "subscribe"
    else:
        changes = {
            key: [getattr(subscription, key), value]
            for key, value in values.items()
            if getattr(subscription, key) != value
        }
        for key, value in values.items():
            setattr(subscription, key, value)
        subscription.starts_at = at
        subscription.updated_at = at
        action = "change"
    session.add(subscription)
    session.flush()
    record(
        session=session,
        actor=actor,
        at=at,
        entity="sync",
        entity_id=subscription.id,
        action=action,
        changes={"channel_id": channel_id, **changes},
    )
    return subscription


def unsubscribe(
    *, session: Session, subscription: SyncSubscription, actor: Any, at: datetime
) -> None:
    record(
        session=session,
        actor=actor,
        at=at,
        entity="sync",
        entity_id=subscription.id,
        action="unsubscribe",
        changes={"channel_id": subscription.channel_id},
    )
    session.delete(subscription)
    session.flush()
