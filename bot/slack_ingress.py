"""The door of `POST /slack/events` (PRODUCT §11): the signature is checked on the raw body before
anything parses it, and a body Bolt could not read is refused before it reaches Bolt.

401 for anything unsigned (or signed with another secret, or older than five minutes), 400 for a
signed body that is not the form or JSON Slack sends, 413 for one over aiohttp's size limit.
Never a 500. Rejections are logged as one bounded line, at most one every few seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from slack_bolt.request.internals import parse_body

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
_READABLE_TYPES = ("application/x-www-form-urlencoded", "application/json")
MAX_AGE_SECONDS = 5 * 60  # Slack's replay window

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RejectionLog:
    """One INFO line per rejection at most every `every` seconds; those in between are counted
    into the next line. Nothing of the request's body or headers is written: an unsigned client
    must not be able to write to the log."""

    def __init__(self, *, every: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self.clock = clock
        self.last_line_at: float | None = None
        self.unlogged = 0

    def note(self, status: int, reason: str, size: int | None) -> None:
        now = self.clock()
        if self.last_line_at is not None and now - self.last_line_at < self.every:
            self.unlogged += 1
            return
        log.info(
            "rejected a request to %s: %d %s (%s bytes); %d more rejected since the last line",
            EVENTS_PATH,
            status,
            reason,
            size if size is not None else "unknown",
            self.unlogged,
        )
        self.last_line_at = now
        self.unlogged = 0


class Signature:
    """Slack's v0 request signature, checked on the raw bytes (slack_sdk's verifier decodes
    them as UTF-8 first, and raises on a body that is not)."""

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret.encode()
        self.clock = clock

    def is_valid(self, body: bytes, timestamp: str, signature: str) -> bool:
        if abs(self.clock() - int(timestamp)) > MAX_AGE_SECONDS:
            return False
        signed = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)


def slack_ingress(
    signing_secret: str | None, rejections: RejectionLog, *, body_seconds: float = 15.0
) -> Any:
    """aiohttp middleware guarding `EVENTS_PATH`; other paths pass untouched. A body that has
    not all arrived after `body_seconds` is refused (408)."""
    verifier = Signature(signing_secret) if signing_secret else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != EVENTS_PATH or request.method != "POST":
            return await handler(request)
        refusal = await _refusal(request, verifier, body_seconds)
        if refusal is not None:
            status, reason = refusal
            rejections.note(status, reason, request.content_length)
            return web.Response(status=status, text=reason)
        return await handler(request)

    return guard


async def _refusal(
    request: web.Request, verifier: Signature | None, body_seconds: float
) -> tuple[int, str] | None:
    """(status, reason) when the request must not reach Bolt."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if verifier is None or not _well_formed(timestamp, signature):
        return 401, "unsigned request"
    try:
        async with asyncio.timeout(body_seconds):
            body = await request.read()  # bounded by the application's client_max_size
    except web.HTTPRequestEntityTooLarge:
        return 413, "request body too large"
    except TimeoutError:
        return 408, "request body too slow"
    if not verifier.is_valid(body, timestamp, signature):
        return 401, "invalid signature"
    if not _readable(body, request.headers.get("Content-Type", "")):
        return 400, "malformed request body"
    return None


def _well_formed(timestamp: str, signature: str) -> bool:
    return (
        timestamp.isascii()
        and timestamp.isdigit()
        and len(timestamp) <= 12
        and signature.startswith("v0=")
        and signature.isascii()
        and len(signature) <= 100
    )


def _readable(body: bytes, content_type: str) -> bool:
    """Whether Bolt can read the body as Slack sends it (UTF-8 form fields or JSON, an object;
    an interaction's `payload=` field too), with every field the listeners read."""
    media_type, _, parameters = content_type.partition(";")
    charset = parameters.strip().lower().removeprefix("charset=").strip('"')
    if media_type.strip().lower() not in _READABLE_TYPES or charset not in ("", "utf-8"):
        return False
    try:
        parsed = parse_body(body.decode("utf-8"), media_type.strip().lower())
    except (UnicodeDecodeError, ValueError):  # json.JSONDecodeError is a ValueError
        return False
    # An empty result is Bolt's reading of a form body with "payload" in it but no such field
    # (a slash command's text, say): Bolt leaves it unanswered, which is not a crash.
    return isinstance(parsed, dict) and well_shaped(parsed)


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _User(_Shape):
    id: StrictStr = Field(min_length=1)


class _Channel(_Shape):
    id: StrictStr


class _Action(_Shape):
    action_id: StrictStr
    value: StrictStr | None = None


class _Option(_Shape):
    value: StrictStr


class _FieldState(_Shape):
    """One input's state: Slack sends its value as text, whatever the input."""

    value: StrictStr | None = None
    selected_date: StrictStr | None = None
    selected_user: StrictStr | None = None
    selected_option: _Option | None = None


class _State(_Shape):
    values: dict[str, dict[str, _FieldState]] = {}


class _View(_Shape):
    type: StrictStr | None = None
    callback_id: StrictStr = ""
    private_metadata: StrictStr = ""
    state: _State = _State()


class _SlashCommand(_Shape):
    command: StrictStr
    user_id: StrictStr = Field(min_length=1)
    text: StrictStr = ""
    channel_id: StrictStr | None = None
    trigger_id: StrictStr | None = None
    response_url: StrictStr | None = None


class _BlockActions(_Shape):
    user: _User
    actions: list[_Action] = Field(min_length=1)
    channel: _Channel | None = None
    view: _View | None = None
    trigger_id: StrictStr | None = None
    response_url: StrictStr | None = None


class _ViewSubmission(_Shape):
    user: _User
    view: _View


class _EventCallback(_Shape):
    event: dict[str, Any]


_SHAPES: dict[str, type[_Shape]] = {
    "block_actions": _BlockActions,
    "view_submission": _ViewSubmission,
    "event_callback": _EventCallback,
}


def _shape_of(body: dict[str, Any]) -> type[_Shape] | None:
    return _SlashCommand if "command" in body else _SHAPES.get(str(body.get("type")))


def well_shaped(body: dict[str, Any]) -> bool:
    """Whether a parsed request has, with the right types, every field the listeners read."""
    shape = _shape_of(body)
    if shape is None:
        return True  # what no listener reads (url_verification, ssl_check, …): Bolt's to answer
    try:
        shape.model_validate(body)
    except ValidationError:
        return False
    return True
