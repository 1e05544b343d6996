"""Unauthenticated and malformed input at `POST /slack/events` (issue 19 item 5, PRODUCT §11):
the signature is checked on the raw body before anything parses it. 401 for anything unsigned,
400 (or 413 when too large) for a signed body Slack would never send; never a 500, and nothing
stored or sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from storage.audit import AuditEntry
from storage.promises import Promise
from testkit.signing import FORM, block_actions_body, view_submission_body
from tests.conftest import SECRET, SlackServer

JUNK = b"x" * (1024 * 1024 + 10)
# Bodies Slack never sends, each with the content type it is labelled with.
MALFORMED: dict[str, tuple[bytes, str]] = {
    "payload not JSON": (b"payload=x", FORM),
    "a lone brace": (b"{", "application/json"),
    "invalid UTF-8": (b"command=%2Fpromise&text=\xff\xfe&user_id=U1", FORM),
    "payload a list": (b"payload=%5B%5D", FORM),
    "a form labelled JSON": (b"command=%2Fkakehashi&text=help&user_id=U1", "application/json"),
    "JSON not an object": (b'["a"]', "application/json"),
    "an unknown charset": (b"command=%2Fkakehashi&user_id=U1", f"{FORM}; charset=bogus"),
    "plain text": (b"hello", "text/plain"),
}


def sign(body: bytes, content_type: str, secret: str = SECRET) -> dict[str, str]:
    """Slack's v0 signature over raw bytes (`signed_headers` takes text)."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


async def post(
    server: SlackServer, body: bytes, headers: dict[str, str] | dict[str, str | bytes]
) -> httpx.Response:
    return await server.http.post(f"{server.url}/slack/events", content=body, headers=headers)


def nothing_happened(engine: Engine, server: SlackServer) -> None:
    """No promise and no audit entry beyond the seeded manager's; nothing sent to Slack."""
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Promise)).one() == 0
        assert session.exec(select(func.count()).select_from(AuditEntry)).one() == 1
    assert server.slack.calls == []


@pytest.mark.parametrize("case", [*MALFORMED, "1 MB of junk"])
async def test_an_unsigned_request_is_401_whatever_its_body(
    server: SlackServer, engine: Engine, case: str
) -> None:
    body, content_type = MALFORMED.get(case, (JUNK, FORM))
    response = await post(server, body, {"Content-Type": content_type})
    assert response.status_code == 401
    nothing_happened(engine, server)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
        {
            "X-Slack-Request-Timestamp": "１７００００００００".encode(),
            "X-Slack-Signature": "v0=00",
        },
        {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"},
    ],
    ids=["letters", "full-width digits", "forty digits", "wrong digest"],
)
async def test_a_bad_signature_header_is_401(
    server: SlackServer, engine: Engine, headers: dict[str, str | bytes]
) -> None:
    body = urlencode({"command": "/promise", "text": "ACME: x", "user_id": "UMANAGER"})
    response = await post(server, body.encode(), {**headers, "Content-Type": FORM})
    assert response.status_code == 401
    nothing_happened(engine, server)


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_signed_but_unreadable_body_is_400(
    server: SlackServer, engine: Engine, case: str
) -> None:
    body, content_type = MALFORMED[case]
    response = await post(server, body, sign(body, content_type))
    assert response.status_code == 400
    nothing_happened(engine, server)


def _payload(body: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(dict(parse_qsl(body))["payload"])
    return loaded


def _interactive(payload: dict[str, object]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _press() -> dict[str, object]:
    return _payload(block_actions_body("UMANAGER", "handoff.accept", "1"))


def _submission(values: object) -> dict[str, object]:
    submission = _payload(view_submission_body("UMANAGER", "handoff.submit", {}))
    submission["view"]["state"]["values"] = values  # type: ignore[index]
    return submission


def _without(payload: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in payload.items() if k != key}


SIGNED_MALFORMED: dict[str, bytes] = {
    "a press without a user": _interactive(_without(_press(), "user")),
    "a press with a user without an id": _interactive({**_press(), "user": {"name": "x"}}),
    "a press with no action": _interactive({**_press(), "actions": []}),
    "a press whose action is a string": _interactive({**_press(), "actions": ["x"]}),
    "a press whose value is a number": _interactive(
        {**_press(), "actions": [{"action_id": "handoff.accept", "value": 1e308}]}
    ),
    "a submission without a user": _interactive(_without(_submission({}), "user")),
    "a submission whose state is a list": _interactive(_submission([])),
    "a submission whose field is a list": _interactive(_submission({"account": []})),
    "a submission whose value is a number": _interactive(
        _submission({"account": {"value": {"type": "plain_text_input", "value": 12}}})
    ),
    "a huge integer": urlencode(
        {"payload": '{"type":"block_actions","n":' + "9" * 5000 + "}"}
    ).encode(),
    "an infinite number": urlencode(
        {"payload": '{"type":"view_submission","view":Infinity}'}
    ).encode(),
    "a slash command without a user": urlencode({"command": "/promise", "text": "x"}).encode(),
    "an event that is not an object": json.dumps(
        {"type": "event_callback", "event": "app_home_opened"}
    ).encode(),
}


@pytest.mark.parametrize("case", SIGNED_MALFORMED)
async def test_a_signed_but_malformed_payload_is_400(
    server: SlackServer, engine: Engine, case: str
) -> None:
    body = SIGNED_MALFORMED[case]
    content_type = "application/json" if body.startswith(b"{") else FORM
    response = await post(server, body, sign(body, content_type))
    assert response.status_code == 400, response.text
    nothing_happened(engine, server)
