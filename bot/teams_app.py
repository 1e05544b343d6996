"""Teams on `kakehashi run`'s aiohttp server: Microsoft's Teams SDK at `POST /api/messages`
(PRODUCT §13), with our settings passed in and the SDK's environment side effects kept out.

The SDK validates every request's Bot Framework token (signature, issuer, audience = the client
id, expiry, service URL) before any handler runs. Handlers are one seam, `Handle`: the Teams
adapter (`bot.teams`) fills it; `answer_help` is the minimal one used until then.
"""

from __future__ import annotations

import asyncio
import json
import os
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from bot.runtime import Runtime
from bot.settings import Settings
from bot.teams_transport import TeamsTokens
from commands.ui import Header, Message, Note, Section

SDK_ENVIRONMENT = (
    "CLIENT_ID",
    "CLIENT_SECRET",
    "TENANT_ID",
    "MANAGED_IDENTITY_CLIENT_ID",
    "SERVICE_URL",
    "CLOUD",
    "OAUTH_URL",
    "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS",
)
"""Variables the SDK would read on its own; ours are TEAMS_… (bot.settings)."""

MESSAGES_PATH = "/api/messages"
MAX_BODY = 1024 * 1024
"""Largest activity accepted; Teams messages stay well under 100 KB."""


@contextmanager
def kept_environ() -> Iterator[None]:
    """Whatever runs inside leaves `os.environ` as it found it (the SDK loads `.env` into it
    at import)."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        os.environ.update(before)


@contextmanager
def without_sdk_environment() -> Iterator[None]:
    """The SDK's own variables hidden while it is built, so only our settings configure it."""
    with kept_environ():
        for name in SDK_ENVIRONMENT:
            os.environ.pop(name, None)
        yield


with kept_environ(), warnings.catch_warnings():
    # Its preview HTML widgets warn at import; Kakehashi does not use them.
    warnings.simplefilter("ignore")
    from microsoft_teams.api.activities.message import MessageActivity, MessageActivityInput
    from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides
    from microsoft_teams.apps.app import App
    from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpRouteHandler
    from microsoft_teams.apps.routing.activity_context import ActivityContext

Handle = Callable[[MessageActivity, ActivityContext[MessageActivity]], Awaitable[None]]
"""What the Teams adapter does with a message activity whose token was valid."""


class AiohttpAdapter:
    """The SDK's `HttpServerAdapter` on our aiohttp application: the SDK registers its route,
    our runner serves it (so `start`/`stop` do nothing)."""

    def __init__(self, server: web.Application, *, anonymous: bool) -> None:
        self.server = server
        self.anonymous = anonymous

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        async def route(request: web.Request) -> web.StreamResponse:
            # No token, no work: the body is not even read.
            bearer = request.headers.get("Authorization", "").startswith("Bearer ")
            if not bearer and not self.anonymous:
                return web.json_response({"error": "Unauthorized"}, status=401)
            raw = await _body(request)
            if raw is None:
                return web.json_response({"error": "activity too large"}, status=413)
            body = _json_object(raw)
            if body is None:
                return web.json_response({"error": "expected a JSON activity"}, status=400)
            answer = await handler(HttpRequest(body=body, headers=dict(request.headers)))
            if answer["body"] is None:
                return web.Response(status=answer["status"])
            return web.json_response(answer["body"], status=answer["status"])

        self.server.router.add_route(method, path, route)

    def serve_static(self, path: str, directory: str) -> None:
        """Not used: Kakehashi serves no tabs."""

    async def start(self, port: int) -> None:
        """Our runner serves the application."""

    async def stop(self) -> None:
        """Our runner stops the application."""


async def _body(request: web.Request) -> bytes | None:
    """The raw body, or None when it is larger than `MAX_BODY` (read no further)."""
    if (request.content_length or 0) > MAX_BODY:
        return None
    raw = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        raw += chunk
        if len(raw) > MAX_BODY:
            return None
    return bytes(raw)


def _json_object(raw: bytes) -> dict[str, object] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def cloud_for(settings: Settings) -> CloudEnvironment:
    """Microsoft's public cloud, with the sign-in endpoints the settings override."""
    return with_overrides(
        PUBLIC,
        openid_metadata_url=settings.teams_openid_metadata_url,
        token_issuer=settings.teams_token_issuer,
        login_endpoint=settings.teams_login_url,
    )


def build_teams_app(
    settings: Settings, server: web.Application, handle: Handle, tokens: TeamsTokens | None
) -> App:
    """The SDK's app on `server`, configured from `settings` only. Call `await
    app.initialize()` before the runner starts."""
    adapter = AiohttpAdapter(server, anonymous=settings.teams_anonymous)
    with without_sdk_environment():
        app = App(
            client_id=settings.teams_client_id,
            tenant_id=settings.teams_tenant_id,
            token=tokens.for_sdk if tokens is not None else None,
            cloud=cloud_for(settings),
            http_server_adapter=adapter,
            messaging_endpoint=MESSAGES_PATH,
            dangerously_allow_unauthenticated_requests=settings.teams_anonymous,
        )

    @app.on_message
    async def on_message(ctx: ActivityContext[MessageActivity]) -> None:
        await handle(ctx.activity, ctx)

    return app


async def add_teams_routes(settings: Settings, server: web.Application, handle: Handle) -> App:
    """`POST /api/messages` on `server`, ready before the runner starts."""
    tokens = TeamsTokens.from_settings(settings) if settings.teams_client_id else None
    app = build_teams_app(settings, server, handle, tokens)
    with without_sdk_environment():
        await app.initialize()
    return app


# ---- the minimal handler, until bot.teams fills the seam -----------------------------------

HELP_WORDS = frozenset({"", "help", "?", "ヘルプ", "/help"})


def answer_help(runtime: Runtime) -> Handle:
    """Answers every message with `/kakehashi help`, run by the neutral runtime, as plain text
    (typed text is never markup)."""

    async def handle(activity: MessageActivity, ctx: ActivityContext[MessageActivity]) -> None:
        user = activity.from_.aad_object_id or activity.from_.id
        outcome = await asyncio.to_thread(runtime.run_command, user, "kakehashi", "help")
        if outcome.reply is not None:
            reply = MessageActivityInput(text=plain_text(outcome.reply))
            await ctx.send(reply.with_text_format("plain"))

    return handle


def plain_text(message: Message) -> str:
    """A neutral message as plain text, block by block."""
    lines: list[str] = []
    for block in message.blocks:
        if isinstance(block, Header | Note):
            lines.append(block.text)
        elif isinstance(block, Section):
            lines.extend((block.text, *block.fields))
    return "\n".join(lines) or message.text
