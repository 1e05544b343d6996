"""`/sync`: the channel's weekly Sales × CS agenda (PRODUCT §4, §9).

/sync                                   the channel's schedule and its next post
/sync weekly DAY HH:MM [ZONE] [team @a @b …] [lang ja|en]
                                        subscribes the channel (one schedule per channel)
/sync preview                           the agenda now, only to the caller
/sync off                               stops it

The bot must be in the channel to post there: subscribing checks it (Slack `conversations.info`)
and, when it is not, explains how to invite it and saves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from commands.agenda.compose import AgendaScope, compose
from commands.agenda.shared import SharedReadings
from commands.agenda.words import (
    TEAM_LIMIT,
    Help,
    Off,
    Preview,
    Problem,
    Show,
    Weekly,
    canonical_zone,
    parse,
    parse_time,
)
from commands.context import Context, remember
from commands.i18n import Translator, zone_of
from commands.policy import Permission, may, refuse
from commands.registry import CommandSpec
from commands.text import Safe, mention
from commands.ui import Message, Note, Outcome, Room
from storage import people
from storage.agenda import subscriptions as stored
from storage.agenda.subscriptions import Schedule, SyncSubscription

__all__ = [
    "SPEC",
    "TEAM_LIMIT",
    "Help",
    "Off",
    "Preview",
    "Problem",
    "Show",
    "Weekly",
    "canonical_zone",
    "channel_agenda",
    "parse",
    "parse_time",
    "run",
]


def run(ctx: Context, text: str) -> Outcome:
    request = parse(text)
    match request:
        case Problem(key, value):
            return _reply(ctx.t(key, value=value) + "\n" + ctx.t("sync.usage"))
        case Help():
            return _reply(ctx.t("sync.usage"))
        case Show():
            return _reply(show_schedule(ctx))
        case Preview():
            return Outcome(reply=preview(ctx))
        case Off():
            return _reply(stop(ctx))
        case Weekly():
            return _reply(subscribe(ctx, request))
    raise AssertionError(request)


def _reply(markup: str) -> Outcome:
    return Outcome(reply=Message.plain(markup))


def _channel(ctx: Context) -> str | None:
    """The channel the command was typed in; None for a DM (agendas go to channels)."""
    if not ctx.channel_id or ctx.directory.is_direct(ctx.channel_id):
        return None
    return ctx.channel_id


def _subscription(ctx: Context, channel: str | None) -> SyncSubscription | None:
    """The channel's schedule on the platform that asked; None in a DM or without one."""
    if channel is None:
        return None
    return stored.get(session=ctx.session, channel_id=channel, platform=ctx.directory.platform)


def show_schedule(ctx: Context) -> Safe:
    channel = _channel(ctx)
    subscription = _subscription(ctx, channel)
    if subscription is None:
        return ctx.t("sync.none")
    return describe(ctx, subscription, "sync.schedule")


def describe(ctx: Context, subscription: SyncSubscription, key: str) -> Safe:
    """The schedule, its team and language, and its next post in the channel's own zone."""
    slot = subscription.slot
    in_zone = Translator(ctx.t.locale, slot.zone)
    team = user_ids_of(ctx, subscription.team)
    return ctx.t(
        key,
        day=ctx.t(f"sync.day.{subscription.weekday}"),
        time=f"{subscription.hour:02d}:{subscription.minute:02d}",
        zone=subscription.zone,
        next=in_zone.datetime(slot.next(ctx.now)),
        team=ctx.t("sync.team", team=Safe(", ".join(map(mention, team))))
        if team
        else ctx.t("sync.everyone"),
        lang=ctx.t(f"sync.lang.{subscription.locale}")
        if subscription.locale
        else ctx.t("sync.lang.default", lang=ctx.t(f"sync.lang.{ctx.default_locale}")),
    )


def user_ids_of(ctx: Context, person_ids: list[int]) -> list[str]:
    ids = people.user_ids(session=ctx.session, person_ids=set(person_ids))
    return [ids[i] for i in person_ids if i in ids]


