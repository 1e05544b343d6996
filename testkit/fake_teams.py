"""Microsoft, as the Teams tests need it, on a free port in its own thread (the SDK fetches
signing keys with a blocking call): a token issuer (OpenID keys, RS256 tokens, the client
credentials endpoint) and a Bot Connector that records every activity and can be told to fail.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.test"
CLIENT_ID = "0f0e0d0c-0000-4000-8000-000000000001"
TENANT_ID = "0f0e0d0c-0000-4000-8000-0000000000aa"
CLIENT_SECRET = "fake-teams-secret-value"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Failure:
    """An answer the connector gives instead of doing the work."""

    status: int
    code: str = ""
    retry_after: str | None = None
    late: float = 0.0
    """When set, the work is done and answered only after this many seconds (a lost answer to
    a client that gives up sooner)."""


@dataclass
class FakeTeams:
    """The issuer and the connector at `url`; `activities` are the posted ones, in order."""

    key: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    kid: str = "fake-key-1"
    activities: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    """Answered, one each, to the next posts or updates."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    def settings(self) -> dict[str, str]:
        """The environment of a `kakehashi run` that trusts this issuer."""
        return {
            "TEAMS_CLIENT_ID": CLIENT_ID,
            "TEAMS_CLIENT_SECRET": CLIENT_SECRET,
            "TEAMS_TENANT_ID": TENANT_ID,
            "TEAMS_OPENID_METADATA_URL": self.openid_metadata_url,
            "TEAMS_TOKEN_ISSUER": ISSUER,
            "TEAMS_LOGIN_URL": self.url,
        }

    def token(self, **claims: Any) -> str:
        """A Bot Framework token for the connector at `self.url`; `claims` change it."""
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "serviceurl": self.url,
            "nbf": now - 10,
            "exp": now + 3600,
            **claims,
        }
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def fail_next(self, *failures: Failure) -> None:
        with self.lock:
            self.failures.extend(failures)

    def _failure(self) -> Failure | None:
        with self.lock:
            return self.failures.popleft() if self.failures else None


def message_activity(teams: FakeTeams, text: str, **extra: Any) -> dict[str, Any]:
    """A personal-chat message as Teams would send it to the bot."""
    return {
        "type": "message",
        "id": uuid.uuid4().hex,
        "channelId": "msteams",
        "serviceUrl": teams.url,
        "text": text,
        "locale": "en-US",
        "from": {"id": "29:user-aiko", "name": "Aiko", "aadObjectId": str(uuid.uuid4())},
        "recipient": {"id": f"28:{CLIENT_ID}", "name": "Kakehashi"},
        "conversation": {
            "id": "a:personal-aiko",
            "conversationType": "personal",
            "tenantId": TENANT_ID,
        },
        "channelData": {"tenant": {"id": TENANT_ID}},
        **extra,
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read what was recorded."""

    def do_GET(self) -> None:
        if self.path.endswith("/keys"):
            self._send(200, self.server.teams.jwks())
        elif "/members/" in self.path:
            member = self.path.rsplit("/", 1)[1]
            self._send(200, {"id": member, "name": "Aiko", "tenantId": TENANT_ID})
        else:
            self._send(404, {"error": {"code": "NotFound"}})

    def do_POST(self) -> None:
        teams = self.server.teams
        body = self._body()
        path = self.path.split("?")[0]  # targeted messages: `?isTargetedActivity=true`
        if path.endswith("/oauth2/v2.0/token"):
            with teams.lock:
                teams.token_requests.append(body)
            self._send(
                200,
                {
                    "access_token": teams.token(aud="https://api.botframework.com"),
                    "expires_in": 3600,
                    "token_type": "Bearer",
                },
            )
        elif path.endswith("/v3/conversations"):
            conversation = {"id": f"a:chat-{len(teams.conversations) + 1}", "request": body}
            with teams.lock:
                teams.conversations.append(conversation)
            self._send(201, {"id": conversation["id"]})
        elif path.endswith("/activities") or "/activities/" in path:
            if self.server.teams.failures and self.server.teams.failures[0].late:
                self._record_then_answer_late(body)
            elif not self._failed():
                record = {
                    **body,
                    "path": self.path,
                    "id": uuid.uuid4().hex,
                    "authorization": self.headers.get("Authorization", ""),
                }
                with teams.lock:
                    teams.activities.append(record)
                self._send(201, {"id": record["id"]})
        else:
            self._send(404, {"error": {"code": "NotFound"}})

    def _record_then_answer_late(self, body: dict[str, Any]) -> None:
        teams = self.server.teams
        record = {**body, "path": self.path, "id": uuid.uuid4().hex, "authorization": ""}
        with teams.lock:
            teams.activities.append(record)
        self._failed()
        with contextlib.suppress(OSError):  # the client gave up: as when Teams' answer is lost
            self._send(201, {"id": record["id"]})

    def do_PUT(self) -> None:
        body = self._body()
        if not self._failed():
            with self.server.teams.lock:
                self.server.teams.updates.append({**body, "path": self.path})
            self._send(200, {"id": self.path.rsplit("/", 1)[1]})

    def _failed(self) -> bool:
        failure = self.server.teams._failure()
        if failure is None:
            return False
        if failure.late:
            time.sleep(failure.late)
            return False
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        error = {"error": {"code": failure.code or "Failure", "message": "fake"}}
        self._send(failure.status, error, headers)
        return True

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            from urllib.parse import parse_qsl

            return dict(parse_qsl(raw.decode()))
        return json.loads(raw) if raw else {}

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    teams: FakeTeams


def start_fake_teams() -> tuple[FakeTeams, _Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    teams = FakeTeams()
    server.teams = teams
    teams.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return teams, server
