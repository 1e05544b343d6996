"""`kakehashi run`: migrations, then Slack (HTTP or Socket Mode) and the scheduler, one process."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.after_ack import AfterAck
from bot.crm_http import add_crm_routes
from bot.delivery import deliver_in_background, slack_delivery
from bot.jobs_main import sweeps
from bot.runtime import Runtime
from bot.settings import Settings, SettingsError
from bot.slack import SlackDirectory, build_app, web_app
from commands.context import SystemClock
from commands.registry import build_registry
from jobs.delivery import Delivery, expire_claims
from jobs.scheduler import start_scheduler
from jobs.tick import run_sweeps
from storage.db import make_engine, session_scope, upgrade
from storage.people import seed_managers

log = logging.getLogger(__name__)

GC_THRESHOLDS = (20_000, 10, 10)


def check_slack_settings(settings: Settings) -> None:
    if settings.slack_bot_token is None:
        raise SettingsError("SLACK_BOT_TOKEN is required by `kakehashi run` (the xoxb-… bot token)")
    if settings.http_mode and settings.slack_signing_secret is None:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is required in HTTP mode "
            "(or set SLACK_APP_TOKEN to use Socket Mode)"
        )


def build_runtime(settings: Settings) -> Runtime:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    engine = make_engine(settings.database_url)
    upgrade(engine)
    clock = SystemClock()
    with session_scope(engine) as session:
        seed_managers(session=session, user_ids=settings.managers, at=clock.now())
    directory = SlackDirectory(WebClient(token=token, base_url=settings.slack_api_url))
    return Runtime(
        settings=settings,
        engine=engine,
        registry=build_registry(),
        clock=clock,
        directory=directory,
    )


def start_delivery(settings: Settings, runtime: Runtime) -> Delivery:
    """The delivery engine, kicked after every request that wrote to the outbox and once now
    (for what was owed while the process was down)."""
    delivery = slack_delivery(settings, runtime.engine)
    if runtime.engine.dialect.name == "sqlite":  # one process sends: its old claims are dead
        expire_claims(engine=runtime.engine, now=delivery.clock.now())
    runtime.on_outbox = deliver_in_background(delivery, runtime.clock)
    runtime.on_outbox()
    return delivery


async def serve(settings: Settings, *, port: int, host: str = "0.0.0.0") -> None:
    check_slack_settings(settings)
    runtime = await asyncio.to_thread(build_runtime, settings)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url)
    after_ack = AfterAck()
    app = build_app(runtime, client, after_ack)
    server = web_app(runtime, app if settings.http_mode else None, after_ack)
    add_crm_routes(server, settings=settings, engine=runtime.engine, clock=runtime.clock)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    socket_mode = None
    if settings.slack_app_token is not None:
        socket_mode = AsyncSocketModeHandler(
            app, settings.slack_app_token.get_secret_value(), web_client=client
        )
        await socket_mode.connect_async()  # type: ignore[no-untyped-call]
    delivery = await asyncio.to_thread(start_delivery, settings, runtime)
    ticks = sweeps(runtime, delivery)
    scheduler = start_scheduler(
        lambda: run_sweeps(ticks, runtime.clock.now()), seconds=settings.tick_seconds
    )
    # What start-up made lives as long as the process: kept out of the collector's full passes.
    # And young objects are collected every 20,000 allocations rather than 700: a burst of
    # requests parks their work (`bot.after_ack`), and with the default thresholds that work was
    # promoted and walked by full passes of up to 85 ms in the middle of the burst (bench/).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    log.info(
        "kakehashi listening on %s:%d (%s)",
        host,
        port,
        "HTTP mode" if socket_mode is None else "Socket Mode, health check only on HTTP",
    )
    try:
        await _until_stopped()
    finally:
        delivery.stop()
        scheduler.shutdown(wait=False)
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
        after_ack.shutdown()
        runtime.engine.dispose()


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
