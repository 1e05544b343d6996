"""Builders for signed Slack requests to a Bolt app's `/slack/events` endpoint.

    body = slash_command_body("/kakehashi", "help", user_id="U1", response_url=url)
    client.post("/slack/events", content=body, headers=signed_headers(body, SECRET))

Payload shapes follow what Slack sends (slash command form fields, `payload=` JSON for
interactivity, a JSON `event_callback` envelope for the Events API).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

JSON = dict[str, Any]

TEAM_ID = "T0001"
TEAM_DOMAIN = "test"
APP_ID = "A0001"
BOT_USER_ID = "UBOT"
VERIFICATION_TOKEN = "verification-token"  # deprecated by Slack, still sent
FORM = "application/x-www-form-urlencoded"
# Fails fast (connection refused) if a test forgets to pass FakeSlack.new_response_url().
UNSET_RESPONSE_URL = "http://127.0.0.1:9/response/unset"


def signed_headers(
    body: str, secret: str, timestamp: int | None = None, content_type: str | None = None
) -> dict[str, str]:
    """Slack v0 signature headers; content type is JSON if the body is a JSON object."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    if content_type is None:
        content_type = "application/json" if body.lstrip().startswith("{") else FORM
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def _user(user_id: str, team_id: str = TEAM_ID) -> JSON:
    name = user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _interactive(payload: JSON) -> str:
    return urlencode({"payload": json.dumps(payload)})


def slash_command_body(
    command: str,
    text: str,
    user_id: str,
    channel_id: str = "C0001",
    response_url: str = UNSET_RESPONSE_URL,
    trigger_id: str = "1337.42",
    team_id: str = TEAM_ID,
    user_name: str | None = None,
) -> str:
    """Form-encoded slash command invocation."""
    channel_name = "directmessage" if channel_id.startswith("D") else channel_id.lower()
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_actions_body(
    user_id: str,
    action_id: str,
    value: str | None,
    block_id: str = "b",
    message: JSON | None = None,
    view: JSON | None = None,
    container: JSON | None = None,
    response_url: str | None = None,
    channel_id: str | None = None,
    trigger_id: str = "1337.42",
    action_type: str = "button",
    action_fields: JSON | None = None,
    team_id: str = TEAM_ID,
) -> str:
    """`payload=` form body of a block_actions interaction.

    From a message unless `view` is given (then `view` gets a default `state`). A button
    action by default; pass e.g. `action_type="static_select",
    action_fields={"selected_option": {...}}` (and `value=None`) for other elements.
    """
    action: JSON = {
        "type": action_type,
        "action_id": action_id,
        "block_id": block_id,
        "action_ts": f"{int(time.time())}.000001",
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
    if value is not None:
        action["value"] = value
    action.update(action_fields or {})
    payload: JSON = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [action],
    }
    if view is not None:
        payload["view"] = {"state": {"values": {}}, **view}
        payload["container"] = container or {"type": "view", "view_id": view.get("id", "V1")}
    else:
        channel = channel_id or "C0001"
        message = message or {
            "type": "message",
            "user": BOT_USER_ID,
            "text": "",
            "ts": "1700000000.000100",
        }
        payload["message"] = message
        payload["channel"] = {"id": channel, "name": channel.lower()}
        payload["container"] = container or {
            "type": "message",
            "message_ts": message.get("ts"),
            "channel_id": channel,
            "is_ephemeral": False,
        }
    if channel_id is not None and "channel" not in payload:
        payload["channel"] = {"id": channel_id, "name": channel_id.lower()}
    if response_url is not None:
        payload["response_url"] = response_url
    return _interactive(payload)


def view_submission_body(
    user_id: str,
    callback_id: str,
    values: dict[str, dict[str, JSON]],
    private_metadata: str = "",
    view_id: str = "V1",
    hash: str = "h",
    blocks: list[JSON] | None = None,
    trigger_id: str = "1337.42",
    team_id: str = TEAM_ID,
) -> str:
    """`payload=` form body of a modal submission.

    `values` is `view.state.values`: {block_id: {action_id: {"type": ..., "value": ...}}}.
    """
    view: JSON = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks or [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": values},
        "hash": hash,
        "title": {"type": "plain_text", "text": "Kakehashi", "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "BBOT",
    }
    return _interactive(
        {
            "type": "view_submission",
            "team": {"id": team_id, "domain": TEAM_DOMAIN},
            "user": _user(user_id, team_id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id,
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
    )


def event_body(
    event: JSON, team_id: str = TEAM_ID, event_id: str = "Ev0001", event_time: int | None = None
) -> str:
    """JSON `event_callback` envelope around an Events API `event`."""
    return json.dumps(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()) if event_time is None else event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
    )
