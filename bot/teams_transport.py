"""Teams for the delivery engine (`jobs.delivery.Transport`): the Bot Connector REST API with a
synchronous httpx client and a client-credentials token, within Teams' limits (PRODUCT §13).

Exactly once. The Bot Connector lets no bot read a conversation, so `find_sent` cannot look
for an earlier attempt as Slack's does. Instead each post is written ahead: the outbox row's
`last_error` says `SENDING` (committed) before the request goes out, and the engine overwrites
it with the outcome. A row found later with that mark, or with `UNKNOWN` (a timeout or a
dropped connection after the request was written), may have landed: it is not sent again but
recorded as failed with that reason (`kakehashi jobs failed`), as PRODUCT §13 asks. A row
claimed by a process that died before it wrote the mark is sent normally. So nothing is sent
twice; what may be lost is a message whose outcome is unknown, and it is listed, not silent.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.reminder_jobs import recompose
from bot.settings import Settings
from commands.context import Clock, SystemClock
from commands.ui import Message
from jobs.delivery import Delivery, Landed, Pacer, PermanentError, TransientError
from storage.db import session_scope
from storage.outbox import OutboxMessage

LOGIN_URL = "https://login.microsoftonline.com"
BOT_SCOPE = "https://api.botframework.com/.default"
TOKEN_MARGIN = 300.0
"""A token is renewed this many seconds before Microsoft says it expires."""
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRIED = frozenset({412, 429, 500, 502, 503, 504})
"""Statuses after which the message certainly did not land and is sent again later."""

CONVERSATION_LIMITS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
"""Messages per bot per conversation: (count, seconds) windows (Teams' rate limits)."""
TENANT_LIMITS = ((50, 1.0),)
SENDING = "Teams: being sent"
UNKNOWN = "Teams: outcome unknown"
MAY_HAVE_LANDED = (
    "may have been delivered: an earlier attempt's outcome is unknown (timeout or restart), and "
    "Teams lets no bot read the conversation to check, so it was not sent again"
)
MAX_WAIT = 10.0
"""A wait for a turn up to this long is slept; a longer one is left to a later sweep."""


class TeamsTokens:
    """The bot's access token for the Bot Connector (client credentials), cached until shortly
    before it expires; `invalidate` after a 401 fetches a new one."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tenant_id: str,
        login_url: str = LOGIN_URL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": BOT_SCOPE,
        }
        self._url = f"{login_url}/{tenant_id}/oauth2/v2.0/token"
        self._clock = clock
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TeamsTokens:
        if not (settings.teams_client_id and settings.teams_client_secret):
            raise ValueError("Teams credentials are not set")
        return cls(
            client_id=settings.teams_client_id,
            client_secret=settings.teams_client_secret.get_secret_value(),
            tenant_id=str(settings.teams_tenant_id),
            login_url=settings.teams_login_url or LOGIN_URL,
        )

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._token[1]:
                self._token = self._fetch()
            return self._token[0]

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    async def for_sdk(self, _scope: str | list[str], _tenant: str | None = None) -> str:
        """The SDK's token callable: the same cached token, fetched off the event loop."""
        import asyncio

        return await asyncio.to_thread(self.get)

    def _fetch(self) -> tuple[str, float]:
        try:
            response = httpx.post(self._url, data=self._form, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise TransientError(f"Teams sign-in: {exc.__class__.__name__}") from None
        if response.status_code != 200:
            error = _json(response).get("error", response.status_code)
            raise TransientError(
                f"Teams sign-in refused ({error}): check TEAMS_CLIENT_ID, "
                "TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID"
            )
        body = _json(response)
        expires = float(body.get("expires_in", 3600))
        return str(body["access_token"]), self._clock() + max(expires - TOKEN_MARGIN, 30.0)


class Unreachable(PermanentError):
    """Teams cannot reach the person: the app is not installed for them, or they blocked it."""


@dataclass(frozen=True)
class ConversationRef:
    """Where to reach a person or a channel on Teams (kept from their activities)."""

    service_url: str
    tenant_id: str
    conversation_id: str | None = None
    """None for a person whose personal chat with the bot is not known yet."""
    user_id: str | None = None
    """The person's Teams id (`29:…`) or Entra object id, to create their personal chat."""


Render = Callable[[Message, str], dict[str, Any]]
"""A neutral message (and its delivery key) as a Bot Framework message activity."""


def plain_activity(message: Message, key: str) -> dict[str, Any]:
    """The message's text, as plain text; the key rides in `channelData`."""
    return {
        "type": "message",
        "text": message.text,
        "textFormat": "plain",
        "channelData": {"kakehashiKey": key},
    }


@dataclass
class Limits:
    """Sliding windows per conversation and per tenant (Teams' limits)."""

    clock: Callable[[], float] = time.monotonic
    _sent: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_needed(self, conversation: str, tenant: str) -> float:
        with self._lock:
            now = self.clock()
            return max(
                self._wait(f"c:{conversation}", CONVERSATION_LIMITS, now),
                self._wait(f"t:{tenant}", TENANT_LIMITS, now),
            )

    def sent(self, conversation: str, tenant: str) -> None:
        with self._lock:
            now = self.clock()
            for name in (f"c:{conversation}", f"t:{tenant}"):
                times = self._sent.setdefault(name, deque())
                times.append(now)
                while times and now - times[0] > 3600.0:
                    times.popleft()

    def _wait(self, name: str, windows: tuple[tuple[int, float], ...], now: float) -> float:
        times = self._sent.get(name) or deque()
        wait = 0.0
        for count, seconds in windows:
            recent = [t for t in times if now - t < seconds]
            if len(recent) >= count:
                wait = max(wait, recent[-count] + seconds - now)
        return wait


class TeamsTransport:
    """Posts and edits through the Bot Connector. `references` finds where a recipient (a
    person's or a channel's key in the outbox) is reached; `render` turns a message into an
    activity."""

    def __init__(
        self,
        tokens: TeamsTokens | None,
        references: Callable[[str], ConversationRef | None],
        *,
        render: Render = plain_activity,
        limits: Limits | None = None,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
        journal: Engine | None = None,
    ) -> None:
        self.tokens = tokens
        self.references = references
        self.render = render
        self.limits = limits or Limits()
        self.sleep = sleep
        self.client = client or httpx.Client(timeout=TIMEOUT)
        self.journal = journal
        """The outbox's database, where each post is written ahead (see the module)."""
        self._chats: dict[str, str] = {}
        self._posted_to: dict[str, ConversationRef] = {}

    def post(self, recipient: str, message: Message, key: str) -> Landed:
        ref = self._reference(recipient)
        conversation = self._conversation(recipient, ref)
        self._take_turn(conversation, ref.tenant_id)
        url = f"{ref.service_url}/v3/conversations/{conversation}/activities"
        activity = self.render(message, key)
        self._write_ahead(key)
        body = self._call("POST", url, ref, activity)
        self._posted_to[conversation] = ref
        return Landed(channel=conversation, ts=str(body.get("id", "")))

    def update(self, channel: str, ts: str, message: Message) -> None:
        ref = self._reference_of_conversation(channel)
        self._take_turn(channel, ref.tenant_id)
        url = f"{ref.service_url}/v3/conversations/{channel}/activities/{ts}"
        self._call("PUT", url, ref, {**self.render(message, ""), "id": ts})

    def find_sent(self, recipient: str, key: str) -> Landed | None:
        """None when no earlier attempt can have landed; raises `PermanentError` when one may
        have (see the module). Without a journal, None: at least once."""
        if self.journal is None:
            return None
        with Session(self.journal) as session:
            last = session.exec(
                select(OutboxMessage.last_error).where(OutboxMessage.key == key)
            ).first()
        if last is not None and last.startswith((SENDING, UNKNOWN)):
            raise PermanentError(MAY_HAVE_LANDED)
        return None

    def _write_ahead(self, key: str) -> None:
        if self.journal is None:
            return
        with session_scope(self.journal) as session:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.key) == key)
                .values(last_error=SENDING)
            )

    def _reference(self, recipient: str) -> ConversationRef:
        ref = self.references(recipient)
        if ref is None:
            raise Unreachable(
                "not reachable on Teams: the app is not installed for them (no conversation yet)"
            )
        return ref

    def _reference_of_conversation(self, conversation: str) -> ConversationRef:
        """The reference a post to `conversation` used (its service URL and tenant)."""
        return self._posted_to.get(conversation) or self._reference(conversation)

    def _conversation(self, recipient: str, ref: ConversationRef) -> str:
        if ref.conversation_id:
            return ref.conversation_id
        if recipient not in self._chats:
            self._take_turn(f"create:{recipient}", ref.tenant_id)
            body = self._call(
                "POST",
                f"{ref.service_url}/v3/conversations",
                ref,
                {
                    "isGroup": False,
                    "members": [{"id": ref.user_id}],
                    "tenantId": ref.tenant_id,
                    "channelData": {"tenant": {"id": ref.tenant_id}},
                },
            )
            self._chats[recipient] = str(body["id"])
        return self._chats[recipient]

    def _take_turn(self, conversation: str, tenant: str) -> None:
        wait = self.limits.wait_needed(conversation, tenant)
        if wait > MAX_WAIT:
            raise TransientError(
                "Teams rate limit: turn not yet", retry_after=wait, may_have_landed=False
            )
        if wait > 0:
            self.sleep(wait)
        self.limits.sent(conversation, tenant)

    def _call(self, method: str, url: str, ref: ConversationRef, body: dict[str, Any]) -> Any:
        for attempt in range(2):
            try:
                response = self.client.request(method, url, json=body, headers=self._auth())
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise TransientError(
                    f"Teams: {exc.__class__.__name__}", may_have_landed=False
                ) from None
            except httpx.HTTPError as exc:  # written, answer lost: it may have landed
                raise TransientError(f"{UNKNOWN} ({exc.__class__.__name__})") from None
            if response.status_code == 401 and attempt == 0 and self.tokens is not None:
                self.tokens.invalidate()
                continue
            return _answer(response)
        raise TransientError("Teams refused the bot's token twice (401): check the credentials")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.get()}"} if self.tokens else {}


