"""Teams on `kakehashi run`'s aiohttp server: Microsoft's Teams SDK at `POST /api/messages`
(PRODUCT §13), with our settings passed in and the SDK's environment side effects kept out.

The SDK validates every request's Bot Framework token (signature, issuer, audience = the client
id, expiry, service URL) before any handler runs. Every activity goes to one seam, `Handle`
(`bot.teams_routes.activity_handler`); what it returns is the invoke's answer.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from bot.settings import Settings
from bot.teams_transport import TeamsTokens

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
    from microsoft_teams.api.activities import Activity as ActivityBase
    from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides
    from microsoft_teams.apps.app import App
    from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpRouteHandler
    from microsoft_teams.apps.routing.activity_context import ActivityContext

Handle = Callable[[ActivityContext[ActivityBase]], Awaitable[Any]]
"""What the Teams adapter does with an activity whose token was valid; returns the invoke's
answer (None for other activities)."""


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

    app.on_activity(handle)
    return app


async def add_teams_routes(
    settings: Settings, server: web.Application, handle: Handle, tokens: TeamsTokens | None
) -> App:
    """`POST /api/messages` on `server`, ready before the runner starts."""
    app = build_teams_app(settings, server, handle, tokens)
    with without_sdk_environment():
        await app.initialize()
    return app
