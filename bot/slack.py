"""The Slack adapter: Bolt listeners that only convert types, and the HTTP / Socket Mode server.

Listeners acknowledge at once and return; the command then runs in a worker thread (the database
is synchronous), after the requests waiting for their acknowledgement (`bot.after_ack`), so the
event loop never waits on it; the reply goes back through `response_url` or the Web API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.logger import get_bolt_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blockkit
from bot.after_ack import AfterAck
from bot.runtime import Runtime
from commands.context import ChannelInfo, UserProfile
from commands.text import plain
from commands.ui import Outcome
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
    """`users.info` with the locale, through the synchronous client (called from worker threads)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

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
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
            deleted=bool(user.get("deleted")),
        )

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
    after each acknowledgement runs on `after_ack` (give `web_app` the same one)."""
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
    for name in runtime.registry.commands:
        app.command(f"/{name}")(_command_listener(runtime, work, name))
    for action_id in runtime.registry.actions:
        app.action(action_id)(_action_listener(runtime, work, action_id))
    for callback_id in runtime.registry.forms:
        app.view(callback_id)(_form_listener(runtime, work, callback_id))
    app.event("app_home_opened")(_home_listener(runtime, work))
    return app


def _command_listener(runtime: Runtime, work: AfterAck, name: str) -> Any:
    async def on_command(
        ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        await ack()

        async def answer() -> None:
            outcome = await work.run(
                runtime.run_command,
                body["user_id"],
                name,
                body.get("text") or "",
                body.get("channel_id"),
            )
            await _show(
                outcome,
                respond=respond,
                client=client,
                trigger_id=body.get("trigger_id"),
                channel_id=body.get("channel_id"),
            )
            await publish_homes(runtime, work, client, outcome.home_changed)

        work.later(answer())

    return on_command


def _action_listener(runtime: Runtime, work: AfterAck, action_id: str) -> Any:
    async def on_action(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        channel_id = (body.get("channel") or {}).get("id")
        user_id = body["user"]["id"]

        async def answer() -> None:
            outcome = await work.run(
                runtime.press, user_id, action_id, action.get("value") or "", channel_id
            )
            if (body.get("view") or {}).get("type") == "home":
                await _show_on_home(outcome, client=client, user_id=user_id, body=body)
                await publish_homes(runtime, work, client, outcome.home_changed | {user_id})
                return
            await _show(
                outcome,
                respond=respond,
                client=client,
                trigger_id=body.get("trigger_id"),
                channel_id=channel_id,
            )
            await publish_homes(runtime, work, client, outcome.home_changed)

        work.later(answer())

    return on_action


def _form_listener(runtime: Runtime, work: AfterAck, callback_id: str) -> Any:
    async def on_submit(
        ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        metadata, channel_id = blockkit.read_metadata(view.get("private_metadata") or "")
        user_id = body["user"]["id"]
        # Before the acknowledgement, which carries the field errors: not deferred.
        outcome = await asyncio.to_thread(
            runtime.submit, user_id, callback_id, blockkit.read_state(view), metadata, channel_id
        )
        if outcome.errors:
            # Slack shows field errors as plain text: no markup, no escaping.
            errors = {field: plain(text) for field, text in outcome.errors.items()}
            await ack(response_action="errors", errors=errors)
            return
        if outcome.form:
            await ack(
                response_action="update", view=blockkit.modal(outcome.form, channel_id=channel_id)
            )
        else:
            await ack()

        async def answer() -> None:
            if outcome.reply:
                await _tell(
                    client,
                    user_id=user_id,
                    channel_id=channel_id,
                    message=blockkit.message_kwargs(outcome.reply),
                )
            await publish_homes(runtime, work, client, outcome.home_changed)

        work.later(answer())

    return on_submit


def _home_listener(runtime: Runtime, work: AfterAck) -> Any:
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            work.later(publish_homes(runtime, work, client, {event["user"]}))

    return on_home_opened


async def publish_homes(
    runtime: Runtime, work: AfterAck, client: AsyncWebClient, user_ids: Iterable[str]
) -> None:
    """Publishes each person's Home tab as it is now (`views.publish`)."""
    for user_id in sorted(user_ids):
        view = await work.run(runtime.home, user_id)
        try:
            await client.views_publish(user_id=user_id, view=blockkit.home(view))
        except SlackApiError as exc:
            log.warning("views.publish %s failed: %s", user_id, exc.response.get("error"))


async def _show_on_home(
    outcome: Outcome, *, client: AsyncWebClient, user_id: str, body: dict[str, Any]
) -> None:
    """A button on the Home tab: forms open as usual; a reply goes to the person's DM with the
    bot; a redrawn message is not needed, as the Home tab is republished."""
    trigger_id = body.get("trigger_id")
    if outcome.form and trigger_id:
        await client.views_open(trigger_id=trigger_id, view=blockkit.modal(outcome.form))
    if outcome.reply:
        await client.chat_postMessage(channel=user_id, **blockkit.message_kwargs(outcome.reply))


async def _show(
    outcome: Outcome,
    *,
    respond: Any,
    client: AsyncWebClient,
    trigger_id: str | None,
    channel_id: str | None,
) -> None:
    if outcome.form and trigger_id:
        await client.views_open(
            trigger_id=trigger_id, view=blockkit.modal(outcome.form, channel_id=channel_id)
        )
    if outcome.replace_original:
        await respond(replace_original=True, **blockkit.message_kwargs(outcome.replace_original))
    if outcome.reply:
        await respond(
            response_type="ephemeral",
            replace_original=False,
            **blockkit.message_kwargs(outcome.reply),
        )


async def _tell(
    client: AsyncWebClient, *, user_id: str, channel_id: str | None, message: dict[str, Any]
) -> None:
    """Only to the person: ephemeral where the form was opened, else in their DM with the bot."""
    if channel_id:
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, **message)
            return
        except SlackApiError as exc:
            log.info("ephemeral reply refused (%s); sending a DM", exc.response.get("error"))
    await client.chat_postMessage(channel=user_id, **message)


def web_app(
    runtime: Runtime, app: AsyncApp | None, after_ack: AfterAck | None = None
) -> web.Application:
    """`POST /slack/events` (Bolt, HTTP mode) and `GET /healthz` (200 when the database answers,
    503 when not). In Socket Mode (`app` None) only the health check is served. `after_ack` (the
    one given to `build_app`) counts the requests in flight."""
    server = app.web_app(path="/slack/events") if app is not None else web.Application()
    if after_ack is not None:
        server.middlewares.append(after_ack.middleware)

    async def healthz(_request: web.Request) -> web.Response:
        ok = await asyncio.to_thread(is_reachable, runtime.engine)
        return web.json_response(
            {"ok": ok, "database": "up" if ok else "down"}, status=200 if ok else 503
        )

    server.router.add_get("/healthz", healthz)
    return server
