"""Settings (PRODUCT §2): defaults, and one clear line naming the variable for bad values."""

from __future__ import annotations

import sys
from datetime import time
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from tests.conftest import run_kakehashi

KAKEHASHI = [sys.executable, "-m", "bot.cli"]


def test_defaults_need_no_configuration() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite:///kakehashi.db"
    assert settings.work_hours == (time(9), time(18))
    assert settings.locale == "en" and settings.timezone == "UTC"
    assert settings.managers == () and settings.holidays_country == ""
    assert settings.http_mode


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "KAKEHASHI_WORK_HOURS",
            "9-6",
            'KAKEHASHI_WORK_HOURS must look like 09:00-18:00, got "9-6"',
        ),
        ("KAKEHASHI_WORK_HOURS", "18:00-09:00", "KAKEHASHI_WORK_HOURS must end after it starts"),
        ("KAKEHASHI_TIMEZONE", "Tokyo", "KAKEHASHI_TIMEZONE must be an IANA time zone"),
        ("KAKEHASHI_LOCALE", "fr", 'KAKEHASHI_LOCALE must be en or ja, got "fr"'),
        ("KAKEHASHI_HOLIDAYS", "ZZ", "KAKEHASHI_HOLIDAYS must be a country code"),
        ("KAKEHASHI_MANAGERS", "U0123ABCD,<!channel>", "KAKEHASHI_MANAGERS must be Slack user IDs"),
        ("KAKEHASHI_HANDOFF_CHANNEL", "#general", "KAKEHASHI_HANDOFF_CHANNEL must be a channel ID"),
        ("PORT", "http", 'PORT must be a number from 1 to 65535, got "http"'),
        ("PORT", "70000", "PORT must be a number from 1 to 65535"),
        ("DATABASE_URL", "mysql://root@db/k", "DATABASE_URL must be sqlite:///FILE or postgresql"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_BOT_TOKEN must be a bot token"),
        ("SLACK_APP_TOKEN", "xoxb-not-app", "SLACK_APP_TOKEN must be an app-level token"),
        ("SLACK_API_URL", "slack.com", "SLACK_API_URL must be an http(s) URL"),
    ],
)
def test_malformed_setting_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{name: value})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_values_are_normalised() -> None:
    settings = load_settings(
        _env_file=None,
        KAKEHASHI_MANAGERS=" U01, W02 ,",
        KAKEHASHI_HOLIDAYS="jp",
        DATABASE_URL="postgresql://postgres@127.0.0.1/k",
        SLACK_API_URL="http://127.0.0.1:9/api",
        SLACK_APP_TOKEN="xapp-1",
    )
    assert settings.managers == ("U01", "W02")
    assert settings.holidays_country == "JP"
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1/k"
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert not settings.http_mode


def test_cli_stops_with_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_kakehashi("db", "upgrade", env={"KAKEHASHI_WORK_HOURS": "9-6"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'kakehashi: KAKEHASHI_WORK_HOURS must look like 09:00-18:00, got "9-6"'
    )


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KAKEHASHI_LOCALE=de\n")
    result = run_kakehashi("db", "upgrade", env={}, cwd=tmp_path)
    assert result.returncode == 2 and "KAKEHASHI_LOCALE" in result.stderr


def test_run_without_token_names_it_and_never_prints_secrets(tmp_path: Path) -> None:
    secret = "s3cr3t-signing-value"
    result = run_kakehashi("run", env={"SLACK_SIGNING_SECRET": secret}, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is required" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert run_kakehashi("frobnicate", env={}, cwd=tmp_path).returncode == 2


def test_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    result = run_kakehashi("db", "upgrade", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kakehashi.db").exists()
    assert run_kakehashi("db", "upgrade", env={}, cwd=tmp_path).returncode == 0


def test_unreachable_database_is_one_line_exit_1(tmp_path: Path) -> None:
    result = run_kakehashi(
        "db",
        "upgrade",
        env={"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"},
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("kakehashi: the database cannot be reached")
    assert "Traceback" not in result.stderr


def test_help_names_every_environment_variable_and_the_csv_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for name in ("SLACK_BOT_TOKEN", "DATABASE_URL", "KAKEHASHI_TIMEZONE", "KAKEHASHI_MANAGERS"):
        assert name in out, name
    assert "KAKEHASHI_WORK_HOURS         default: 09:00-18:00" in out
    with pytest.raises(SystemExit):
        main(["import", "accounts", "--help"])
    out = capsys.readouterr().out
    assert "contract_start, renewal_date, stage" in out and "2026年12月1日" in out
