"""manifest.yml can be pasted into Slack, and lists exactly the commands the app answers."""

from __future__ import annotations

from pathlib import Path

import yaml

from commands.registry import build_registry

MANIFEST = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())


def test_commands_in_the_manifest_are_the_registered_ones() -> None:
    declared = {c["command"].lstrip("/") for c in MANIFEST["features"]["slash_commands"]}
    assert declared == set(build_registry().commands)


def test_every_command_is_described_and_escapes_mentions() -> None:
    for command in MANIFEST["features"]["slash_commands"]:
        assert command["description"] and len(command["description"]) <= 100
        assert len(command.get("usage_hint", "")) <= 1000
        assert command["should_escape"] is True  # typed @mentions arrive as <@U…> ids


def test_socket_mode_home_tab_and_interactivity() -> None:
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_bot_scopes_are_only_what_the_features_need() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "users:read"} <= scopes
    forbidden = {"admin", "channels:manage", "chat:write.customize", "files:write", "users:write"}
    assert scopes.isdisjoint(forbidden)
    assert len(MANIFEST["display_information"]["name"]) <= 35
