"""`kakehashi teams package`: the Teams app package (PRODUCT §3, §13) — `manifest.json` (schema
1.29), the two icons and the Japanese strings, zipped flat as Teams expects.

The icons are drawn here (a bridge's arch) and written as PNG with the standard library, so
the package needs no image library and no binary files in the repository.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from commands.i18n import catalog

SCHEMA = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.29/MicrosoftTeams.schema.json"
LOCALIZATION_SCHEMA = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/v1.29/"
    "MicrosoftTeams.Localization.schema.json"
)
COMMANDS = ("handoff", "promise", "touch", "account", "portfolio", "sync", "home", "kakehashi")
"""The command menu: every command of PRODUCT §4, and `home` (§13)."""
ACCENT = (0x1F, 0x4E, 0x79)
DEFAULT_WEBSITE = "https://kakehashi.example.com"

Pixel = tuple[int, int, int, int]


def manifest(bot_id: str, website: str) -> dict[str, Any]:
    """The app manifest for the bot `bot_id` (the Entra app's client id), in English."""
    en = catalog("en")
    return {
        "$schema": SCHEMA,
        "manifestVersion": "1.29",
        "version": version("kakehashi"),
        "id": bot_id,
        "localizationInfo": {
            "defaultLanguageTag": "en-us",
            "additionalLanguages": [{"languageTag": "ja-jp", "file": "ja-jp.json"}],
        },
        "developer": {
            "name": "Kakehashi",
            "websiteUrl": website,
            "privacyUrl": f"{website}/privacy",
            "termsOfUseUrl": f"{website}/terms",
        },
        "name": {"short": en["teams_package.name_short"], "full": en["teams_package.name_full"]},
        "description": {
            "short": en["teams_package.description_short"],
            "full": en["teams_package.description_full"],
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": bot_id,
                "scopes": ["personal", "team", "groupChat"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "supportsTargetedMessages": True,
                "commandLists": [
                    {
                        "scopes": ["personal", "team", "groupChat"],
                        "triggers": ["mention", "slash"],
                        "commands": [
                            {"title": name, "description": en[f"teams_package.command.{name}"]}
                            for name in COMMANDS
                        ],
                    }
                ],
            }
        ],
        "validDomains": [],
    }


def japanese() -> dict[str, Any]:
    """The `ja-jp` localization file: the same texts in Japanese."""
    ja = catalog("ja")
    strings: dict[str, Any] = {
        "$schema": LOCALIZATION_SCHEMA,
        "name.short": ja["teams_package.name_short"],
        "name.full": ja["teams_package.name_full"],
        "description.short": ja["teams_package.description_short"],
        "description.full": ja["teams_package.description_full"],
    }
    for i, name in enumerate(COMMANDS):
        key = f"bots[0].commandLists[0].commands[{i}].description"
        strings[key] = ja[f"teams_package.command.{name}"]
    return strings


def write_package(out: Path, bot_id: str, website: str = DEFAULT_WEBSITE) -> None:
    """Writes the zip: manifest.json, color.png (192×192), outline.png (32×32), ja-jp.json."""
    files = {
        "manifest.json": json.dumps(manifest(bot_id, website), ensure_ascii=False, indent=2),
        "ja-jp.json": json.dumps(japanese(), ensure_ascii=False, indent=2),
    }
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in files.items():
            package.writestr(name, text.encode("utf-8"))
        package.writestr("color.png", png(192, _color_icon))
        package.writestr("outline.png", png(32, _outline_icon))


# ---- icons ----------------------------------------------------------------------------------


def _on_arch(x: float, y: float, thickness: float) -> bool:
    """True on a bridge: an arch over a deck, in a unit square (y down)."""
    deck = 0.62 <= y <= 0.62 + thickness
    cx, cy, r = 0.5, 0.95, 0.55
    d = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
    arch = r - thickness <= d <= r and y <= 0.62
    pillars = y >= 0.62 and (abs(x - 0.25) <= thickness / 2 or abs(x - 0.75) <= thickness / 2)
    return 0.1 <= x <= 0.9 and (deck or arch or (pillars and y <= 0.85))


def _color_icon(x: float, y: float) -> Pixel:
    """White bridge on the accent colour, full bleed (Teams rounds the corners)."""
    return (255, 255, 255, 255) if _on_arch(x, y, 0.06) else (*ACCENT, 255)


def _outline_icon(x: float, y: float) -> Pixel:
    """White on transparent, as Teams requires of the outline icon."""
    return (255, 255, 255, 255) if _on_arch(x, y, 0.09) else (0, 0, 0, 0)


def png(size: int, pixel: Callable[[float, float], Pixel]) -> bytes:
    """A square RGBA PNG of `size` pixels, each coloured by `pixel` at its centre."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel((i + 0.5) / size, (j + 0.5) / size)) for i in range(size))
        for j in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
