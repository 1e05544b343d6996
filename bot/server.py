"""`kakehashi run`: migrations, then Slack (HTTP or Socket Mode) and the scheduler, one process."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from datetime import timedelta

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.after_ack import AfterAck
from bot.connections import DEFAULT_LIMITS, CappedSite, ConnectionLimits, app_runner
from bot.crm_http import add_crm_routes
from bot.delivery import deliver_in_background, slack_delivery
from bot.health import CHECK_SECONDS, Reach, SlackHealth, check_at_start, quiet_logger
from bot.jobs_main import sweeps
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings, SettingsError
from bot.slack import SlackDirectory, build_app, web_app
from bot.slack_answers import SETTLE, keep_answering
from commands.addresses import Address, AddressKind, ChannelInfo, Directory, UserProfile
from jobs import telemetry
from jobs.delivery import Delivery, expire_claims
from jobs.scheduler import start_scheduler
from jobs.tick import run_sweeps

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


class NoDirectory:
    """The directory of a process without Slack: profiles come from the activities."""

    platform = "teams"

    def lookup(self, user_id: str) -> UserProfile | None:
        return None

    def by_email(self, email: str) -> UserProfile | None:
        return None

    def channel(self, channel_id: str) -> ChannelInfo | None:
        return None

    def kind(self, platform_id: str) -> AddressKind | None:
        return None

    def is_direct(self, channel_id: str) -> bool:
        return False

    def open_direct(self, user_id: str) -> Address:
        return Address(self.platform, AddressKind.PERSON, user_id)


def build_runtime(settings: Settings) -> Runtime:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    directory: Directory = (
        SlackDirectory(WebClient(token=token, base_url=settings.slack_api_url))
        if token
        else NoDirectory()
    )
    return open_runtime(settings, lambda _engine: directory)


def start_delivery(settings: Settings, runtime: Runtime) -> Delivery:
    """The delivery engine, kicked after every request that wrote to the outbox and once now
    (for what was owed while the process was down)."""
    delivery = slack_delivery(settings, runtime.engine)
    if runtime.engine.dialect.name == "sqlite":  # one process sends: its old claims are dead
        expire_claims(engine=runtime.engine, now=delivery.clock.now())
    runtime.on_outbox = deliver_in_background(delivery, runtime.clock)
    runtime.on_outbox()
    return delivery


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
    runtime = await asyncio.to_thread(build_runtime, settings)
    telemetry.record_build()
    slack = SlackHealth(client, reach=reach, interval=slack_check_seconds)
    after_ack = AfterAck()
    app = build_app(runtime, client, after_ack) if settings.slack_enabled else None
    server = web_app(
        runtime,
        app if settings.http_mode else None,
        slack if settings.slack_enabled else None,
        limits,
    )
    if settings.teams_enabled:  # the SDK is imported only by a process that serves Teams
        from bot.teams_app import add_teams_routes, answer_help

        await add_teams_routes(settings, server, answer_help(runtime))
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
        runtime.engine.dispose()
        raise PortUnavailable(port, exc) from None
    socket_mode = connect_socket_mode(app, app_token, slack) if app and app_token else None
    if settings.slack_enabled:
        slack.watch()
    # Teams deliveries go through bot.teams_transport once conversations are stored (issue 17).
    delivery = await asyncio.to_thread(start_delivery, settings, runtime)
    ticks = sweeps(runtime, delivery)
    scheduler = start_scheduler(
        lambda: run_sweeps(ticks, runtime.clock.now()), seconds=settings.tick_seconds
    )
    log.info(
        "kakehashi listening on %s:%d (%s)",
        host,
        port,
        "HTTP mode" if socket_mode is None else "Socket Mode, health check only on HTTP",
    )
    answering = asyncio.get_running_loop().create_task(
        keep_answering(runtime, after_ack, client, every=settings.tick_seconds, since=since)
    )
    try:
        await _until_stopped()
    finally:
        log.info("stopping: no new requests; finishing those acknowledged")
        answering.cancel()
        slack.stop()
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()  # stops listening, then waits for the requests being read
        if not await after_ack.drain(DRAIN_SECONDS):
            log.warning(
                "stopped before every acknowledged request was answered; the next start will"
                " answer the rest"
            )
        delivery.stop()
        scheduler.shutdown(wait=False)
        after_ack.shutdown()
        runtime.engine.dispose()


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
