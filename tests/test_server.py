"""`kakehashi run` serving Slack: Socket Mode over a real WebSocket, and the health check."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import httpx
import pytest
from aiohttp import WSMsgType, web

from bot.server import serve
from testkit.fake_slack import FakeSlack
from tests.conftest import TOKEN, free_port, make_settings, socket_mode_peer


async def test_socket_mode_answers_a_slash_command(database_url: str, slack: FakeSlack) -> None:
    response_url = slack.new_response_url()
    acks: list[dict[str, Any]] = []

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1})
        await ws.send_json(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "command": "/kakehashi",
                    "text": "role <@UCS|aiko> support",
                    "user_id": "UMANAGER",
                    "channel_id": "C0001",
                    "team_id": "T0001",
                    "response_url": response_url,
                    "trigger_id": "1.2",
                },
            }
        )
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                acks.append(json.loads(message.data))
        return ws

    settings = make_settings(
        database_url, slack.api_url, SLACK_APP_TOKEN="xapp-1-test", SLACK_SIGNING_SECRET=""
    )
    async with socket_mode_peer(slack, socket):
        health_port = free_port()
        running = asyncio.create_task(serve(settings, port=health_port, host="127.0.0.1"))
        try:
            replies = await slack.await_for("response_url", timeout=15)
            assert "*サポート*" in replies[0]["text"]  # mika's Slack locale is ja-JP
            for _ in range(100):  # the ack was sent first, but this loop may not have read it yet
                if acks:
                    break
                await asyncio.sleep(0.05)
            assert {"envelope_id": "env-1"}.items() <= acks[0].items()
            async with httpx.AsyncClient() as http:
                health = await http.get(f"http://127.0.0.1:{health_port}/healthz")
                assert health.status_code == 200
                # Socket Mode serves no events endpoint: nothing reaches Bolt over HTTP.
                events = await http.post(f"http://127.0.0.1:{health_port}/slack/events")
                assert events.status_code == 404
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_start_up_logs_no_warning_about_the_token(
    database_url: str,
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bolt also reads SLACK_BOT_TOKEN from the environment; `run` gives it a client instead.
    The Bolt app is built before the HTTP server answers /healthz, so its warning is logged."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    settings = make_settings(database_url, slack.api_url)
    port = free_port()
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(serve(settings, port=port, host="127.0.0.1"))
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
