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

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from functools import cache
from zoneinfo import available_timezones

from sqlmodel import Session

from commands.agenda.compose import AgendaScope, compose
from commands.agenda.shared import SharedReadings
from commands.context import Context, apply_profile
from commands.i18n import Translator, zone_of
from commands.markup import MENTIONED
from commands.policy import Permission, may, refuse
from commands.registry import CommandSpec
from commands.text import Safe, clip, fold, is_help, mention, strip_control
from commands.ui import Message, Note, Outcome
from storage import people
from storage.agenda import subscriptions as stored
from storage.agenda.subscriptions import Schedule, SyncSubscription

TEAM_LIMIT = 50
"""People in one agenda's team: enough for a sales and CS floor, short enough for a heading."""
QUOTE_LIMIT = 40
"""Longest piece of what was typed quoted back in an error."""

DAY_WORDS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("mon", "monday", "月", "月曜", "月曜日"),
        ("tue", "tues", "tuesday", "火", "火曜", "火曜日"),
        ("wed", "wednesday", "水", "水曜", "水曜日"),
        ("thu", "thur", "thurs", "thursday", "木", "木曜", "木曜日"),
        ("fri", "friday", "金", "金曜", "金曜日"),
        ("sat", "saturday", "土", "土曜", "土曜日"),
        ("sun", "sunday", "日", "日曜", "日曜日"),
    )
):
    DAY_WORDS.update(dict.fromkeys(_names, _number))

LANG_WORDS = {
    "en": "en",
    "english": "en",
    "英語": "en",
    "ja": "ja",
    "japanese": "ja",
    "日本語": "ja",
}
TEAM_WORDS = ("team", "チーム")
LANG_KEYWORDS = ("lang", "language", "言語")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_AM_PM = re.compile(r"(\d{1,2})(?::(\d{2}))?(am|pm)")
_JAPANESE_CLOCK = re.compile(r"(午前|午後)?(\d{1,2})時(?:(\d{1,2})分|半)?")


# ---- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Show:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Preview:
    pass


@dataclass(frozen=True)
class Off:
    pass


@dataclass(frozen=True)
class Weekly:
    weekday: int
    at: time
    zone: str | None
    """An IANA name; None: the subscriber's own time zone."""
    team: tuple[str, ...] = ()
    """Slack user IDs."""
    locale: str | None = None


@dataclass(frozen=True)
class Problem:
    """What was wrong, as a message key, with the piece of input it is about."""

    key: str
    value: str = ""


Request = Show | Help | Preview | Off | Weekly


def parse(text: str) -> Request | Problem:
    words = strip_control(text).split(maxsplit=1)
    sub = fold(words[0]) if words else ""
    rest = words[1] if len(words) > 1 else ""
    if not sub:
        return Show()
    if is_help(text):
        return Help()
    if sub in ("preview", "プレビュー") and not rest.strip():
        return Preview()
    if sub in ("off", "stop", "停止", "オフ") and not rest.strip():
        return Off()
    if sub in ("weekly", "毎週"):
        return parse_weekly(rest)
    return Problem("sync.unknown", clip(words[0], QUOTE_LIMIT))


def parse_weekly(text: str) -> Weekly | Problem:
    """`DAY HH:MM [ZONE] [team @a @b …] [lang ja|en]`."""
    words = text.split()
    if len(words) < 2:
        return Problem("sync.weekly_usage")
    weekday = DAY_WORDS.get(fold(words[0]).rstrip("."))
    if weekday is None:
        return Problem("sync.bad_day", clip(words[0], QUOTE_LIMIT))
    at = parse_time(words[1])
    if at is None:
        return Problem("sync.bad_time", clip(words[1], QUOTE_LIMIT))
    rest = words[2:]
    zone = None
    if rest and not _keyword(rest[0]):
        zone = canonical_zone(rest[0])
        if zone is None:
            return Problem("sync.bad_zone", clip(rest[0], QUOTE_LIMIT))
        rest = rest[1:]
    options = _options(rest)
    if isinstance(options, Problem):
        return options
    team, locale = options
    return Weekly(weekday=weekday, at=at, zone=zone, team=team, locale=locale)


