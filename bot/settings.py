"""Settings: one pydantic-settings class, read from the environment and `.env` (PRODUCT §2).

Built once at start-up by the CLI and passed in; nothing reads the environment at import time.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import httpx
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import slack_ids, teams_text
from bot.redact import mask_credentials
from commands.reminders.rules import DEFAULTS, ReminderRules, check_setting
from commands.worktime import WorkWeek

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=False
    )

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL")
    )
    database_url: str = Field(
        default="sqlite:///kakehashi.db", validation_alias=AliasChoices("DATABASE_URL")
    )
    timezone: str = Field(default="UTC", validation_alias=AliasChoices("KAKEHASHI_TIMEZONE"))
    locale: str = Field(default="en", validation_alias=AliasChoices("KAKEHASHI_LOCALE"))
    work_hours: Annotated[tuple[time, time], NoDecode] = Field(
        default=(time(9), time(18)), validation_alias=AliasChoices("KAKEHASHI_WORK_HOURS")
    )
    holidays_country: str = Field(default="", validation_alias=AliasChoices("KAKEHASHI_HOLIDAYS"))
    handoff_channel: str | None = Field(
        default=None, validation_alias=AliasChoices("KAKEHASHI_HANDOFF_CHANNEL")
    )
    managers: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("KAKEHASHI_MANAGERS")
    )
    """The first managers, as their platform names them: Slack user ids (`U0123ABCD`); on
    Microsoft Teams, Entra object ids written `aad:<guid>`. The platform's adapter checks them."""
    port: int = Field(default=3000, ge=1, le=65535, validation_alias=AliasChoices("PORT"))
    tick_seconds: int = Field(
        default=60, ge=1, le=3600, validation_alias=AliasChoices("KAKEHASHI_TICK_SECONDS")
    )
    """How often `run` sweeps for due reminders, agendas and deliveries."""
    send_rate: float = Field(
        default=5.0, gt=0, le=100, validation_alias=AliasChoices("KAKEHASHI_SEND_RATE")
    )
    """Web API calls per second the delivery engine makes across the workspace: its posts and
    the history look-ups before re-sending (Slack allows a few hundred a minute, and about one
    post per second per channel)."""
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias=AliasChoices("KAKEHASHI_LOG_FORMAT")
    )
    """`json`: one JSON object per log line (bot.logs)."""
    remind_handoff: str = Field(
        default=DEFAULTS["handoff"], validation_alias=AliasChoices("KAKEHASHI_REMIND_HANDOFF")
    )
    """Reminder timing (README "Reminders"): working days before a pending handoff is
    reminded to its CS owner, then to the managers."""
    remind_checkins: str = Field(
        default=DEFAULTS["checkins"], validation_alias=AliasChoices("KAKEHASHI_REMIND_CHECKINS")
    )
    remind_promise: str = Field(
        default=DEFAULTS["promise"], validation_alias=AliasChoices("KAKEHASHI_REMIND_PROMISE")
    )
    remind_renewal: str = Field(
        default=DEFAULTS["renewal"], validation_alias=AliasChoices("KAKEHASHI_REMIND_RENEWAL")
    )
    remind_silence: str = Field(
        default=DEFAULTS["silence"], validation_alias=AliasChoices("KAKEHASHI_REMIND_SILENCE")
    )

    hubspot_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HUBSPOT_CLIENT_SECRET")
    )
    hubspot_access_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HUBSPOT_ACCESS_TOKEN")
    )
    hubspot_api_url: str = Field(
        default="https://api.hubapi.com", validation_alias=AliasChoices("HUBSPOT_API_URL")
    )
    salesforce_org_id: str | None = Field(
        default=None, validation_alias=AliasChoices("SALESFORCE_ORG_ID")
    )
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KAKEHASHI_WEBHOOK_SECRET")
    )
    """The CRMs (PRODUCT §14): each endpoint answers 401 until its secret is set."""

    teams_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("TEAMS_CLIENT_ID")
    )
    teams_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TEAMS_CLIENT_SECRET")
    )
    teams_tenant_id: str | None = Field(
        default=None, validation_alias=AliasChoices("TEAMS_TENANT_ID")
    )
    """Teams (PRODUCT §13): the bot's Entra app registration; all three or none."""
    teams_anonymous: bool = Field(default=False, validation_alias=AliasChoices("TEAMS_ANONYMOUS"))
    """Serve Teams without authentication, on 127.0.0.1 only (Microsoft's Agents Playground)."""
    teams_openid_metadata_url: str | None = Field(
        default=None, validation_alias=AliasChoices("TEAMS_OPENID_METADATA_URL")
    )
    teams_token_issuer: str | None = Field(
        default=None, validation_alias=AliasChoices("TEAMS_TOKEN_ISSUER")
    )
    teams_login_url: str | None = Field(
        default=None, validation_alias=AliasChoices("TEAMS_LOGIN_URL")
    )
    """Overrides of Microsoft's sign-in endpoints (a sovereign cloud, or the tests' issuer):
    https, or http on this machine only."""

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "hubspot_client_secret",
        "hubspot_access_token",
        "webhook_secret",
        "teams_client_secret",
        "teams_client_id",
        "teams_tenant_id",
        "teams_openid_metadata_url",
        "teams_token_issuer",
        "teams_login_url",
        mode="before",
    )
    @classmethod
    def _empty_is_missing(cls, v: Any) -> Any:
        """`SLACK_SIGNING_SECRET=` (or blanks) is a missing secret, not a secret that no
        request can match."""
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return v

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f'must be an http(s) URL, got "{v}"')
        return v if v.endswith("/") else v + "/"

    @field_validator("hubspot_api_url")
    @classmethod
    def _hubspot_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f'must be an http(s) URL, got "{v}"')
        return v.rstrip("/")

    @field_validator("salesforce_org_id")
    @classmethod
    def _org_id(cls, v: str | None) -> str | None:
        v = (v or "").strip()
        if v and not re.fullmatch(r"00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", v):
            raise ValueError("must be a Salesforce organization ID of 15 or 18 characters (00D…)")
        return v or None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("whsec_"):
            raise ValueError("must be a secret starting with whsec_")
        return v

    @field_validator("teams_client_id", "teams_tenant_id")
    @classmethod
    def _guid(cls, v: str | None) -> str | None:
        if v is not None and not _GUID.fullmatch(v.strip()):
            raise ValueError(
                f'must be a GUID such as 00000000-0000-0000-0000-000000000000, got "{v}"'
            )
        return v.strip().lower() if v is not None else None

    @field_validator("teams_openid_metadata_url", "teams_token_issuer", "teams_login_url")
    @classmethod
    def _sign_in_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        url = httpx.URL(v.strip())
        local = url.host in ("127.0.0.1", "localhost", "::1")
        if not url.host or not (url.scheme == "https" or (url.scheme == "http" and local)):
            raise ValueError(f'must be an https URL (http only on 127.0.0.1), got "{v}"')
        return v.strip().rstrip("/")

    @model_validator(mode="after")
    def _teams_together(self) -> Settings:
        given = {
            "TEAMS_CLIENT_ID": self.teams_client_id,
            "TEAMS_CLIENT_SECRET": self.teams_client_secret,
            "TEAMS_TENANT_ID": self.teams_tenant_id,
        }
        missing = [name for name, value in given.items() if value is None]
        if 0 < len(missing) < len(given):
            raise ValueError(
                f"{missing[0]} is missing: TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and "
                "TEAMS_TENANT_ID go together (set all three, or none)"
            )
        if self.teams_anonymous and not missing:
            raise ValueError(
                "TEAMS_ANONYMOUS=true is for the Agents Playground without credentials: "
                "unset it, or unset TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if v.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + v.split("://", 1)[1]
        if not v.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError(
                "must be sqlite:///FILE or postgresql+psycopg://USER@HOST/DB, "
                f'got "{mask_credentials(v)}"'
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'must be an IANA time zone such as Asia/Tokyo, got "{v}"') from None
        return v

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        if v not in ("en", "ja"):
            raise ValueError(f'must be en or ja, got "{v}"')
        return v

    @field_validator("work_hours", mode="before")
    @classmethod
    def _work_hours(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        m = _HOURS.match(v.strip())
        if not m:
            raise ValueError(f'must look like 09:00-18:00, got "{v}"')
        start, end = time(int(m[1]), int(m[2])), _end_time(int(m[3]), int(m[4]))
        if end <= start:
            raise ValueError(f'must end after it starts, like 09:00-18:00, got "{v}"')
        return (start, end)

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() not in ("text", "json"):
            raise ValueError(f'must be text or json, got "{v}"')
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("holidays_country")
    @classmethod
    def _holidays(cls, v: str) -> str:
        v = v.strip().upper()
        if v and v not in holidays.list_supported_countries():
            raise ValueError(f'must be a country code such as JP or US, got "{v}"')
        return v

    @field_validator("handoff_channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v and not re.match(r"^[CG][A-Z0-9]{2,}$", v):
            raise ValueError(f'must be a channel ID such as C0123ABCD, got "{v}"')
        return v or None

    @field_validator("managers", mode="before")
    @classmethod
    def _managers(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        ids = tuple(part.strip() for part in v.split(",") if part.strip())
        slack_ids.check_managers(tuple(i for i in ids if not teams_text.is_teams_manager(i)))
        return ids

    @field_validator(
        "remind_handoff", "remind_checkins", "remind_promise", "remind_renewal", "remind_silence"
    )
    @classmethod
    def _reminder_timing(cls, v: str, info: ValidationInfo) -> str:
        check_setting(str(info.field_name).removeprefix("remind_"), v)
        return v.strip()

    @property
    def reminder_rules(self) -> ReminderRules:
        return ReminderRules.from_settings(
            handoff=self.remind_handoff,
            checkins=self.remind_checkins,
            promise=self.remind_promise,
            renewal=self.remind_renewal,
            silence=self.remind_silence,
        )

    @property
    def work_week(self) -> WorkWeek:
        start, end = self.work_hours
        return WorkWeek(start=start, end=end, holidays=self.holidays_country)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def http_mode(self) -> bool:
        return self.slack_app_token is None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def teams_enabled(self) -> bool:
        """Teams is served: with the app registration, or anonymously for the Playground."""
        return self.teams_client_id is not None or self.teams_anonymous


def _end_time(hour: int, minute: int) -> time:
    return time(23, 59, 59) if hour == 24 else time(hour, minute)


_ENV_NAMES = {
    name: field.validation_alias.choices[0]  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}


_NUMBER_ERRORS = ("int_", "float_", "greater_than", "less_than", "finite_number")
"""The beginnings of pydantic's error types for a number that does not read or is out of range."""
_RANGES = {
    "PORT": "from 1 to 65535",
    "KAKEHASHI_TICK_SECONDS": "from 1 to 3600",
    "KAKEHASHI_SEND_RATE": "above 0 and at most 100",
}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning pydantic's report into one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = str(error["loc"][0]) if error["loc"] else "settings"
    name = _ENV_NAMES.get(where, where)
    message = str(error["msg"]).removeprefix("Value error, ")
    if str(error["type"]).startswith(_NUMBER_ERRORS):
        message = f'must be a number {_RANGES.get(str(name), "")}, got "{error.get("input")}"'
    return mask_credentials(f"{name} {message}" if error["loc"] else message)
