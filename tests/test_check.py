"""`kakehashi check` against the fake Slack API: one line per check, in order; exit 1 with one
failing line for a rejected token, a missing scope, a channel the bot is not in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import manifest
from bot.cli import main
from testkit.fake_slack import FakeSlack
from tests.conftest import TOKEN

CHANNEL = "C0HANDOFF"


@pytest.fixture
def granted(cli_env: None, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> FakeSlack:
    """An installed app with every scope the manifest asks for, and a handoff channel."""
    slack.scopes = ",".join(sorted(manifest.bot_scopes()))
    slack.channels[f"{CHANNEL}"] = {"id": CHANNEL, "name": "handoffs", "is_member": True}
    monkeypatch.setenv("KAKEHASHI_HANDOFF_CHANNEL", CHANNEL)
    return slack


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main(["check"])
    captured = capsys.readouterr()
    assert captured.err == ""
    return status, captured.out.splitlines()


def failing(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def test_check_passes_with_the_right_token_and_scopes(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = check(capsys)
    assert status == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "ok   settings",
        "ok   database",
        "ok   slack bot token",
        "ok   slack scopes",
        "ok   slack mode",
        "ok   slack handoff channel",
        "skip teams",
    ]
    assert lines[2] == "ok   slack bot token: accepted: @kakehashi in Test"
    assert lines[5] == "ok   slack handoff channel: #handoffs, the bot is in it"


def test_a_rejected_token_is_one_failing_line(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    granted.rejected_tokens.add(TOKEN)
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines) == [
        "FAIL slack bot token: SLACK_BOT_TOKEN was rejected by Slack (invalid_auth): replace it"
    ]
    assert TOKEN not in "\n".join(lines)


def test_a_missing_scope_is_one_failing_line(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    granted.scopes = ",".join(sorted(manifest.bot_scopes() - {"im:history", "users:read"}))
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines) == [
        "FAIL slack scopes: missing im:history, users:read: add them under OAuth & Permissions "
        "(as manifest.yml lists them) and reinstall the app"
    ]


def test_a_channel_the_bot_is_not_in_is_one_failing_line(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    granted.channels[CHANNEL]["is_member"] = False
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines) == [
        "FAIL slack handoff channel: the bot is not in #handoffs: type /invite @Kakehashi there"
    ]


def test_a_rejected_app_token_fails_in_socket_mode(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-revoked")
    granted.rejected_tokens.add("xapp-1-revoked")
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines) == [
        "FAIL slack app token: SLACK_APP_TOKEN was rejected by Slack (invalid_auth): replace it"
    ]


def test_unreachable_slack_and_bad_settings_fail_with_what_to_do(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines) == [
        "FAIL slack bot token: Slack cannot be reached at http://127.0.0.1:9/api/ "
        "(URLError): check the network, a proxy, or SLACK_API_URL"
    ]
    monkeypatch.setenv("KAKEHASHI_TICK_SECONDS", "0")
    status, lines = check(capsys)
    assert (status, lines) == (
        1,
        ['FAIL settings: KAKEHASHI_TICK_SECONDS must be a number from 1 to 3600, got "0"'],
    )


def test_a_database_not_migrated_says_to_upgrade(
    granted: FakeSlack,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines)[0].startswith("FAIL database: sqlite:///")
    assert failing(lines)[0].endswith("run `kakehashi db upgrade` (kakehashi run does it at start)")
    assert len(failing(lines)) == 1


def test_the_installed_command_prints_only_its_lines(
    granted: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_TEST")}
    granted.rejected_tokens.add(TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check"],
        env={**env, "PYTHONPATH": str(Path(__file__).parent.parent)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (1, "")
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == [
        "ok   settings",
        "ok   database",
        "FAIL slack bot token",
        "skip teams",
    ]


def test_an_unreachable_database_is_named_without_its_password(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://admin:pa55word@127.0.0.1:1/kakehashi")
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines) == [
        "FAIL database: postgresql+psycopg://admin:***@127.0.0.1:1/kakehashi cannot be reached: "
        "check DATABASE_URL"
    ]
    assert "pa55word" not in "\n".join(lines)


def test_http_mode_without_a_signing_secret_fails(
    granted: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    status, lines = check(capsys)
    assert status == 1
    assert failing(lines) == [
        "FAIL slack mode: HTTP mode without SLACK_SIGNING_SECRET: copy the Signing Secret from "
        "Basic Information, or set SLACK_APP_TOKEN for Socket Mode"
    ]