def _options(words: list[str]) -> tuple[tuple[str, ...], str | None] | Problem:
    team: list[str] = []
    locale = None
    seen_team = False
    index = 0
    while index < len(words):
        word = fold(words[index])
        if word in TEAM_WORDS:
            seen_team = True
            index += 1
            while index < len(words) and not _keyword(words[index]):
                match = MENTIONED.fullmatch(words[index])
                if not match:
                    return Problem("sync.team_mention", clip(words[index], QUOTE_LIMIT))
                if match[1] not in team:
                    team.append(match[1])
                index += 1
            continue
        if word in LANG_KEYWORDS:
            value = fold(words[index + 1]) if index + 1 < len(words) else ""
            locale = LANG_WORDS.get(value)
            if locale is None:
                return Problem("sync.bad_lang", clip(value, QUOTE_LIMIT))
            index += 2
            continue
        return Problem("sync.unexpected", clip(words[index], QUOTE_LIMIT))
    if seen_team and not team:
        return Problem("sync.team_empty")
    if len(team) > TEAM_LIMIT:
        return Problem("sync.team_too_big", str(TEAM_LIMIT))
    return tuple(team), locale


def _keyword(word: str) -> bool:
    return fold(word) in TEAM_WORDS + LANG_KEYWORDS


def parse_time(word: str) -> time | None:
    """`09:00`, `9:00`, `９：００`, `9am`, `6:30pm`, `9時`, `午後3時半`."""
    folded = fold(word)
    hour = minute = None
    if match := _CLOCK.fullmatch(folded):
        hour, minute = int(match[1]), int(match[2])
    elif match := _AM_PM.fullmatch(folded):
        hour, minute = int(match[1]), int(match[2] or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match[3] == "pm" else 0)
    elif match := _JAPANESE_CLOCK.fullmatch(folded):
        hour = int(match[2])
        minute = int(match[3]) if match[3] else (30 if folded.endswith("半") else 0)
        if match[1] == "午後" and hour < 12:
            hour += 12
    if hour is None or minute is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


@cache
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def canonical_zone(word: str) -> str | None:
    """An IANA time zone name as written in the database, whatever its case: `asia/tokyo`."""
    return _zones().get(fold(word))


# ---- running ---------------------------------------------------------------------------------


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


def show_schedule(ctx: Context) -> Safe:
    channel = _channel(ctx)
    subscription = (
        stored.get(session=ctx.session, channel_id=channel, platform=ctx.directory.platform)
        if channel
        else None
    )
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
        person = people.get_or_create(
            session=ctx.session, user_id=user_id, platform=ctx.directory.platform
        )
        apply_profile(person, profile)
        ctx.session.add(person)
        assert person.id is not None
        ids.append(person.id)
    return tuple(ids)


def stop(ctx: Context) -> Safe:
    channel = _channel(ctx)
    subscription = (
        stored.get(session=ctx.session, channel_id=channel, platform=ctx.directory.platform)
        if channel
        else None
    )
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
    subscription = (
        stored.get(session=ctx.session, channel_id=channel, platform=ctx.directory.platform)
        if channel
        else None
    )
    days = silence_days(ctx)
    if subscription is None:
        agenda = compose(ctx.session, ctx.t, AgendaScope(end=ctx.now, silence_days=days))
        note = ctx.t("sync.preview.unscheduled" if channel else "sync.preview.direct")
    else:
        agenda = channel_agenda(
            ctx.session,
            subscription,
            end=ctx.now,
            default_locale=ctx.default_locale,
            silence_days=days,
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
) -> Message:
    """The agenda a subscribed channel gets for the week ending at `end`: its team's accounts,
    in its language, dates in its time zone; with `shared`, reading what the other agendas of
    the same sweep read once (`SharedReadings`)."""
    t = Translator(subscription.locale or default_locale, subscription.slot.zone, zone_shown=True)
    ids = people.user_ids(session=session, person_ids=set(subscription.team))
    scope = AgendaScope(
        end=end,
        silence_days=silence_days,
        owners=tuple(subscription.team) if subscription.team else None,
        team=tuple(ids[i] for i in subscription.team if i in ids),
    )
    return compose(session, t, scope, shared)


def silence_days(ctx: Context) -> Mapping[str, int]:
    """When an account counts as silent: the reminders' thresholds."""
    return ctx.reminder_rules.silence_days


SPEC = CommandSpec(name="sync", run=run)
