"""`kakehashi run`: migrations, then Slack (HTTP or Socket Mode), Teams, and the scheduler's
process (`bot.jobs_process`)."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.after_ack import AfterAck
from bot.connections import DEFAULT_LIMITS, CappedSite, ConnectionLimits, app_runner
from bot.crm_http import add_crm_routes
from bot.health import CHECK_SECONDS, Reach, SlackHealth, check_at_start, quiet_logger
from bot.jobs_process import JobsProcess
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings, SettingsError
from bot.slack import SlackDirectory, build_app, web_app
from bot.slack_answers import SETTLE, keep_answering
from jobs import telemetry

if TYPE_CHECKING:  # the Teams SDK is imported only by a process that serves Teams
    from bot.teams_transport import TeamsTokens as Tokens

log = logging.getLogger(__name__)

ZERO = timedelta()
DRAIN_SECONDS = 20.0
"""On SIGTERM, how long the work of acknowledged requests may take to finish before the process
exits anyway (what is left is taken up again at the next start)."""


class PortUnavailable(Exception):
    """The HTTP port cannot be listened on; the message says why, in one line."""

    def __init__(self, port: int, error: OSError) -> None:
        super().__init__(f"cannot listen on port {port}: {_why(error)}")


def _why(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "it is in use by another program; stop it, or choose another with --port or PORT"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); choose one above 1024"
    return error.strerror or error.__class__.__name__


def check_port(host: str, port: int) -> None:
    """Raises `PortUnavailable` when `port` cannot be listened on now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds it
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortUnavailable(port, exc) from None


def check_slack_settings(settings: Settings) -> None:
    if settings.slack_bot_token is None and not settings.teams_enabled:
        raise SettingsError(
            "SLACK_BOT_TOKEN is required by `kakehashi run` (the xoxb-… bot token), or Teams "
            "(TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET, TEAMS_TENANT_ID), or both"
        )
    if settings.slack_bot_token is None:
        return
    if settings.http_mode and settings.slack_signing_secret is None:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is required in HTTP mode "
            "(or set SLACK_APP_TOKEN to use Socket Mode)"
        )


