"""The Slack adapter: Bolt listeners that only convert types, and the HTTP / Socket Mode server.

Listeners write the request down (`storage.acknowledged`: so that a crash cannot lose it),
acknowledge and return; the command then runs on the pool of `bot.after_ack` (the database is
synchronous), so the event loop never waits on it, and `bot.slack_answers` sends the reply back
through `response_url` or the Web API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.logger import get_bolt_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blockkit, slack_ids
from bot.after_ack import AfterAck
from bot.connections import DEFAULT_LIMITS, ConnectionLimits
from bot.health import SlackHealth
from bot.response_url import ResponseUrls
from bot.runtime import Runtime
from bot.slack_answers import (
    WriteDown,
    answer_outcome,
    publish_homes,
    run_and_answer,
    run_rendered,
    show,
)
from bot.slack_ingress import RejectionLog, slack_ingress
from bot.slack_markup import plain_text
from commands import crm
from commands.addresses import Address, AddressKind, ChannelInfo, UserProfile
from jobs import telemetry
from jobs.crm import CrmUnavailable
from storage.db import is_reachable

log = logging.getLogger(__name__)


class _TokenFromEnvironment(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, then
    warns at every start that it will not use it. The client carries the token from the
    settings, so the warning says nothing an operator can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_TOKEN_FROM_ENVIRONMENT = _TokenFromEnvironment()


class SlackDirectory:
    """`users.info` with the locale, through the synchronous client (called from worker threads);
    what an id names, from its shape (`bot/slack_ids.py`)."""

    platform = slack_ids.PLATFORM

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def kind(self, platform_id: str) -> AddressKind | None:
        return slack_ids.kind(platform_id)

    def is_direct(self, channel_id: str) -> bool:
        return slack_ids.is_direct(channel_id)

    def open_direct(self, user_id: str) -> Address:
        """Slack posts to a user id as a DM (delivery opens the conversation when needed)."""
        return Address(self.platform, AddressKind.PERSON, user_id)

    def lookup(self, user_id: str) -> UserProfile | None:
        try:
            user = self.client.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as exc:
            log.warning("users.info %s failed: %s", user_id, exc.response.get("error"))
            return None
        profile = user.get("profile") or {}
        return UserProfile(
            user_id=user_id,
            name=profile.get("display_name") or user.get("real_name") or user.get("name") or "",
            tz=user.get("tz"),
            locale=user.get("locale"),
            email=profile.get("email"),
            is_bot=bool(user.get("is_bot")) or user_id == slack_ids.SLACKBOT,
            deleted=bool(user.get("deleted")),
        )

    def by_email(self, email: str) -> UserProfile | None:
        """`users.lookupByEmail` (a won deal's owner, PRODUCT §14); None when no one has it."""
        try:
            user_id = self.client.users_lookupByEmail(email=email)["user"]["id"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error == "users_not_found":
                return None
            # Not an answer about the person (rate limited, Slack down): the event waits.
            raise CrmUnavailable(f"Slack users.lookupByEmail: {error}") from None
        return self.lookup(user_id)

    def channel(self, channel_id: str) -> ChannelInfo | None:
        """`conversations.info`: a private channel the bot is not in reads as not found (None).
        When Slack will not say (e.g. a private channel without `groups:read`), the bot is
        assumed to be in it: a post that fails later is recorded with Slack's reason."""
        try:
            channel = self.client.conversations_info(channel=channel_id)["channel"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("conversations.info %s failed: %s", channel_id, error)
            return None if error == "channel_not_found" else ChannelInfo(channel_id, True)
        return ChannelInfo(
            channel_id=channel_id,
            is_member=bool(channel.get("is_member", True)),
            is_archived=bool(channel.get("is_archived")),
        )


def build_app(
    runtime: Runtime, client: AsyncWebClient, after_ack: AfterAck | None = None
) -> AsyncApp:
    """One Bolt app per call: listeners for every registered command, button and form; the work
    after each acknowledgement runs on `after_ack`."""
    work = after_ack or AfterAck()
    settings = runtime.settings
    secret = settings.slack_signing_secret
    get_bolt_logger(AsyncApp).addFilter(_TOKEN_FROM_ENVIRONMENT)  # once: the same filter
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        request_verification_enabled=settings.http_mode,
        # Listeners return once they have acknowledged (the rest is `AfterAck.later`): the
        # acknowledgement goes out as they return, not when Bolt's 10 ms poll finds it.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    app.use(_timed)
    responses = ResponseUrls(settings.slack_api_url)
    write_down = WriteDown(runtime)
    for name in runtime.registry.commands:
        app.command(f"/{name}")(_command_listener(runtime, work, write_down, responses, name))
    for action_id in runtime.registry.actions:
        app.action(action_id)(_action_listener(runtime, work, write_down, responses, action_id))
    for callback_id in runtime.registry.forms:
        app.view(callback_id)(_form_listener(runtime, work, callback_id))
    app.event("app_home_opened")(_home_listener(runtime, work))
    for callback_id, action_id in MESSAGE_SHORTCUTS.items():
        app.shortcut(callback_id)(_message_shortcut_listener(runtime, work, responses, action_id))
    return app


async def _timed(body: dict[str, Any], next: Any) -> None:
    """Bolt middleware: notes when the request arrived, and what kind it is, for the time to
    acknowledge and to answer it (`bot.after_ack`). Left set: the listener runs after the
    middleware returns, in the request's own task."""
    telemetry.RECEIVED.set((_request_kind(body), time.monotonic()))
    await next()


def _request_kind(body: dict[str, Any]) -> str:
    if "command" in body:
        return "command"
    return {"block_actions": "action", "view_submission": "form"}.get(
        str(body.get("type")), "event"
    )


MESSAGE_SHORTCUTS = {
    "message.record_promise": crm.RECORD_PROMISE,
    "message.log_touch": crm.LOG_TOUCH,
}
"""Message shortcuts (manifest `shortcuts`, type message) → the button they act as."""


def _message_shortcut_listener(
    runtime: Runtime, work: AfterAck, responses: ResponseUrls, action_id: str
) -> Any:
    """**Record as promise** / **Log as touch** on a message: its form, prefilled with the
    message's text and a link back to it (PRODUCT §14)."""

    async def on_shortcut(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        respond = responses.responder(body.get("response_url"))
        message = body.get("message") or {}
        channel_id = (body.get("channel") or {}).get("id")
        user_id = body["user"]["id"]

        async def answer() -> None:
            link = await _permalink(client, channel_id, message.get("ts"))
            value = crm.shortcut_text(_unescape(slack_ids.neutral(message.get("text") or "")), link)
            answer = await work.run(
                run_rendered, runtime.press, user_id, action_id, value, channel_id
            )
            assert answer is not None
            outcome, shown = answer
            await show(
                outcome,
                shown,
                respond=respond,
                client=client,
                trigger_id=body.get("trigger_id"),
                channel_id=channel_id,
            )

        work.later(answer())

    return on_shortcut


async def _permalink(client: AsyncWebClient, channel_id: str | None, ts: str | None) -> str | None:
    if not channel_id or not ts:
        return None
    try:
        link = (await client.chat_getPermalink(channel=channel_id, message_ts=ts)).get("permalink")
    except SlackApiError as exc:
        log.info("chat.getPermalink failed: %s", exc.response.get("error"))
        return None
    return str(link) if link else None


def _unescape(text: str) -> str:
    """A message's text as it was typed: Slack escapes only these three."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _command_listener(
    runtime: Runtime, work: AfterAck, write_down: WriteDown, responses: ResponseUrls, name: str
) -> Any:
    async def on_command(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        respond = responses.responder(body.get("response_url"))
        request = {
            "kind": "command",
            "user_id": body["user_id"],
            "name": name,
            # Commands see Slack's mentions as the neutral token, never `<@U…>`.
            "text": slack_ids.neutral(body.get("text") or ""),
            "channel_id": body.get("channel_id"),
            "response_url": body.get("response_url"),
        }
        request_id = await write_down(request)  # before the acknowledgement
        await ack()
        work.later(
            run_and_answer(
                runtime, work, client, request, request_id, body.get("trigger_id"), respond
            )
        )

    return on_command


def _action_listener(
    runtime: Runtime,
    work: AfterAck,
    write_down: WriteDown,
    responses: ResponseUrls,
    action_id: str,
) -> Any:
    async def on_action(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        respond = responses.responder(body.get("response_url"))
        request = {
            "kind": "action",
            "user_id": body["user"]["id"],
            "action_id": action_id,
            "value": action.get("value") or "",
            "channel_id": (body.get("channel") or {}).get("id"),
            "response_url": body.get("response_url"),
            "home": (body.get("view") or {}).get("type") == "home",
        }
        request_id = await write_down(request)  # before the acknowledgement
        await ack()
        work.later(
            run_and_answer(
                runtime, work, client, request, request_id, body.get("trigger_id"), respond
            )
        )

    return on_action


def _form_listener(runtime: Runtime, work: AfterAck, callback_id: str) -> Any:
    async def on_submit(
        ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        metadata, channel_id = blockkit.read_metadata(view.get("private_metadata") or "")
        user_id = body["user"]["id"]
        request = {"kind": "form", "user_id": user_id, "channel_id": channel_id}
        # Before the acknowledgement, which carries the field errors: not deferred. The answer
        # it owes is written down with its work, so that an error on the way to the person (a
        # 429) leaves it to be answered again.
        outcome = await asyncio.to_thread(
            runtime.submit,
            user_id,
            callback_id,
            blockkit.read_state(view),
            metadata,
            channel_id,
            record=request,
        )
        if outcome.errors:
            # Slack shows field errors as plain text: no markup, no escaping.
            errors = {field: plain_text(text) for field, text in outcome.errors.items()}
            await ack(response_action="errors", errors=errors)
            return
        if outcome.form:
            await ack(
                response_action="update", view=blockkit.modal(outcome.form, channel_id=channel_id)
            )
        else:
            await ack()
        work.later(answer_outcome(runtime, work, client, request, outcome, None, None))

    return on_submit


def _home_listener(runtime: Runtime, work: AfterAck) -> Any:
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            work.later(publish_homes(runtime, work, client, {event["user"]}))

    return on_home_opened


def web_app(
    runtime: Runtime,
    app: AsyncApp | None,
    slack: SlackHealth | None = None,
    limits: ConnectionLimits = DEFAULT_LIMITS,
    metrics: CollectorRegistry = REGISTRY,
) -> web.Application:
    """`POST /slack/events` (Bolt, HTTP mode), `GET /healthz` (200 when the database answers and
    `slack` works, else 503 naming what is wrong) and `GET /metrics` (`metrics`, and the
    outbox's backlog). In Socket Mode (`app` None) only the last two are served."""
    server = app.web_app(path="/slack/events") if app is not None else web.Application()
    secret = runtime.settings.slack_signing_secret
    if app is not None:
        # First: nothing reaches Bolt, or any other middleware, before its signature is checked.
        signing_secret = secret.get_secret_value() if secret else None
        ingress = slack_ingress(signing_secret, RejectionLog(), body_seconds=limits.idle_seconds)
        server.middlewares.insert(0, ingress)

    async def healthz(_request: web.Request) -> web.Response:
        database = await asyncio.to_thread(is_reachable, runtime.engine)
        problems = await slack.problems() if slack is not None else {}
        ok = database and not problems
        return web.json_response(
            {"ok": ok, "database": "up" if database else "down", **problems},
            status=200 if ok else 503,
        )

    server.router.add_get("/healthz", healthz)
    server.router.add_get("/metrics", metrics_endpoint(runtime, metrics))
    return server


def metrics_endpoint(runtime: Runtime, counted: CollectorRegistry = REGISTRY) -> Any:
    """`GET /metrics`: the counters (this process's, and the scheduler process's when it has
    one), and the outbox's backlog read from the database; on a worker thread, so the event loop
    never waits for the database or the files."""
    backlog = CollectorRegistry(auto_describe=True)
    backlog.register(telemetry.OutboxCollector(runtime.engine, runtime.clock.now))

    def both() -> bytes:
        return generate_latest(counted) + generate_latest(backlog)

    async def metrics(_request: web.Request) -> web.Response:
        body = await asyncio.to_thread(both)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics
