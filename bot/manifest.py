"""The Slack app manifests (`manifest.yml` for Socket Mode, `manifest-http.yml` for HTTP mode)
and what `kakehashi check` and `kakehashi manifest` read from them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOCKET_MODE = ROOT / "manifest.yml"
HTTP_MODE = ROOT / "manifest-http.yml"
PLACEHOLDER = "https://YOUR-HOST"
_HOST = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")


class BadHost(ValueError):
    """`--http` is not an https:// URL of a host."""


def load(path: Path = SOCKET_MODE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def bot_scopes() -> frozenset[str]:
    """The bot scopes the manifest asks for: what the installed app should have been granted."""
    return frozenset(load()["oauth_config"]["scopes"]["bot"])


def manifest_text(http_host: str | None = None) -> str:
    """The Socket Mode manifest, or the HTTP-mode one with `http_host` in every request URL."""
    if http_host is None:
        return SOCKET_MODE.read_text(encoding="utf-8")
    if not _HOST.match(http_host):
        raise BadHost(
            f"--http must be the https:// URL of the host Slack will call, such as "
            f'https://kakehashi.example.com, got "{http_host}"'
        )
    return HTTP_MODE.read_text(encoding="utf-8").replace(PLACEHOLDER, http_host.rstrip("/"))
