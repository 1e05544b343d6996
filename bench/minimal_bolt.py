"""The baseline of benchmark 1: a minimal Bolt app on the same server stack as `kakehashi run`
(slack_bolt AsyncApp served by aiohttp, signature checked) that acknowledges `/account` and then
posts a fixed card to its `response_url`, as `kakehashi run` answers, without reading anything. Like
`kakehashi run`, its Web API client points at the fake Slack (Bolt checks the token once)."""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build() -> web.Application:
    app = AsyncApp(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=AsyncWebClient(
            token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
        ),
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )

    @app.command("/account")
    async def account(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        await ack()
        await respond(
            text=command["text"],
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": command["text"]}}],
            response_type="ephemeral",
        )

    server = app.web_app(path="/slack/events")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    server.router.add_get("/healthz", healthz)
    return server


if __name__ == "__main__":
    web.run_app(build(), host="127.0.0.1", port=int(os.environ["PORT"]), access_log=None)
