"""manifest-http.yml is manifest.yml for HTTP mode: the same app, every request URL set, and
`kakehashi manifest --http https://host` prints it with the host filled in."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from commands.registry import build_registry

ROOT = Path(__file__).parent.parent
SOCKET = yaml.safe_load((ROOT / "manifest.yml").read_text())
HTTP = yaml.safe_load((ROOT / "manifest-http.yml").read_text())
EVENTS = "https://YOUR-HOST/slack/events"


def request_urls(manifest: dict[str, Any]) -> list[str]:
    settings = manifest["settings"]
    return [
        *(command.get("url") for command in manifest["features"]["slash_commands"]),
        settings["interactivity"].get("request_url"),
        settings["event_subscriptions"].get("request_url"),
    ]


def without_urls(manifest: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(manifest)
    for command in stripped["features"]["slash_commands"]:
        command.pop("url", None)
    stripped["settings"]["interactivity"].pop("request_url", None)
    stripped["settings"]["event_subscriptions"].pop("request_url", None)
    stripped["settings"].pop("socket_mode_enabled")
    return stripped


def test_every_request_url_of_the_http_manifest_is_the_events_endpoint() -> None:
    assert HTTP["settings"]["socket_mode_enabled"] is False
    urls = request_urls(HTTP)
    assert len(urls) == len(build_registry().commands) + 2
    assert set(urls) == {EVENTS}


def test_the_http_manifest_is_the_socket_mode_one_otherwise() -> None:
    assert set(request_urls(SOCKET)) == {None}
    assert without_urls(HTTP) == without_urls(SOCKET)


def test_manifest_http_prints_it_with_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--http", "https://kakehashi.example.com/"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert set(request_urls(printed)) == {"https://kakehashi.example.com/slack/events"}
    assert main(["manifest"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == SOCKET


@pytest.mark.parametrize(
    "host",
    ["http://kakehashi.example.com", "kakehashi.example.com", "https://a b", "https://<!channel>"],
)
def test_a_host_that_is_not_an_https_url_is_refused(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifest", "--http", host]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("kakehashi: --http must be the https:// URL of the host")
    assert len(captured.err.splitlines()) == 1


def test_the_installed_command_prints_the_manifest() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "manifest", "--http", "https://bot.example.com"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0
    assert "url: https://bot.example.com/slack/events" in done.stdout