def _answer(response: httpx.Response) -> Any:
    status = response.status_code
    if status < 300:
        return _json(response)
    code = str((_json(response).get("error") or {}).get("code", "")) or response.reason_phrase
    reason = f"Teams {status} {code}"
    if status in RETRIED:
        return_after = _retry_after(response)
        raise TransientError(reason, retry_after=return_after, may_have_landed=False)
    if status == 403 and code in ("BotNotInConversationRoster", "ConversationBlockedByUser"):
        raise Unreachable(f"{reason}: the app is not installed for this person, or they blocked it")
    raise PermanentError(reason)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def teams_delivery(
    settings: Settings,
    engine: Engine,
    references: Callable[[str], ConversationRef | None],
    *,
    clock: Clock | None = None,
    render: Render = plain_activity,
) -> Delivery:
    """The delivery engine sending through Teams: one turn per conversation every 1/7 s and
    50 calls a second across the tenant; the transport keeps the longer windows."""
    tokens = TeamsTokens.from_settings(settings) if settings.teams_client_id else None
    pacer = Pacer(per_channel=1 / 7, per_second=50)
    return Delivery(
        engine=engine,
        transport=TeamsTransport(tokens, references, render=render, journal=engine),
        clock=clock or SystemClock(),
        pacer=pacer,
        recompose=recompose(settings, engine),
    )
