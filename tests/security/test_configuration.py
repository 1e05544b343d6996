"""Bad configuration and secrets (issue 19 items 9 and 10, PRODUCT §2 §11): an empty secret is a
missing one, and no message shows a password or a token."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import run_kakehashi

KAKEHASHI = [sys.executable, "-m", "bot.cli"]


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_signing_secret_is_a_missing_one(tmp_path: Path, blank: str) -> None:
    result = run_kakehashi(
        "run",
        env={"SLACK_BOT_TOKEN": "xoxb-1-real", "SLACK_SIGNING_SECRET": blank, "PORT": "1"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kakehashi: SLACK_SIGNING_SECRET is required in HTTP mode "
        "(or set SLACK_APP_TOKEN to use Socket Mode)"
    ]


def test_an_empty_bot_token_is_a_missing_one(tmp_path: Path) -> None:
    result = run_kakehashi(
        "run", env={"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "s", "PORT": "1"}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is required by `kakehashi run`" in result.stderr


def test_a_database_url_password_is_never_printed(tmp_path: Path) -> None:
    result = run_kakehashi(
        "db", "upgrade", env={"DATABASE_URL": "mysql://admin:pa55word@db.example:3306/crm"},
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "pa55word" not in result.stderr + result.stdout
    assert 'got "mysql://admin:***@db.example:3306/crm"' in result.stderr