def build_runtime(settings: Settings, tokens: Tokens | None = None) -> Runtime:
    """The process's first runtime: Slack's when Slack is served, else Teams'."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if token:
        directory = SlackDirectory(WebClient(token=token, base_url=settings.slack_api_url))
        return open_runtime(settings, lambda _engine: directory)
    from bot.adaptivecards import ROOM
    from bot.teams_directory import TeamsDirectory

    get = tokens.get if tokens is not None else None
    return open_runtime(settings, lambda engine: TeamsDirectory(engine, get), room=ROOM)


def teams_runtime(main: Runtime, tokens: Tokens | None) -> Runtime:
    """Teams' runtime: the same engine, commands and clock, Teams' directory and room."""
    from bot.adaptivecards import ROOM
    from bot.teams_directory import TeamsDirectory

    if main.directory.platform == "teams":
        return main
    get = tokens.get if tokens is not None else None
    directory = TeamsDirectory(main.engine, get)
    return replace(main, directory=directory, room=ROOM, on_outbox=main.on_outbox)


async def serve(
    settings: Settings,
    *,
    port: int,
    host: str = "0.0.0.0",
    limits: ConnectionLimits = DEFAULT_LIMITS,
    slack_check_seconds: float = CHECK_SECONDS,
) -> None:
    check_slack_settings(settings)
    if settings.teams_anonymous:  # unauthenticated Teams: this machine only
        host = "127.0.0.1"
    check_port(host, port)  # before the migrations and Slack: a taken port is one line
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url)
    reach = Reach.OK
    if settings.slack_enabled:
        reach = await check_at_start(client, app_token)  # a rejected token stops here
    tokens = teams_tokens(settings)
    runtime = await asyncio.to_thread(build_runtime, settings, tokens)
    telemetry.record_build()
    slack = SlackHealth(client, reach=reach, interval=slack_check_seconds)
    after_ack = AfterAck()
    jobs = JobsProcess(settings)
    app = build_app(runtime, client, after_ack) if settings.slack_enabled else None
    server = web_app(
        runtime,
        app if settings.http_mode else None,
        slack if settings.slack_enabled else None,
        limits,
        jobs.metrics,
    )
    on_teams = teams_runtime(runtime, tokens) if settings.teams_enabled else None
    teams_app = await serve_teams(settings, server, on_teams, tokens)
    add_crm_routes(server, settings=settings, engine=runtime.engine, clock=runtime.clock)
    runner = app_runner(server, limits)
    await runner.setup()
    # At start-up, on SQLite (one process), every unanswered request is a dead predecessor's;
    # replicas sharing PostgreSQL leave each other's recent ones alone.
    since = runtime.clock.now() - (SETTLE if runtime.engine.dialect.name != "sqlite" else ZERO)
    try:
        await CappedSite(runner, host, port, limits=limits).start()
    except OSError as exc:
        await runner.cleanup()
        jobs.stop()
        runtime.engine.dispose()
        raise PortUnavailable(port, exc) from None
    socket_mode = connect_socket_mode(app, app_token, slack) if app and app_token else None
    if settings.slack_enabled:
        slack.watch()
    jobs.start()  # the scheduler and delivery, in a process of their own
    runtime.on_outbox = jobs.kick
    if on_teams is not None:
        on_teams.on_outbox = jobs.kick
    log.info(
        "kakehashi listening on %s:%d (%s)",
        host,
        port,
        "HTTP mode" if socket_mode is None else "Socket Mode, health check only on HTTP",
    )
    answering = [
        asyncio.get_running_loop().create_task(loop)
        for loop in [
            *answering_loops(settings, runtime, on_teams, teams_app, after_ack, client, since),
            jobs.keep_running(),
        ]
    ]
    try:
        await _until_stopped()
    finally:
        log.info("stopping: no new requests; finishing those acknowledged")
        for loop in answering:
            loop.cancel()
        slack.stop()
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()  # stops listening, then waits for the requests being read
        if not await after_ack.drain(DRAIN_SECONDS):
            log.warning(
                "stopped before every acknowledged request was answered; the next start will"
                " answer the rest"
            )
        await asyncio.to_thread(jobs.stop)  # after the answers: they may have written to the outbox
        after_ack.shutdown()
        runtime.engine.dispose()


def teams_tokens(settings: Settings) -> Tokens | None:
    """The bot's Bot Connector token, when Teams is served with an app registration."""
    if not (settings.teams_enabled and settings.teams_client_id):
        return None
    from bot.teams_transport import TeamsTokens

    return TeamsTokens.from_settings(settings)


async def serve_teams(
    settings: Settings, server: web.Application, runtime: Runtime | None, tokens: Tokens | None
) -> Any:
    """`/api/messages` with the Teams handlers; the SDK is imported only when Teams is served."""
    if runtime is None:
        return None
    from bot.teams_app import add_teams_routes
    from bot.teams_routes import activity_handler

    return await add_teams_routes(settings, server, activity_handler(runtime), tokens)


def answering_loops(
    settings: Settings,
    runtime: Runtime,
    on_teams: Runtime | None,
    teams_app: Any,
    after_ack: AfterAck,
    client: AsyncWebClient,
    since: datetime,
) -> list[Coroutine[Any, Any, None]]:
    """What takes acknowledged requests up again: Slack's loop and Teams' loop, each its own."""
    every = settings.tick_seconds
    loops: list[Coroutine[Any, Any, None]] = []
    if settings.slack_enabled:
        loops.append(keep_answering(runtime, after_ack, client, every=every, since=since))
    if on_teams is not None and teams_app is not None:
        from bot import teams_routes

        loops.append(
            teams_routes.keep_answering(
                teams_app, on_teams, every=every, since=since, settle=SETTLE
            )
        )
    return loops


def connect_socket_mode(
    app: AsyncApp, app_token: str, slack: SlackHealth
) -> AsyncSocketModeHandler:
    """Socket Mode, connecting in the background: while Slack cannot be reached the client
    retries on its own (one log line an attempt), and the scheduler and delivery run meanwhile.
    `slack` reports whether it is connected."""
    handler = AsyncSocketModeHandler(
        app, app_token, logger=quiet_logger("kakehashi.socket_mode"), web_client=slack.client
    )
    slack.socket_connected = handler.client.is_connected
    slack.keep(handler.connect_async())  # type: ignore[no-untyped-call]
    return handler


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
