"""Answers through a request's `response_url` (PRODUCT §11): only to Slack's own hosts, never
following a redirect.

The URL comes from the request body. A signed body is Slack's, but a leaked secret or a bug must
not turn the bot into a client that posts people's data wherever a body says, or that a redirect
sends on to another server. The host of `SLACK_API_URL` is allowed too (GovSlack, proxies, tests).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_bolt.util.utils import convert_to_dict_list

log = logging.getLogger(__name__)

SLACK_RESPONSE_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
TIMEOUT_SECONDS = 10.0

Respond = Callable[..., Awaitable[None]]


class AnswerRefused(Exception):
    """The `response_url` did not take the answer (rate-limited, expired, Slack down): the
    request stays unanswered, to be answered again."""


class ResponseUrls:
    def __init__(self, api_url: str) -> None:
        self.api_netloc = urlsplit(api_url).netloc

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.username or parts.password:
            return False
        slack = parts.scheme == "https" and parts.hostname in SLACK_RESPONSE_HOSTS
        return slack or (parts.scheme in ("http", "https") and parts.netloc == self.api_netloc)

    def responder(self, url: str | None) -> Respond:
        """`respond(**message)` as Bolt's, for this request's `response_url`; `AnswerRefused` when
        it did not take the answer. A URL that is not Slack's is never posted to (nor retried)."""

        async def respond(**message: Any) -> None:
            if not url or not self.allows(url):
                host = urlsplit(url or "").hostname
                log.warning("no answer through a response_url on %s: not a Slack host", host)
                return
            await _post(url, message)

        return respond


async def _post(url: str, message: dict[str, Any]) -> None:
    body = {name: value for name, value in message.items() if value is not None}
    if "blocks" in body:
        body["blocks"] = convert_to_dict_list(body["blocks"])
    host = urlsplit(url).hostname
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=body, allow_redirects=False) as answer,
        ):
            if answer.status != 200:
                raise AnswerRefused(f"the response_url on {host} answered {answer.status}")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise AnswerRefused(
            f"the response_url on {host} failed: {error.__class__.__name__}"
        ) from error
