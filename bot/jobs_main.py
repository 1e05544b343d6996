"""The scheduler's sweeps, and `kakehashi jobs run-due | preview | failed` (PRODUCT §3).

`run` ticks `sweeps(...)` every KAKEHASHI_TICK_SECONDS; `jobs run-due` runs the same list once, so
operators can see and catch up what is due. Order matters: sweeps that find what has come due
(and write it to the outbox) run before the delivery sweep, which sends it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

from bot.crm_jobs import crm_from
from bot.health import Reach, probe_client, rejected, try_call_now
from bot.reminder_jobs import reminders_from
from bot.runtime import Runtime
from bot.senders import platform_deliveries
from bot.settings import Settings, SettingsError
from jobs.agenda import Agendas
from jobs.delivery import Delivery, due_messages, failed_messages
from jobs.reminders.sweep import Reminders
from jobs.telemetry import timed_sweep
from jobs.tick import Sweep, run_sweeps
from storage import crm_events
from storage.db import make_engine, session_scope, upgrade
from storage.outbox import OutboxMessage


class BadInstant(ValueError):
    """`--at` is not an ISO-8601 date and time."""


def sweeps(runtime: Runtime, *deliveries: Delivery) -> list[Sweep]:
    """Every sweep of one tick, in order: whatever enqueues messages first, delivery last (one
    sweep per platform's engine)."""
    crm = crm_from(runtime)
    return [
        timed_sweep("reminders", reminders_of(runtime).sweep),
        timed_sweep("agendas", agendas_from(runtime).sweep),
        *([timed_sweep("crm", crm.sweep)] if crm else []),
        *(timed_sweep("delivery", delivery.sweep) for delivery in deliveries),
    ]


def reminders_of(runtime: Runtime) -> Reminders:
    """Reminders with the runtime's directory (profiles refreshed) and room (DMs' size)."""
    return reminders_from(runtime.settings, runtime.engine, runtime.directory, runtime.room)


def agendas_from(runtime: Runtime) -> Agendas:
    """Weekly sync agendas, in `KAKEHASHI_LOCALE` unless a channel chose its language."""
    settings = runtime.settings
    days = settings.reminder_rules.silence_days
    return Agendas(runtime.engine, settings.locale, days, room=runtime.room)


def previews(runtime: Runtime) -> list[Sweep]:
    """What each sweep would do, sending nothing."""

    def outbox_preview(now: datetime) -> list[str]:
        with session_scope(runtime.engine) as session:
            return [describe(row) for row in due_messages(session=session, now=now)]

    return [
        reminders_of(runtime).preview,
        agendas_from(runtime).preview,
        outbox_preview,
    ]


def describe(row: OutboxMessage) -> str:
    where = row.recipient if row.platform == "slack" else f"{row.platform}:{row.recipient}"
    what = f"{row.kind} {row.key} → {where}"
    return f"{what} (update of {row.update_of})" if row.update_of else what


def parse_instant(text: str | None, settings: Settings) -> datetime | None:
    """`--at`: ISO-8601; without an offset it is read in KAKEHASHI_TIMEZONE."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadInstant(
            f'--at must be an ISO-8601 date and time such as 2026-11-23T09:05+09:00, got "{text}"'
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=settings.zone)
    return at.astimezone(UTC)


def run_due(
    runtime: Runtime,
    delivery: Delivery | list[Delivery],
    at: datetime | None,
    out: TextIO | None = None,
) -> int:
    deliveries = delivery if isinstance(delivery, list) else [delivery]
    for line in run_sweeps(sweeps(runtime, *deliveries), at or runtime.clock.now()):
        print(line, file=out or sys.stdout)
    return 0


def preview(runtime: Runtime, at: datetime | None, out: TextIO | None = None) -> int:
    for line in run_sweeps(previews(runtime), at or runtime.clock.now()):
        print(line, file=out or sys.stdout)
    return 0


def list_failed(settings: Settings, out: TextIO | None = None) -> int:
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            rows = failed_messages(session=session)
            for row in rows:
                when = (row.sent_at or row.not_before).isoformat(timespec="seconds")
                print(
                    f"{when} {describe(row)}: {row.last_error or 'unknown reason'}",
                    file=out or sys.stdout,
                )
            for event in crm_events.failed(session=session):
                when = (event.processed_at or event.received_at).isoformat(timespec="seconds")
                print(
                    f"{when} crm {event.source} {event.event_id}: {event.last_error}",
                    file=out or sys.stdout,
                )
            if not rows and not crm_events.failed(session=session):
                print("No delivery has failed.", file=out or sys.stdout)
    finally:
        engine.dispose()
    return 0


def jobs_command(command: str, settings: Settings, at_text: str | None) -> int:
    """Runs `kakehashi jobs COMMAND`."""
    if command == "failed":
        return list_failed(settings)
    from bot.server import build_runtime

    at = parse_instant(at_text, settings)
    if command == "run-due" and not (settings.slack_enabled or settings.teams_enabled):
        raise SettingsError(
            "SLACK_BOT_TOKEN or Teams (TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET, TEAMS_TENANT_ID) "
            "is required by `kakehashi jobs run-due`"
        )
    runtime = build_runtime(settings)
    try:
        if command == "preview":
            return preview(runtime, at)
        if settings.slack_enabled and not slack_reachable(settings, runtime, at):
            return 1
        return run_due(runtime, platform_deliveries(settings, runtime.engine), at)
    finally:
        runtime.engine.dispose()


def slack_reachable(settings: Settings, runtime: Runtime, at: datetime | None) -> bool:
    """`auth.test` before a sweep: a rejected token raises `SettingsError`; when Slack cannot be
    reached, one line on stderr says what stays queued (nothing is swept: the next run finds
    the same), and False."""
    reach, error = try_call_now(probe_client(settings).auth_test)
    if reach is Reach.REJECTED:
        raise rejected("SLACK_BOT_TOKEN", error)
    if reach is Reach.OK:
        return True
    with session_scope(runtime.engine) as session:
        queued = len(due_messages(session=session, now=at or runtime.clock.now()))
    print(
        f"kakehashi: Slack cannot be reached ({error}); nothing was sent: {queued} due "
        f"message(s) stay queued, and reminders and agendas due are found again by the next "
        f"run-due or by kakehashi run",
        file=sys.stderr,
    )
    return False