def subscribe(ctx: Context, request: Weekly) -> Safe:
    channel = _channel(ctx)
    if channel is None:
        return ctx.t("sync.not_in_dm")
    existing = stored.get(session=ctx.session, channel_id=channel, platform=ctx.directory.platform)
    owners = {existing.created_by_id} if existing else set()
    if not may(ctx.actor, Permission.MANAGE_SYNC, owners=owners):
        return refuse(ctx, Permission.MANAGE_SYNC, owners=owners, about=f"sync:{channel}")
    team = _team(ctx, request.team)
    if isinstance(team, Safe):
        return team
    info = ctx.directory.channel(channel)
    if info is None or not info.is_member:
        return ctx.t("sync.invite")
    if info.is_archived:
        return ctx.t("sync.archived")
    zone = request.zone or zone_of(ctx.actor.tz, ctx.default_zone).key
    schedule = Schedule(request.weekday, request.at, zone, team, request.locale)
    subscription = stored.subscribe(
        session=ctx.session,
        channel_id=channel,
        schedule=schedule,
        actor=ctx.actor,
        at=ctx.now,
        platform=ctx.directory.platform,
    )
    return describe(ctx, subscription, "sync.subscribed")


def _team(ctx: Context, user_ids: tuple[str, ...]) -> tuple[int, ...] | Safe:
    """Person ids of the team picked with @, or what is wrong with one of them."""
    ids = []
    for user_id in user_ids:
        profile = ctx.directory.lookup(user_id)
        if profile is None or profile.deleted:
            return ctx.t("sync.unknown_person", who=mention(user_id))
        if profile.is_bot:
            return ctx.t("sync.bot", who=mention(user_id))
        person = remember(ctx.session, ctx.directory.platform, profile, ctx.now)
        assert person.id is not None
        ids.append(person.id)
    return tuple(ids)


def stop(ctx: Context) -> Safe:
    channel = _channel(ctx)
    subscription = _subscription(ctx, channel)
    if subscription is None:
        return ctx.t("sync.none")
    owners = {subscription.created_by_id}
    if not may(ctx.actor, Permission.MANAGE_SYNC, owners=owners):
        return refuse(ctx, Permission.MANAGE_SYNC, owners=owners, about=f"sync:{channel}")
    stored.unsubscribe(session=ctx.session, subscription=subscription, actor=ctx.actor, at=ctx.now)
    return ctx.t("sync.stopped")


def preview(ctx: Context) -> Message:
    """What the channel would get now (its team, language and zone); in a channel without a
    schedule or a DM, the whole portfolio in the caller's own language and zone."""
    channel = _channel(ctx)
    subscription = _subscription(ctx, channel)
    days = silence_days(ctx)
    if subscription is None:
        scope = AgendaScope(end=ctx.now, silence_days=days, room=ctx.room)
        agenda = compose(ctx.session, ctx.t, scope)
        note = ctx.t("sync.preview.unscheduled" if channel else "sync.preview.direct")
    else:
        agenda = channel_agenda(
            ctx.session,
            subscription,
            end=ctx.now,
            default_locale=ctx.default_locale,
            silence_days=days,
            room=ctx.room,
        )
        note = ctx.t("sync.preview.scheduled", schedule=describe(ctx, subscription, "sync.when"))
    return Message(text=agenda.text, blocks=(Note(note), *agenda.blocks))


def channel_agenda(
    session: Session,
    subscription: SyncSubscription,
    *,
    end: datetime,
    default_locale: str,
    silence_days: Mapping[str, int],
    shared: SharedReadings | None = None,
    room: Room | None = None,
) -> Message:
    """The agenda a subscribed channel gets for the week ending at `end`: its team's accounts,
    in its language, dates in its time zone, within the platform's `room`; with `shared`,
    reading what the other agendas of the same sweep read once (`SharedReadings`)."""
    t = Translator(subscription.locale or default_locale, subscription.slot.zone, zone_shown=True)
    ids = people.user_ids(session=session, person_ids=set(subscription.team))
    scope = AgendaScope(
        end=end,
        silence_days=silence_days,
        owners=tuple(subscription.team) if subscription.team else None,
        team=tuple(ids[i] for i in subscription.team if i in ids),
        room=room or Room(),
    )
    return compose(session, t, scope, shared)


def silence_days(ctx: Context) -> Mapping[str, int]:
    """When an account counts as silent: the reminders' thresholds."""
    return ctx.reminder_rules.silence_days


SPEC = CommandSpec(name="sync", run=run)
