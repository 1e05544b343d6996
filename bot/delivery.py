"""Transports for the delivery engine (`jobs.delivery`): Slack's Web API and the shell.

The Slack transport tags every post with message metadata carrying its outbox key, so that after
a crash or a timeout the engine can ask `conversations.history` whether it already landed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.client import HTTPException
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import blockkit, slack_ids
from bot.reminder_jobs import recompose
from bot.settings import Settings
from commands.addresses import AddressKind
from commands.context import Clock, SystemClock
from commands.ui import Message
from jobs.delivery import (
    DELIVERY_EVENT,
    Delivery,
    Landed,
    Pacer,
    PermanentError,
    TransientError,
    unpaced,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.runtime import Runtime
    from bot.shell import Shell

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 15
"""Seconds before a Web API call counts as timed out; well inside the engine's claim lease."""
HISTORY_PAGES, HISTORY_PAGE_SIZE = 5, 200
"""How far back an earlier attempt is looked for: the 1,000 latest messages of the conversation."""

TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
CONFIGURATION_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
"""Errors an operator fixes (token, scopes): retried with backoff, and logged as errors."""


class SlackTransport:
    """Posts and edits through the synchronous Web API client (called from worker threads).

    Every Web API call it makes takes a turn from `pacer` first: Slack counts the look-ups of
    `find_sent` against the workspace as it counts posts. A user's DM channel is remembered
    (from a post's answer or `conversations.open`): it never changes."""

    def __init__(self, client: WebClient, pacer: Pacer | None = None) -> None:
        self.client = client
        self.pacer = pacer or unpaced()
        self._dm_channels: dict[str, str] = {}

    def post(self, recipient: str, message: Message, key: str) -> Landed:
        response = self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=recipient,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": DELIVERY_EVENT, "event_payload": {"key": key}},
            **blockkit.message_kwargs(message),
        )
        landed = Landed(channel=str(response["channel"]), ts=str(response["ts"]))
        if slack_ids.kind(recipient) is AddressKind.PERSON:
            self._dm_channels[recipient] = landed.channel
        return landed

    def update(self, channel: str, ts: str, message: Message) -> None:
        self._call(
            "chat.update",
            self.client.chat_update,
            channel=channel,
            ts=ts,
            **blockkit.message_kwargs(message),
        )

    def find_sent(self, recipient: str, key: str) -> Landed | None:
        channel = self._conversation(recipient)
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            page = self._call(
                "conversations.history",
                self.client.conversations_history,
                channel=channel,
                limit=HISTORY_PAGE_SIZE,
                cursor=cursor,
                include_all_metadata=True,
            )
            for message in page.get("messages") or []:
                if _delivery_key(message) == key:
                    return Landed(channel=channel, ts=str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                break
        return None

    def _conversation(self, recipient: str) -> str:
        """A user's DM channel (opened if need be), or the channel itself."""
        if slack_ids.kind(recipient) is not AddressKind.PERSON:
            return recipient
        if recipient not in self._dm_channels:
            opened = self._call(
                "conversations.open", self.client.conversations_open, users=recipient
            )
            self._dm_channels[recipient] = str(opened["channel"]["id"])
        return self._dm_channels[recipient]

    def _call(
        self, method: str, call: Callable[..., SlackResponse], **kwargs: Any
    ) -> SlackResponse:
        self.pacer.take_turn()
        try:
            return call(**kwargs)
        except SlackApiError as exc:
            raise slack_error(method, exc.response) from None
        except (OSError, HTTPException) as exc:  # timeouts, refused or dropped connections
            raise TransientError(f"{method}: {exc.__class__.__name__}") from None


def slack_error(method: str, response: SlackResponse) -> TransientError | PermanentError:
    """What a failed Web API call means for the delivery engine."""
    status = response.status_code
    error = (
        str(response.get("error") or f"HTTP {status}")
        if isinstance(response.data, dict)
        else f"HTTP {status}"
    )
    if status == 429 or error == "ratelimited":
        return TransientError(
            f"{method}: ratelimited", retry_after=_retry_after(response), may_have_landed=False
        )
    if status >= 500 or error in TRANSIENT_ERRORS:
        return TransientError(f"{method}: {error}")
    if status != 200:  # a proxy or a wrong SLACK_API_URL, not Slack's answer
        return TransientError(f"{method}: HTTP {status}", may_have_landed=False)
    if error in CONFIGURATION_ERRORS:
        log.error(
            "Slack refused %s with %s: check SLACK_BOT_TOKEN and the app's scopes", method, error
        )
        return TransientError(f"{method}: {error}", may_have_landed=False)
    return PermanentError(error)


def _retry_after(response: SlackResponse) -> float:
    headers = {name.lower(): value for name, value in (response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(1.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def _delivery_key(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != DELIVERY_EVENT:
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return key if isinstance(key, str) else None


def slack_client(settings: Settings) -> WebClient:
    """A Web API client that never retries on its own: a blind retry could post twice."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token, base_url=settings.slack_api_url, timeout=HTTP_TIMEOUT, retry_handlers=[]
    )


def slack_delivery(settings: Settings, engine: Engine, *, clock: Clock | None = None) -> Delivery:
    pacer = Pacer(per_second=settings.send_rate)  # one pace for the engine and its calls
    return Delivery(
        engine=engine,
        transport=SlackTransport(slack_client(settings), pacer),
        clock=clock or SystemClock(),
        pacer=pacer,
        recompose=recompose(settings, engine),
        platform="slack",
    )


def deliver_in_background(delivery: Delivery, clock: Clock) -> Callable[[], None]:
    """A kick that starts a sweep in a daemon thread and returns at once (a sweep already
    running in this process picks the new rows up instead)."""

    def kick() -> None:
        threading.Thread(
            target=_sweep_logged, args=(delivery, clock), daemon=True, name="delivery"
        ).start()

    return kick


def _sweep_logged(delivery: Delivery, clock: Clock) -> None:
    try:
        delivery.sweep(clock.now())
    except Exception:  # the next tick retries; a thread must not die silently
        log.exception("delivery sweep failed")


class ShellTransport:
    """The shell's chat: a message is printed (`Shell.deliver`) when it is delivered."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.landed: dict[str, Landed] = {}

    def post(self, recipient: str, message: Message, key: str) -> Landed:
        self.shell.deliver(recipient, message)
        landed = Landed(channel=recipient, ts=f"shell.{len(self.landed) + 1}")
        self.landed[key] = landed
        return landed

    def update(self, channel: str, ts: str, message: Message) -> None:
        self.shell.note("shell.updated")
        self.shell.deliver(channel, message)

    def find_sent(self, recipient: str, key: str) -> Landed | None:
        return self.landed.get(key)


def shell_delivery(shell: Shell, engine: Engine) -> Delivery:
    return Delivery(
        engine=engine,
        transport=ShellTransport(shell),
        clock=SystemClock(),
        pacer=unpaced(),
        recompose=recompose(shell.runtime.settings, engine),
    )


def deliver_when_owed(runtime: Runtime, delivery: Delivery) -> Callable[[], None]:
    """For the shell: requests note that they wrote to the outbox; the returned function, run
    after each line, then delivers in line (synchronously), so DMs print after the reply."""
    owed = threading.Event()
    runtime.on_outbox = owed.set

    def deliver() -> None:
        if owed.is_set():
            owed.clear()
            delivery.sweep(runtime.clock.now())

    return deliver
