"""`kakehashi teams package` through the real command line, checked against Microsoft's Teams
manifest schema v1.29 and localization schema (shipped in tests/, from
OfficeDev/microsoft-teams-app-schema; no network)."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from testkit.fake_teams import CLIENT_ID, CLIENT_SECRET, TENANT_ID
from tests.conftest import run_kakehashi

HERE = Path(__file__).parent
TEAMS = {
    "TEAMS_CLIENT_ID": CLIENT_ID,
    "TEAMS_CLIENT_SECRET": CLIENT_SECRET,
    "TEAMS_TENANT_ID": TENANT_ID,
}


def schema_errors(document: Any, schema_file: str) -> list[str]:
    # Draft 4 as the schema declares; its `\p{L}` patterns (ECMAScript) are in parts of the
    # schema this manifest does not use, so the schema itself is not compiled up front.
    schema = json.loads((HERE / schema_file).read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGBA rows of a PNG written without row filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 6)  # 8-bit RGBA
    idat, at = b"", 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 4 * width
    return width, height, [raw[r * stride + 1 : (r + 1) * stride] for r in range(height)]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    cwd = tmp_path_factory.mktemp("package")
    result = run_kakehashi("teams", "package", "--out", "app.zip", env=TEAMS, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "app.zip" in result.stdout
    with zipfile.ZipFile(cwd / "app.zip") as zipped:
        return {name: zipped.read(name) for name in zipped.namelist()}


def test_the_package_holds_the_manifest_icons_and_japanese_flat(package: dict[str, bytes]) -> None:
    assert sorted(package) == ["color.png", "ja-jp.json", "manifest.json", "outline.png"]


def test_the_manifest_is_valid_against_microsofts_schema(package: dict[str, bytes]) -> None:
    manifest = json.loads(package["manifest.json"])
    assert schema_errors(manifest, "teams_manifest_1.29.schema.json") == []
    assert manifest["manifestVersion"] == "1.29"
    bot = manifest["bots"][0]
    assert bot["botId"] == manifest["id"] == CLIENT_ID
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert bot["supportsTargetedMessages"] is True
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    for command in ("handoff", "promise", "touch", "account", "portfolio", "sync", "kakehashi"):
        assert command in titles  # every command of PRODUCT §4
    assert "home" in titles


def test_the_schema_check_would_catch_a_bad_manifest(package: dict[str, bytes]) -> None:
    manifest = json.loads(package["manifest.json"])
    manifest["bots"][0]["botId"] = "not-a-guid"
    manifest["bots"][0]["commandLists"][0]["commands"][0]["title"] = "x" * 129
    assert len(schema_errors(manifest, "teams_manifest_1.29.schema.json")) == 2


def test_the_japanese_file_is_valid_and_covers_every_command(package: dict[str, bytes]) -> None:
    strings = json.loads(package["ja-jp.json"])
    assert schema_errors(strings, "teams_localization.schema.json") == []
    manifest = json.loads(package["manifest.json"])
    assert manifest["localizationInfo"]["additionalLanguages"][0]["file"] == "ja-jp.json"
    commands = manifest["bots"][0]["commandLists"][0]["commands"]
    for i, command in enumerate(commands):
        japanese = strings[f"bots[0].commandLists[0].commands[{i}].description"]
        assert japanese != command["description"]
        assert command["title"] in japanese  # the typed word stays the same
    assert "引き継" in strings["description.short"]


def test_the_icons_have_teams_sizes_and_the_outline_is_white_on_transparent(
    package: dict[str, bytes],
) -> None:
    width, height, _ = pixels(package["color.png"])
    assert (width, height) == (192, 192)
    width, height, rows = pixels(package["outline.png"])
    assert (width, height) == (32, 32)
    colours = {row[i : i + 4] for row in rows for i in range(0, len(row), 4)}
    assert colours == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        ((), {}, "TEAMS_CLIENT_ID is required by `kakehashi teams package`"),
        (("--out", "app.txt"), TEAMS, "--out must name a .zip file"),
        (("--out", "no/such/folder/app.zip"), TEAMS, "--out must name a .zip file"),
        (("--website", "http://plain.example.com"), TEAMS, "--website must be an https:// URL"),
        (("--website", "https://x.example.com/<!channel>"), TEAMS, "--website must be"),
    ],
)
def test_bad_usage_is_one_line_and_writes_nothing(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], says: str
) -> None:
    result = run_kakehashi("teams", "package", *args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
