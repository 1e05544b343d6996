"""A fake Slack Web API served over real HTTP on 127.0.0.1, for tests.

    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert slack.calls_to("chat.postMessage")[0]["text"] == "hi"
        assert slack.rejections == []

Every request is recorded as a `Call` (header names lower-cased), including failed ones.
Block Kit limits are checked on messages and views; violations are answered like Slack
would and collected in `slack.rejections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]
Kind = Literal["message", "view"]
Reply = tuple[int, JSON, dict[str, str]]  # HTTP status, JSON body, extra headers

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_NAME = "kakehashi"
APP_ID = "A0001"
TEAM_ID = "T0001"
TEAM_NAME = "Test"
BASE_TS = 1_700_000_000

_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
_POLL_SECONDS = 0.01

# --------------------------------------------------------------------------- Block Kit limits

_BLOCK_TYPES = {
    "actions",
    "context",
    "context_actions",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "table",
    "video",
}
_MAX_OPTIONS = {
    "static_select": 100,
    "multi_static_select": 100,
    "checkboxes": 10,
    "radio_buttons": 10,
    "overflow": 5,
}


class _Checker:
    """Collects human-readable Block Kit violations as "<path>: <problem>"."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, where: str, problem: str) -> None:
        self.errors.append(f"{where}: {problem}")

    def length(self, where: str, value: object, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.fail(where, f"{len(value)} chars, max {limit}")

    def items(self, where: str, value: object, limit: int) -> list[Any]:
        if not isinstance(value, list):
            self.fail(where, "must be an array")
            return []
        if len(value) > limit:
            self.fail(where, f"{len(value)} items, max {limit}")
        return value

    def text(
        self, where: str, obj: object, limit: int, *, plain: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.fail(where, "is required")
            return
        kinds = ("plain_text",) if plain else ("plain_text", "mrkdwn")
        if not isinstance(obj, dict) or obj.get("type") not in kinds:
            self.fail(where, f"must be a text object of type {' or '.join(kinds)}")
            return
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.fail(f"{where}.text", "must be a non-empty string")
        else:
            self.length(f"{where}.text", text, limit)

    def blocks(self, where: str, blocks: object, limit: int) -> None:
        block_ids: set[str] = set()
        for i, block in enumerate(self.items(where, blocks, limit)):
            self.block(f"{where}[{i}]", block, block_ids)

    def block(self, where: str, block: object, block_ids: set[str]) -> None:
        if not isinstance(block, dict):
            self.fail(where, "must be an object")
            return
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            self.fail(f"{where}.type", f"unknown block type {kind!r}")
            return
        self.unique_id(f"{where}.block_id", block.get("block_id"), block_ids)
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail(where, "section needs text or fields")
            self.text(f"{where}.text", block.get("text"), 3000, required=False)
            if "fields" in block:
                for j, item in enumerate(self.items(f"{where}.fields", block["fields"], 10)):
                    self.text(f"{where}.fields[{j}]", item, 2000)
            if "accessory" in block:
                self.element(f"{where}.accessory", block["accessory"], action_ids)
        elif kind == "header":
            self.text(f"{where}.text", block.get("text"), 150, plain=True)
        elif kind == "context":
            self.items(f"{where}.elements", block.get("elements"), 10)
        elif kind == "actions":
            for j, element in enumerate(self.items(f"{where}.elements", block.get("elements"), 25)):
                self.element(f"{where}.elements[{j}]", element, action_ids)
        elif kind == "input":
            self.text(f"{where}.label", block.get("label"), 2000, plain=True)
            self.text(f"{where}.hint", block.get("hint"), 2000, plain=True, required=False)
            self.element(f"{where}.element", block.get("element"), action_ids)
        elif kind == "image":
            self.length(f"{where}.image_url", block.get("image_url"), 3000)
            self.length(f"{where}.alt_text", block.get("alt_text"), 2000)
            self.text(f"{where}.title", block.get("title"), 2000, plain=True, required=False)

    def element(self, where: str, element: object, action_ids: set[str]) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.fail(where, "must be an element object with a type")
            return
        kind = element["type"]
        self.unique_id(f"{where}.action_id", element.get("action_id"), action_ids)
        self.text(f"{where}.placeholder", element.get("placeholder"), 150, required=False)
        if kind == "button":
            self.text(f"{where}.text", element.get("text"), 75, plain=True)
            self.length(f"{where}.value", element.get("value"), 2000)
            self.length(f"{where}.url", element.get("url"), 3000)
        elif kind == "plain_text_input":
            self.length(f"{where}.initial_value", element.get("initial_value"), 3000)
            max_length = element.get("max_length")
            if isinstance(max_length, int) and max_length > 3000:
                self.fail(f"{where}.max_length", f"{max_length}, max 3000")
        elif kind in _MAX_OPTIONS and "options" in element:
            options = self.items(f"{where}.options", element["options"], _MAX_OPTIONS[kind])
            for j, option in enumerate(options):
                path = f"{where}.options[{j}]"
                if not isinstance(option, dict):
                    self.fail(path, "must be an object")
                    continue
                self.text(f"{path}.text", option.get("text"), 75)
                self.length(f"{path}.value", option.get("value"), 150)

    def unique_id(self, where: str, value: object, seen: set[str]) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value:
            self.fail(where, "must be a non-empty string")
        elif len(value) > 255:
            self.fail(where, f"{len(value)} chars, max 255")
        elif value in seen:
            self.fail(where, f"duplicate {value!r}")
        else:
            seen.add(value)


def block_errors(blocks: object, kind: Kind = "message") -> list[str]:
    """Block Kit violations in a `blocks` array (50 blocks for messages, 100 for views)."""
    checker = _Checker()
    checker.blocks("blocks", blocks, 50 if kind == "message" else 100)
    return checker.errors


def view_errors(view: object) -> list[str]:
    """Violations in a modal / home tab view object, including its blocks."""
    if not isinstance(view, dict):
        return ["view: must be an object"]
    checker = _Checker()
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail("view.type", f"must be modal or home, not {kind!r}")
    checker.blocks("view.blocks", view.get("blocks"), 100)
    checker.text("view.title", view.get("title"), 24, plain=True, required=kind == "modal")
    for key in ("submit", "close"):
        checker.text(f"view.{key}", view.get(key), 24, plain=True, required=False)
    checker.length("view.private_metadata", view.get("private_metadata"), 3000)
    checker.length("view.callback_id", view.get("callback_id"), 255)
    checker.length("view.external_id", view.get("external_id"), 255)
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if kind == "modal" and has_input and "submit" not in view:
        checker.fail("view.submit", "is required when the modal has input blocks")
    return checker.errors


def assert_valid_blocks(blocks: object, kind: Kind = "message") -> None:
    """Raise AssertionError listing every Block Kit violation in `blocks`."""
    errors = block_errors(blocks, kind)
    assert not errors, "invalid blocks:\n" + "\n".join(errors)


# --------------------------------------------------------------------------- server plumbing


@dataclass(frozen=True)
class Call:
    """One request received by the fake; `response` is what it answered."""

    method: str
    body: JSON
    headers: Mapping[str, str] = field(repr=False)
    status: int = 200
    response: JSON = field(default_factory=dict)
    path: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


class SlackError(Exception):
    """Raised inside handlers to answer HTTP 200 `{"ok": false, "error": ...}`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def reply(self) -> Reply:
        return 200, {"ok": False, "error": self.error, **self.extra}, {}


class _Rejected(SlackError):
    """An invalid request (Block Kit limits etc.): also recorded in `FakeSlack.rejections`."""

    def __init__(self, error: str, errors: list[str]) -> None:
        messages = [f"[ERROR] {e}" for e in errors]
        super().__init__(error, errors=errors, response_metadata={"messages": messages})


@dataclass
class _Fault:
    method: str  # or "*" for every method
    status: int
    error: str
    retry_after: int | None
    remaining: int | None  # None: forever
    rate: float = 1.0
    rng: random.Random | None = None

    def fires(self, method: str) -> bool:
        if self.method not in (method, "*") or self.remaining == 0:
            return False
        if self.rng is not None and self.rng.random() >= self.rate:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class _Bucket:
    """Token bucket holding up to max(1, rate) tokens."""

    rate: float
    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def wait(self) -> float:
        """Refill; 0 if a token is available, else the seconds until one is."""
        now = time.monotonic()
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


def _parse_body(query: str, raw: bytes, content_type: str) -> JSON:
    body: JSON = dict(parse_qsl(query, keep_blank_values=True))
    if raw and "json" in content_type:
        try:
            loaded = json.loads(raw)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(loaded, dict):
            raise SlackError("invalid_json")
        body.update(loaded)
    elif raw:
        body.update(parse_qsl(raw.decode(), keep_blank_values=True))
    for key in _JSON_FIELDS:  # form posts carry these as JSON strings
        if isinstance(body.get(key), str) and body[key]:
            with contextlib.suppress(ValueError):  # else left as a string: validators complain
                body[key] = json.loads(body[key])
    return body


def _truthy(value: object) -> bool:
    return value in (True, 1, "1", "true", "True")


def _check_message(body: JSON) -> None:
    if "blocks" in body and (errors := block_errors(body["blocks"])):
        raise _Rejected("invalid_blocks", errors)
    text = body.get("text")
    if isinstance(text, str) and len(text) > 40_000:
        raise _Rejected("msg_too_long", [f"text: {len(text)} chars, max 40000"])
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise _Rejected(
            "invalid_metadata_format",
            ["metadata: needs a string event_type and an object event_payload"],
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    """Connections waiting to be accepted, as a real server allows. socketserver's default
    of 5 dropped the connections of a burst of 100 answers, which waited for TCP to try again
    (1 s, 3 s, 7 s), not for the app (benchmark 1's minimal Bolt app)."""

    def __init__(self, fake: FakeSlack, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake = cast(_Server, self.server).fake
        status, payload, extra = fake._dispatch(url.path, url.query, raw, headers)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --------------------------------------------------------------------------- the fake


class FakeSlack:
    """Fake Slack Web API + response_url endpoint on 127.0.0.1:<free port>."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.users: dict[str, JSON] = {}
        self.channels: dict[str, JSON] = {}  # conversations.info overrides; others synthesized
        self.views: dict[str, JSON] = {}
        self.socket_url: str | None = None  # what apps.connections.open hands out
        self.rejected_tokens: set[str] = set()  # answered invalid_auth, as a revoked token is
        self.scopes: str | None = None  # the bot token's `x-oauth-scopes` header, when set
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._rejections: list[Call] = []
        self._messages: dict[str, list[JSON]] = {}
        self._faults: list[_Fault] = []
        self._limits: tuple[float | None, float | None] = (None, None)
        self._buckets: dict[str, _Bucket] = {}
        self._serial = itertools.count(1)
        self._redirects: dict[str, str] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[JSON], JSON]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": partial(self._views, required="trigger_id"),
            "views.push": partial(self._views, required="trigger_id"),
            "views.update": partial(self._views, required="view_id"),  # or external_id
            "views.publish": partial(self._views, required="user_id"),
            "apps.connections.open": self._apps_connections_open,
            "response_url": self._response_url,
        }
        self.add_user(BOT_USER_ID, name=BOT_NAME, is_bot=True)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(self, self.host)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Pass as `base_url` to WebClient / AsyncWebClient."""
        return f"{self.url}/api/"

    def new_response_url(self) -> str:
        return f"{self.url}/response/{next(self._serial)}"

    def new_redirect_url(self, target: str) -> str:
        """A URL on this server that answers 307, sending whoever follows it to `target`."""
        path = f"/redirect/{next(self._serial)}"
        self._redirects[path] = target
        return f"{self.url}{path}"

    # ----------------------------------------------------------------- configuration

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        tz: str = "Asia/Tokyo",
        locale: str = "ja-JP",
        is_bot: bool = False,
        email: str | None = None,
        deleted: bool = False,
    ) -> JSON:
        """Add (or replace) a users.info entry; returns the stored user object."""
        name = name or user_id.lower()
        try:
            offset = ZoneInfo(tz).utcoffset(datetime.now())
            tz_offset = int(offset.total_seconds()) if offset else 0
        except ZoneInfoNotFoundError:
            tz_offset = 0
        profile: JSON = {"real_name": name, "display_name": name}
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = BOT_ID if user_id == BOT_USER_ID else f"B{user_id}"
        user: JSON = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name,
            "deleted": deleted,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_admin": False,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": tz_offset,
            "locale": locale,
            "profile": profile,
            "updated": BASE_TS,
        }
        with self._lock:
            self.users[user_id] = user
        return user

    def fail_next(
        self,
        method: str,
        status: int | None = None,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Fail the next `times` calls of `method` ("*" = any) without performing them.

        Default: HTTP 429 + Retry-After. `status=500`: HTTP 500. `error=...` alone: HTTP 200
        with `{"ok": false, "error": error}`.
        """
        status = status if status is not None else (200 if error else 429)
        if error is None:
            error = "ratelimited" if status == 429 else "internal_error"
        with self._lock:
            self._faults.append(_Fault(method, status, error, retry_after, times))

    def random_500(self, method: str, rate: float = 0.02, seed: int = 1) -> None:
        """Make a seeded random fraction of `method` calls ("*" = any) answer HTTP 500."""
        with self._lock:
            self._faults.append(
                _Fault(method, 500, "internal_error", None, None, rate, random.Random(seed))
            )

    def rate_limit(
        self, per_channel_per_second: float | None = 1.0, workspace_per_second: float | None = 20.0
    ) -> None:
        """Answer 429 when chat.postMessage exceeds the per-channel rate or any API method
        exceeds the workspace rate (token buckets, bursts of max(1, rate))."""
        with self._lock:
            self._limits = (per_channel_per_second, workspace_per_second)
            self._buckets.clear()

    def reset(self) -> None:
        """Forget calls, rejections, messages, views, faults and rate limits (users stay)."""
        with self._lock:
            self._calls.clear()
            self._rejections.clear()
            self._messages.clear()
            self.views.clear()
            self._faults.clear()
            self._limits = (None, None)
            self._buckets.clear()

    # ----------------------------------------------------------------- assertions

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every recorded call, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def rejections(self) -> list[Call]:
        """Calls refused for invalid arguments (Block Kit limits, metadata, ...)."""
        with self._lock:
            return list(self._rejections)

    def calls_to(self, method: str) -> list[JSON]:
        """Bodies of every recorded call to `method` (failed ones included)."""
        return [c.body for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[JSON]:
        """Stored messages of a channel, oldest first (thread replies included)."""
        with self._lock:
            return copy.deepcopy(self._messages.get(self._channel_id(channel), []))

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Predicate | None = None,
    ) -> list[JSON]:
        """Poll until `count` calls to `method` matching `predicate` are recorded."""
        deadline = time.monotonic() + timeout
        while (found := self._poll(method, count, timeout, predicate, deadline)) is None:
            time.sleep(_POLL_SECONDS)
        return found

    async def await_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Predicate | None = None,
    ) -> list[JSON]:
        """`wait_for` for asyncio tests: sleeps with asyncio.sleep."""
        deadline = time.monotonic() + timeout
        while (found := self._poll(method, count, timeout, predicate, deadline)) is None:
            await asyncio.sleep(_POLL_SECONDS)
        return found

    def _poll(
        self,
        method: str,
        count: int,
        timeout: float,
        predicate: Predicate | None,
        deadline: float,
    ) -> list[JSON] | None:
        calls = self.calls
        found = [
            c.body for c in calls if c.method == method and (not predicate or predicate(c.body))
        ]
        if len(found) >= count:
            return found
        if time.monotonic() < deadline:
            return None
        matching = " matching the predicate" if predicate else ""
        lines = [
            f"  {c.method} -> {c.status} {c.response.get('error', 'ok')}: {c.body!r:.300}"
            for c in calls
        ]
        raise AssertionError(
            f"expected {count} call(s) to {method}{matching} within {timeout}s, found {len(found)}."
            " Recorded calls:\n" + ("\n".join(lines) or "  (none)")
        )

    # ----------------------------------------------------------------- dispatch

    def _dispatch(self, path: str, query: str, raw: bytes, headers: dict[str, str]) -> Reply:
        if path in self._redirects:
            return 307, {"ok": False, "error": "moved"}, {"Location": self._redirects[path]}
        if path.startswith("/response/"):
            method = "response_url"
        elif path.startswith("/api/"):
            method = path.removeprefix("/api/")
        else:
            return 404, {"ok": False, "error": "not_found"}, {}
        body: JSON = {}
        rejected = False
        with self._lock:
            try:
                body = _parse_body(query, raw, headers.get("content-type", ""))
                reply = self._respond(method, body, headers)
            except _Rejected as exc:
                reply, rejected = exc.reply(), True
            except SlackError as exc:
                reply = exc.reply()
            except Exception as exc:  # a bug in the fake or a malformed request: make it loud
                reply, rejected = (
                    (500, {"ok": False, "error": "fake_crashed", "detail": repr(exc)}, {}),
                    True,
                )
            call = Call(method, body, headers, reply[0], reply[1], path)
            self._calls.append(call)
            if rejected:
                self._rejections.append(call)
        return reply

    def _respond(self, method: str, body: JSON, headers: dict[str, str]) -> Reply:
        scopes: dict[str, str] = {}
        if method != "response_url":
            self._authorize(method, headers.get("authorization", ""))
            if self.scopes is not None:
                scopes = {"x-oauth-scopes": self.scopes}
            if headers.get("authorization", "").removeprefix("Bearer ") in self.rejected_tokens:
                raise SlackError("invalid_auth")
        handler = self._handlers.get(method)
        if handler is None:
            raise SlackError("unknown_method")
        for fault in self._faults:
            if fault.fires(method):
                retry = fault.status == 429 and fault.retry_after is not None
                extra = {"Retry-After": str(fault.retry_after)} if retry else {}
                return fault.status, {"ok": False, "error": fault.error}, extra
        if (wait := self._rate_wait(method, body)) > 0:
            retry_after = str(max(1, math.ceil(wait)))
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry_after}
        return 200, {"ok": True, **handler(body)}, scopes

    @staticmethod
    def _authorize(method: str, authorization: str) -> None:
        token = authorization.removeprefix("Bearer ").strip()
        if not authorization.startswith("Bearer ") or not token:
            raise SlackError("not_authed")
        if not token.startswith(("xoxb-", "xoxp-", "xapp-")):
            raise SlackError("invalid_auth")
        if (method == "apps.connections.open") != token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")

    def _rate_wait(self, method: str, body: JSON) -> float:
        if method == "response_url":
            return 0.0
        per_channel, workspace = self._limits
        keys: list[tuple[str, float]] = []
        if workspace is not None:
            keys.append(("*", workspace))
        if per_channel is not None and method == "chat.postMessage":
            keys.append((self._channel_id(str(body.get("channel", ""))), per_channel))
        buckets = [self._buckets.setdefault(k, _Bucket(rate, max(1.0, rate))) for k, rate in keys]
        wait = max((b.wait() for b in buckets), default=0.0)
        if wait == 0:  # only calls that get through use up tokens
            for bucket in buckets:
                bucket.tokens -= 1
        return wait

    # ----------------------------------------------------------------- helpers

    def _next_ts(self) -> str:
        micros = next(self._serial) * 100
        return f"{BASE_TS + micros // 1_000_000}.{micros % 1_000_000:06d}"

    @staticmethod
    def _channel_id(channel: str) -> str:
        """Posting to a user id goes to the DM with that user, as in Slack."""
        return f"D{channel}" if channel[:1] in ("U", "W") else channel

    def _require_channel(self, body: JSON) -> str:
        channel = body.get("channel")
        if not isinstance(channel, str) or not channel:
            raise SlackError("channel_not_found")
        return self._channel_id(channel)

    def _find_message(self, channel: str, ts: object) -> JSON:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _user(self, user_id: object, include_locale: bool) -> JSON:
        user = copy.deepcopy(self.users.get(str(user_id)))
        if user is None:
            raise SlackError("user_not_found")
        if not include_locale:
            user.pop("locale", None)
        return user

    # ----------------------------------------------------------------- methods

    def _auth_test(self, body: JSON) -> JSON:
        return {
            "url": "https://test.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _users_info(self, body: JSON) -> JSON:
        return {"user": self._user(body.get("user"), _truthy(body.get("include_locale")))}

    def _users_lookup_by_email(self, body: JSON) -> JSON:
        for user_id, user in self.users.items():
            if user["profile"].get("email") == body.get("email"):
                return {"user": self._user(user_id, include_locale=False)}
        raise SlackError("users_not_found")

    def _conversations_open(self, body: JSON) -> JSON:
        if body.get("channel"):
            return {"channel": {"id": body["channel"]}}
        users = [u for u in str(body.get("users", "")).split(",") if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        channel = self._channel_id(users[0]) if len(users) == 1 else "G" + "".join(users)
        return {"channel": {"id": channel}, "no_op": False, "already_open": False}

    def _conversations_info(self, body: JSON) -> JSON:
        channel = self._require_channel(body)
        if channel in self.channels:
            return {"channel": copy.deepcopy(self.channels[channel])}
        info: JSON = {
            "id": channel,
            "name": channel.lower(),
            "is_channel": channel.startswith("C"),
            "is_group": channel.startswith("G"),
            "is_im": channel.startswith("D"),
            "is_private": not channel.startswith("C"),
            "is_member": True,
            "is_archived": False,
            "created": BASE_TS,
        }
        if channel.startswith("D"):
            info["user"] = channel[1:]
        return {"channel": info}

    def _conversations_history(self, body: JSON) -> JSON:
        channel = self._require_channel(body)
        try:
            oldest = Decimal(str(body.get("oldest") or "0"))
            latest = Decimal(str(body["latest"])) if body.get("latest") else None
            offset = int(body.get("cursor") or 0)
            limit = int(body.get("limit") or 100)
        except (InvalidOperation, ValueError):
            raise SlackError("invalid_arguments") from None
        inclusive = _truthy(body.get("inclusive"))

        def wanted(message: JSON) -> bool:
            ts = Decimal(message["ts"])
            thread_ts = message.get("thread_ts", message["ts"])
            if thread_ts != message["ts"] and message.get("subtype") != "thread_broadcast":
                return False  # thread replies are not in history, as in Slack
            if ts < oldest or (ts == oldest and not inclusive):
                return False
            return latest is None or ts < latest or (ts == latest and inclusive)

        found = [m for m in reversed(self._messages.get(channel, [])) if wanted(m)]
        page = copy.deepcopy(found[offset : offset + limit])
        if not _truthy(body.get("include_all_metadata")):
            for message in page:
                message.pop("metadata", None)
        has_more = offset + limit < len(found)
        return {
            "messages": page,
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": str(offset + limit) if has_more else ""},
        }

    def _chat_post_message(self, body: JSON) -> JSON:
        channel = self._require_channel(body)
        _check_message(body)
        if not any(body.get(key) for key in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        message: JSON = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": body.get("text", ""),
            "ts": self._next_ts(),
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if key in body:
                message[key] = body[key]
        if "thread_ts" in body and _truthy(body.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
        self._messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, body: JSON) -> JSON:
        channel = self._require_channel(body)
        message = self._find_message(channel, body.get("ts"))
        _check_message(body)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in body:
                message[key] = body[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_get_permalink(self, body: JSON) -> JSON:
        channel = self._require_channel(body)
        ts = str(body.get("message_ts") or "")
        if not ts:
            raise SlackError("invalid_arguments")
        link = f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _chat_post_ephemeral(self, body: JSON) -> JSON:
        self._require_channel(body)
        if not body.get("user"):
            raise SlackError("user_not_in_channel")
        _check_message(body)
        return {"message_ts": self._next_ts()}

    def _views(self, body: JSON, required: str) -> JSON:
        view = body.get("view")
        if errors := view_errors(view):
            raise _Rejected("invalid_arguments", errors)
        assert isinstance(view, dict)
        external_id = body.get("external_id")
        if not body.get(required) and not (required == "view_id" and external_id):
            raise _Rejected("invalid_arguments", [f"{required} is required"])
        view_id = body.get("view_id")
        if not view_id and external_id:
            matches = [k for k, v in self.views.items() if v["external_id"] == external_id]
            if not matches:
                raise SlackError("not_found")
            view_id = matches[0]
        previous = self.views.get(view_id) if view_id else None
        if previous and body.get("hash") and body["hash"] != previous["hash"]:
            raise SlackError("hash_conflict")
        serial = next(self._serial)
        view_id = view_id or f"V{serial:06d}"
        stored: JSON = {
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            **copy.deepcopy(view),
            "id": view_id,
            "hash": f"{serial}.hash",
        }
        self.views[view_id] = stored
        return {"view": copy.deepcopy(stored)}

    def _apps_connections_open(self, body: JSON) -> JSON:
        return {"url": self.socket_url or f"ws://{self.host}:{self.port}/link/?ticket=fake-ticket"}

    def _response_url(self, body: JSON) -> JSON:
        _check_message(body)
        return {}
