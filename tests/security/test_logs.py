"""What reaches the log from a request (issue 19 items 6 and 10, PRODUCT §11): a rejected request
is one bounded line without its body, at most one every few seconds, and text from a request
cannot start a log line of its own."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from testkit.fake_slack import FakeSlack
from testkit.signing import FORM, signed_headers, slash_command_body
from tests.conftest import SECRET, TOKEN, SlackServer, free_port

FORGED = "\n2026-01-01 00:00:00,000 ERROR kakehashi forged line"


async def test_rejected_requests_are_one_bounded_line_without_their_body(
    server: SlackServer,
) -> None:
    # A handler on the ingress's own logger: what other tests did to the root logger's handlers
    # (the process's logging is configured by some of them) does not matter here.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    ingress_log = logging.getLogger("bot.slack_ingress")
    ingress_log.addHandler(handler)
    ingress_log.setLevel(logging.INFO)
    body = urlencode({"command": "/promise", "text": FORGED + "x" * 100_000, "user_id": "U1"})
    for _ in range(30):
        response = await server.http.post(
            f"{server.url}/slack/events", content=body, headers={"Content-Type": FORM}
        )
        assert response.status_code == 401
    ingress_log.removeHandler(handler)
    ingress_log.setLevel(logging.NOTSET)
    lines = [r.getMessage() for r in records]
    assert not any("forged" in line or "xxxx" in line for line in lines)
    rejections = [line for line in lines if "rejected" in line]
    # 30 in a burst: one line, the rest counted into the next.
    assert len(rejections) == 1, rejections
    assert len(rejections[0]) < 200 and "\n" not in rejections[0]


@pytest.fixture
def running(tmp_path: Path, slack: FakeSlack) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `kakehashi run` in HTTP mode on SQLite, its log in `run.log`."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "KAKEHASHI_", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'k.db'}",
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.api_url,
        PYTHONPATH=str(Path(__file__).parents[2]),
    )
    with (tmp_path / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.system_clock_process
def test_text_from_a_request_cannot_start_a_log_line(
    running: tuple[str, subprocess.Popen[bytes]], slack: FakeSlack, tmp_path: Path
) -> None:
    url, proc = running
    response_url = slack.new_response_url()
    # Slack looks the person up; the unknown id, with its forged line, is logged as a warning.
    body = slash_command_body("/kakehashi", "help", f"UNKNOWN{FORGED}", response_url=response_url)
    assert httpx.post(f"{url}/slack/events", content=body, headers=signed_headers(body, SECRET))
    for _ in range(200):
        if [c for c in slack.calls if c.method == "response_url"]:
            break
        time.sleep(0.05)
    proc.terminate()
    proc.wait(20)
    log = (tmp_path / "run.log").read_text()
    assert "users.info UNKNOWN\\n2026-01-01" in log  # the warning, on one line
    assert not any(line.startswith("2026-01-01 00:00:00,000") for line in log.splitlines())
