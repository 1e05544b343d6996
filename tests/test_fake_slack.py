"""Tests for the FakeSlack test server and the signed-request builders."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from testkit.fake_slack import FakeSlack, assert_valid_blocks, block_errors, view_errors
from testkit.signing import (
    block_actions_body,
    event_body,
    signed_headers,
    slash_command_body,
    view_submission_body,
)

SECRET = "shh"


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, **extra}


def modal(**extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Title"},
        "blocks": [],
        **extra,
    }


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url)


def api_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> tuple[int, Any]:
    return excinfo.value.response.status_code, excinfo.value.response.get("error")


# ------------------------------------------------------------------- basic methods


def test_post_message_and_history_with_metadata(slack: FakeSlack, client: WebClient) -> None:
    meta = {"event_type": "kakehashi_post", "event_payload": {"id": 7}}
    first = client.chat_postMessage(channel="C1", text="one", metadata=meta)
    second = client.chat_postMessage(channel="C1", text="two", blocks=[section("two")])
    client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    assert first["ts"] == "1700000000.000100"
    assert float(second["ts"]) > float(first["ts"])
    assert first["channel"] == "C1" and first["message"]["metadata"] == meta

    history = client.conversations_history(channel="C1", include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["two", "one"]  # newest first, no replies
    assert history["messages"][1]["metadata"] == meta
    plain = client.conversations_history(channel="C1")["messages"]
    assert "metadata" not in plain[1]
    newer = client.conversations_history(channel="C1", oldest=first["ts"], limit=10)
    assert [m["text"] for m in newer["messages"]] == ["two"]
    page = client.conversations_history(channel="C1", limit=1)
    assert page["has_more"] and [m["text"] for m in page["messages"]] == ["two"]

    assert [m["text"] for m in slack.messages("C1")] == ["one", "two", "reply"]
    assert slack.calls_to("chat.postMessage")[1]["blocks"] == [section("two")]
    assert slack.rejections == []


def test_form_encoded_fields_are_decoded(slack: FakeSlack, client: WebClient) -> None:
    blocks = [section("hi")]
    client.api_call(
        "chat.postMessage",
        params={"channel": "C1", "text": "hi", "blocks": json.dumps(blocks)},
    )
    call = slack.calls[-1]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.body["blocks"] == blocks
    assert slack.messages("C1")[0]["blocks"] == blocks


def test_update_and_ephemeral(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="old")
    client.chat_update(channel="C1", ts=posted["ts"], text="new")
    assert slack.messages("C1")[0]["text"] == "new"
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1.000000", text="x")
    assert api_error(excinfo) == (200, "message_not_found")
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]


def test_auth_users_and_conversations(slack: FakeSlack, client: WebClient) -> None:
    assert client.auth_test()["user_id"] == "UBOT"
    slack.add_user("U1", name="taro", email="taro@example.com")
    user = client.users_info(user="U1")["user"]
    assert user["tz"] == "Asia/Tokyo" and user["tz_offset"] == 9 * 3600
    assert "locale" not in user
    assert client.users_info(user="U1", include_locale=True)["user"]["locale"] == "ja-JP"
    assert client.users_lookupByEmail(email="taro@example.com")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U404")
    assert api_error(excinfo) == (200, "user_not_found")

    dm = client.conversations_open(users="U1")["channel"]["id"]
    assert dm == "DU1"
    assert client.conversations_info(channel=dm)["channel"]["is_im"]
    client.chat_postMessage(channel="U1", text="hello")  # to a user id: lands in the DM
    assert [m["text"] for m in slack.messages(dm)] == ["hello"]

    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=slack.api_url).auth_test()
    assert api_error(excinfo) == (200, "not_authed")
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("emoji.list")
    assert api_error(excinfo) == (200, "unknown_method")


def test_views(slack: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id="1.2", view=modal(callback_id="cb"))["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "cb"
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    assert api_error(excinfo) == (200, "hash_conflict")
    home = {"type": "home", "blocks": [section("home")]}
    assert client.views_publish(user_id="U1", view=home)["view"]["type"] == "home"
    assert client.apps_connections_open(app_token="xapp-1")["url"].startswith("ws://")


# ------------------------------------------------------------------- Block Kit limits


def test_message_limits_are_rejected_and_recorded(slack: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x", blocks=[section("x")] * 51)
    assert api_error(excinfo) == (200, "invalid_blocks")
    assert excinfo.value.response["errors"] == ["blocks: 51 items, max 50"]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert api_error(excinfo) == (200, "msg_too_long")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(
            channel="C1", text="x", metadata={"event_type": "t", "event_payload": []}
        )
    assert api_error(excinfo) == (200, "invalid_metadata_format")
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(
            trigger_id="1.2", view=modal(title={"type": "plain_text", "text": "t" * 25})
        )
    assert api_error(excinfo) == (200, "invalid_arguments")
    assert excinfo.value.response["errors"] == ["view.title.text: 25 chars, max 24"]

    assert [c.method for c in slack.rejections] == ["chat.postMessage"] * 3 + ["views.open"]
    assert slack.messages("C1") == []


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([section("x" * 3001)], "blocks[0].text.text: 3001 chars, max 3000"),
        ([section("")], "blocks[0].text.text: must be a non-empty string"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "11 items"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "max 2000"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "max 150"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "plain_text"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "11 items"),
        ([{"type": "actions", "elements": [button()] * 26}], "26 items"),
        ([{"type": "actions", "elements": [button("b" * 76)]}], "76 chars, max 75"),
        ([{"type": "actions", "elements": [button(value="v" * 2001)]}], "value: 2001 chars"),
        ([{"type": "actions", "elements": [button(action_id="a" * 256)]}], "action_id: 256"),
        ([section("x", block_id="b" * 256)], "block_id: 256 chars"),
        ([section("x", block_id="same"), section("y", block_id="same")], "duplicate 'same'"),
        ([{"type": "sectoin"}], "unknown block type 'sectoin'"),
    ],
)
def test_block_errors(blocks: list[Any], expected: str) -> None:
    errors = block_errors(blocks)
    assert any(expected in e for e in errors), errors
    with pytest.raises(AssertionError, match="invalid blocks"):
        assert_valid_blocks(blocks)


def test_view_errors() -> None:
    label = {"type": "plain_text", "text": "l" * 2001}
    text_input = {"type": "plain_text_input", "action_id": "a", "initial_value": "v" * 3001}
    view = modal(
        blocks=[{"type": "input", "label": label, "element": text_input}],
        private_metadata="m" * 3001,
        close={"type": "plain_text", "text": "c" * 25},
    )
    errors = view_errors(view)
    for expected in ("label.text: 2001", "initial_value: 3001", "private_metadata: 3001"):
        assert any(expected in e for e in errors), errors
    assert "view.close.text: 25 chars, max 24" in errors
    assert "view.submit: is required when the modal has input blocks" in errors
    assert view_errors(modal(blocks=[section("ok")] * 100)) == []
    assert block_errors([section("ok")] * 100, kind="view") == []
    assert_valid_blocks([section("ok", accessory=button(action_id="go"))])


# ------------------------------------------------------------------- faults


def test_rate_limited_fault(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", retry_after=3)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="hi")
    assert api_error(excinfo) == (429, "ratelimited")
    assert excinfo.value.response.headers["Retry-After"] == "3"
    client.chat_postMessage(channel="C1", text="hi")
    assert [c.status for c in slack.calls] == [429, 200]
    assert len(slack.messages("C1")) == 1


def test_server_error_and_error_faults(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", status=500)
    slack.fail_next("chat.postMessage", error="channel_not_found", times=2)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="hi")
    assert api_error(excinfo) == (500, "internal_error")
    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="C1", text="hi")
        assert api_error(excinfo) == (200, "channel_not_found")
    client.chat_postMessage(channel="C1", text="hi")
    assert len(slack.messages("C1")) == 1


def test_random_500_is_seeded_and_skips_the_action(slack: FakeSlack, client: WebClient) -> None:
    slack.random_500("chat.postMessage", rate=0.5, seed=1)
    outcomes = []
    for i in range(20):
        try:
            client.chat_postMessage(channel="C1", text=str(i))
            outcomes.append(True)
        except SlackApiError as exc:
            assert exc.response.status_code == 500
            outcomes.append(False)
    assert 0 < outcomes.count(True) < 20
    assert len(slack.messages("C1")) == outcomes.count(True)


def test_rate_limit_per_channel(slack: FakeSlack, client: WebClient) -> None:
    slack.rate_limit(per_channel_per_second=1.0)
    client.chat_postMessage(channel="C1", text="1")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="2")
    assert api_error(excinfo) == (429, "ratelimited")
    assert excinfo.value.response.headers["Retry-After"] == "1"
    client.chat_postMessage(channel="C2", text="other channel")
    assert [c.status for c in slack.calls] == [200, 429, 200]
    slack.reset()
    client.chat_postMessage(channel="C1", text="after reset")
    assert slack.messages("C1")[0]["text"] == "after reset" and len(slack.calls) == 1


# ------------------------------------------------------------------- response_url and waiting


def test_response_url_posts_are_recorded(slack: FakeSlack) -> None:
    url = slack.new_response_url()
    assert url.startswith(f"http://127.0.0.1:{slack.port}/response/")
    webhook = WebhookClient(url)
    assert webhook.send(text="done", response_type="ephemeral").status_code == 200
    assert slack.calls_to("response_url") == [{"text": "done", "response_type": "ephemeral"}]
    rejected = webhook.send(text="x", blocks=[section("x" * 3001)])
    assert json.loads(rejected.body)["error"] == "invalid_blocks"
    assert [c.method for c in slack.rejections] == ["response_url"]


def test_wait_for_sees_calls_from_other_threads(slack: FakeSlack, client: WebClient) -> None:
    timer = threading.Timer(0.05, lambda: client.chat_postMessage(channel="C1", text="later"))
    timer.start()
    bodies = slack.wait_for("chat.postMessage", predicate=lambda b: b["text"] == "later")
    assert bodies[0]["channel"] == "C1"
    timer.join()


def test_wait_for_timeout_lists_recorded_calls(slack: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="only this")
    with pytest.raises(AssertionError) as excinfo:
        slack.wait_for("chat.update", timeout=0.05)
    message = str(excinfo.value)
    assert "expected 1 call(s) to chat.update within 0.05s, found 0" in message
    assert "chat.postMessage -> 200 ok" in message and "only this" in message


def test_await_for_with_async_client(slack: FakeSlack) -> None:
    async def scenario() -> list[dict[str, Any]]:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        task = asyncio.create_task(client.chat_postMessage(channel="C1", text="async"))
        found = await slack.await_for("chat.postMessage", timeout=2.0)
        await task
        return found

    assert asyncio.run(scenario())[0]["text"] == "async"


# ------------------------------------------------------------------- signed requests via Bolt


def test_signed_headers_verify() -> None:
    body = slash_command_body("/kakehashi", "help", user_id="U1")
    headers = signed_headers(body, SECRET)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert signed_headers(event_body({"type": "app_mention"}), SECRET)["Content-Type"] == (
        "application/json"
    )
    assert parse_qs(body)["command"] == ["/kakehashi"]


def test_payloads_reach_bolt_listeners(slack: FakeSlack) -> None:
    app = App(
        client=WebClient(token="xoxb-test", base_url=slack.api_url),
        signing_secret=SECRET,
        process_before_response=True,
    )
    seen: dict[str, Any] = {}

    @app.command("/kakehashi")
    def command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        seen["command"] = command
        respond("on it")

    @app.action("approve")
    def action(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        seen["action"] = (body["container"]["channel_id"], action["value"])

    @app.view("settings")
    def view(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen["view"] = view["state"]["values"]["b"]["a"]["value"]

    @app.event("app_mention")
    def mention(event: dict[str, Any]) -> None:
        seen["event"] = event["text"]

    values = {"b": {"a": {"type": "plain_text_input", "value": "typed"}}}
    bodies = [
        slash_command_body("/kakehashi", "help", "U1", response_url=slack.new_response_url()),
        block_actions_body("U1", "approve", "yes", channel_id="C9"),
        view_submission_body("U1", "settings", values),
        event_body({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "1.2"}),
    ]
    for body in bodies:
        response = app.dispatch(BoltRequest(body=body, headers={**signed_headers(body, SECRET)}))
        assert response.status == 200, response.body

    assert seen["command"]["text"] == "help" and seen["command"]["user_id"] == "U1"
    assert seen["action"] == ("C9", "yes")
    assert seen["view"] == "typed"
    assert seen["event"] == "<@UBOT> hi"
    assert slack.calls_to("response_url") == [{"text": "on it"}]
