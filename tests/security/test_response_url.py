"""Where the bot answers a request (issue 19 item 8, PRODUCT §11): only through a `response_url`
on Slack's hosts (or `SLACK_API_URL`'s, as in these tests), and never through a redirect."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.response_url import ResponseUrls
from testkit.fake_slack import FakeSlack
from testkit.signing import block_actions_body, slash_command_body
from tests.conftest import SlackServer


@pytest.fixture
def elsewhere() -> Iterator[FakeSlack]:
    """A server that is not Slack: another port of this machine."""
    with FakeSlack() as other:
        yield other


async def logged(caplog: pytest.LogCaptureFixture, words: str) -> None:
    for _ in range(250):
        if any(words in r.getMessage() for r in caplog.records):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing logged with {words!r}")


async def test_a_response_url_off_slacks_hosts_is_never_posted_to(
    server: SlackServer, elsewhere: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    url = elsewhere.new_response_url()
    body = slash_command_body("/kakehashi", "help", "UMANAGER", response_url=url)
    assert (await server.post(body)).status_code == 200
    press = block_actions_body("UMANAGER", "handoff_accept", "1", response_url=url)
    assert (await server.post(press)).status_code == 200
    await logged(caplog, "no answer through a response_url on 127.0.0.1: not a Slack host")
    await asyncio.sleep(0.2)  # what follows the refusal, had it been posted
    assert elsewhere.calls == []


async def test_a_response_url_that_redirects_is_not_followed(
    server: SlackServer, elsewhere: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.slack.new_redirect_url(elsewhere.new_response_url())
    body = slash_command_body("/kakehashi", "help", "UMANAGER", response_url=url)
    assert (await server.post(body)).status_code == 200
    await logged(caplog, "the response_url on 127.0.0.1 answered 307")
    await asyncio.sleep(0.2)
    assert elsewhere.calls == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/commands/T1/1/abc", True),
        ("https://hooks.slack-gov.com/actions/T1/1/abc", True),
        ("https://slack-api.example:8443/response/1", True),  # SLACK_API_URL's host and port
        ("http://hooks.slack.com/commands/T1/1/abc", False),
        ("https://hooks.slack.com.evil.example/commands/1", False),
        ("https://evil.example/?next=https://hooks.slack.com/", False),
        ("https://x:y@hooks.slack.com/commands/1", False),
        ("https://slack-api.example/response/1", False),  # another port
        ("file:///etc/passwd", False),
        ("", False),
    ],
)
def test_only_slacks_response_hosts_are_allowed(url: str, allowed: bool) -> None:
    assert ResponseUrls("https://slack-api.example:8443/api/").allows(url) is allowed
