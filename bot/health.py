"""Whether Slack takes Kakehashi's credentials and answers: checked at start-up and then
watched in the background, for `GET /healthz` (PRODUCT §15).

At start-up a token Slack rejects stops `kakehashi run` with one line naming the variable
(exit 2): nothing would work and retrying cannot help. A Slack that cannot be reached is not a
reason to stop: the scheduler and the delivery engine keep running (what they send waits in the
outbox), the bot token is checked again every `interval` seconds, Socket Mode reconnects on its
own, and `/healthz` answers 503 saying which until it works.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import ClientError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings, SettingsError
from jobs import telemetry

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 10
"""Seconds before a check's Web API call counts as unanswered."""
CHECK_SECONDS = 60.0
"""How often the bot token is checked again with `auth.test` while running."""
REJECTED = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
        "team_access_not_granted",
    }
)
"""Slack's answers that mean the token itself is refused (not a passing outage)."""


class Reach(StrEnum):
    """What Slack said to a token, as `/healthz` words it."""

    OK = "ok"
    REJECTED = "bot token rejected"
    UNREACHABLE = "unreachable"


def reach_of(error: Exception) -> Reach:
    """A failed Web API call: the token rejected, or Slack not reachable (network, 5xx, 429)."""
    if isinstance(error, SlackApiError) and error.response.status_code == 200:
        return Reach.REJECTED if error.response.get("error") in REJECTED else Reach.UNREACHABLE
    return Reach.UNREACHABLE


async def try_call(call: Callable[[], Awaitable[object]]) -> tuple[Reach, str]:
    """Runs one Web API call; how it went, and Slack's error (or the exception's kind)."""
    try:
        await call()
    except SlackApiError as exc:
        return reach_of(exc), str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    except (ClientError, TimeoutError, OSError) as exc:
        return Reach.UNREACHABLE, exc.__class__.__name__
    return Reach.OK, ""


def try_call_now(call: Callable[[], object]) -> tuple[Reach, str]:
    """`try_call` for the synchronous client (the command line)."""
    try:
        call()
    except SlackApiError as exc:
        return reach_of(exc), str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    except OSError as exc:  # URLError, timeouts, refused connections
        return Reach.UNREACHABLE, exc.__class__.__name__
    return Reach.OK, ""


def rejected(variable: str, error: str) -> SettingsError:
    return SettingsError(f"{variable} was rejected by Slack ({error}): {_fix(variable)}")


async def check_at_start(client: AsyncWebClient, app_token: str | None) -> Reach:
    """`auth.test` with the bot token, and `apps.connections.open` with the app token in Socket
    Mode. A rejected token raises `SettingsError` naming its variable; an unreachable Slack is
    logged in one line and returned, and start-up goes on."""
    checks: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("SLACK_BOT_TOKEN", client.auth_test)
    ]
    if app_token is not None:
        checks.append(
            ("SLACK_APP_TOKEN", lambda: client.apps_connections_open(app_token=app_token))
        )
    for variable, call in checks:
        reach, error = await try_call(call)
        if reach is Reach.REJECTED:
            raise rejected(variable, error)
        if reach is Reach.UNREACHABLE:
            log.warning(
                "Slack cannot be reached (%s); starting anyway, retrying in the background", error
            )
            return reach
    return Reach.OK


def _fix(variable: str) -> str:
    if variable == "SLACK_APP_TOKEN":
        return "generate an app-level token with connections:write under Basic Information"
    return "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page"


@dataclass
class SlackHealth:
    """The bot token's latest `auth.test` and, in Socket Mode, whether the socket is open."""

    client: AsyncWebClient
    reach: Reach = Reach.OK
    interval: float = CHECK_SECONDS
    socket_connected: Callable[[], Awaitable[bool]] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        telemetry.SLACK_UP.set(1 if self.reach is Reach.OK else 0)

    async def check(self) -> Reach:
        previous = self.reach
        self.reach, error = await try_call(self.client.auth_test)
        if self.reach is not previous:  # one line when it changes, not one a minute
            log.warning("Slack: %s%s", self.reach.value, f" ({error})" if error else "")
        telemetry.SLACK_UP.set(1 if self.reach is Reach.OK else 0)
        return self.reach

    def watch(self) -> None:
        """Checks the bot token every `interval` seconds, in the background."""

        async def every_interval() -> None:
            while True:
                await asyncio.sleep(self.interval)
                await self.check()

        self.keep(every_interval())

    def keep(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` in the background until `stop`."""
        self._tasks.append(asyncio.get_running_loop().create_task(work))

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def problems(self) -> dict[str, str]:
        """What is wrong with Slack, for `/healthz`: {} when it works."""
        found: dict[str, str] = {}
        if self.reach is not Reach.OK:
            found["slack"] = self.reach.value
        if self.socket_connected is not None and not await self.socket_connected():
            found["socket_mode"] = "disconnected"
        telemetry.SLACK_UP.set(0 if found else 1)
        return found


class OneLine(logging.Filter):
    """Drops tracebacks: the Socket Mode client logs one for every failed reconnection (every
    few seconds while Slack is unreachable); its one-line message says enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def probe_client(settings: Settings, timeout: int = PROBE_TIMEOUT) -> WebClient:
    """A Web API client for checks, whose failures the caller reports in one line of its own:
    it neither retries nor logs."""
    logger = logging.getLogger("kakehashi.slack_probe")
    logger.setLevel(logging.CRITICAL)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[],
        logger=logger,
    )


def quiet_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(f, OneLine) for f in logger.filters):
        logger.addFilter(OneLine())
    return logger
