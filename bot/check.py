"""`kakehashi check` (PRODUCT §3): one line per check, in order, and exit 1 when any fails.

Settings, then the database, then each chat platform's checks (`PLATFORMS`): a platform adds
itself as one function from the settings to its results. A check that cannot run because an
earlier one failed (scopes without an accepted token) is not printed: the failure above says
what to fix first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, make_url

from bot import manifest
from bot.health import REJECTED, probe_client
from bot.settings import Settings, SettingsError
from storage.db import alembic_config, is_reachable, make_engine


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool | None
    """None: skipped (not configured)."""
    detail: str

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"{mark} {self.name}: {self.detail}"


def run_check(load: Callable[[], Settings], out: TextIO) -> int:
    """Prints every check's line; 1 when any failed, else 0."""
    failed = False
    for result in results(load):
        print(result.line(), file=out, flush=True)
        failed = failed or result.ok is False
    return 1 if failed else 0


def results(load: Callable[[], Settings]) -> Iterator[Result]:
    try:
        settings = load()
    except SettingsError as exc:
        yield Result("settings", False, str(exc))
        return
    yield Result("settings", True, "valid")
    yield database(settings)
    for platform in PLATFORMS:
        yield from platform(settings)


# ---- the database ----------------------------------------------------------------------------


def database(settings: Settings) -> Result:
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    engine = make_engine(settings.database_url)
    try:
        if not is_reachable(engine):
            return Result("database", False, f"{shown} cannot be reached: check DATABASE_URL")
        current, head = _revisions(engine)
    finally:
        engine.dispose()
    if current != head:
        return Result(
            "database",
            False,
            f"{shown} is at migration {current or 'none'}, the code needs {head}: "
            "run `kakehashi db upgrade` (kakehashi run does it at start)",
        )
    return Result("database", True, f"{shown} reachable, migrated ({head})")


def _revisions(engine: Engine) -> tuple[str | None, str | None]:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


# ---- Slack ---------------------------------------------------------------------------------


def slack(settings: Settings) -> Iterator[Result]:
    if settings.slack_bot_token is None:
        yield Result("slack", None, "SLACK_BOT_TOKEN is not set")
        return
    client = probe_client(settings)
    try:
        granted = client.auth_test()
    except SlackApiError as exc:
        yield _refused("slack bot token", "SLACK_BOT_TOKEN", exc)
        return
    except OSError as exc:
        yield _unreachable(settings, exc)
        return
    yield Result(
        "slack bot token", True, f"accepted: @{granted.get('user')} in {granted.get('team')}"
    )
    yield _scopes(granted.headers)
    if settings.slack_app_token is not None:
        yield _app_token(client, settings.slack_app_token.get_secret_value())
    else:
        yield _signing_secret(settings)
    if settings.handoff_channel is not None:
        yield _channel(client, settings.handoff_channel)


def _scopes(headers: dict[str, object]) -> Result:
    found = {name.lower(): value for name, value in headers.items()}.get("x-oauth-scopes")
    if isinstance(found, list):
        found = found[0] if found else None
    if not isinstance(found, str):
        return Result("slack scopes", False, "Slack did not say which scopes were granted")
    granted = {scope.strip() for scope in found.split(",") if scope.strip()}
    missing = sorted(manifest.bot_scopes() - granted)
    if missing:
        return Result(
            "slack scopes",
            False,
            f"missing {', '.join(missing)}: add them under OAuth & Permissions "
            "(as manifest.yml lists them) and reinstall the app",
        )
    return Result("slack scopes", True, "every scope manifest.yml asks for is granted")


def _app_token(client: WebClient, app_token: str) -> Result:
    try:
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        return _refused("slack app token", "SLACK_APP_TOKEN", exc)
    except OSError as exc:
        return Result(
            "slack app token", False, f"Slack cannot be reached ({exc.__class__.__name__})"
        )
    return Result("slack app token", True, "accepted: Socket Mode can connect")


def _signing_secret(settings: Settings) -> Result:
    """HTTP mode: only Slack's requests can tell whether the secret is right; is it there?"""
    secret = settings.slack_signing_secret
    if secret is None or not secret.get_secret_value():
        return Result(
            "slack mode",
            False,
            "HTTP mode without SLACK_SIGNING_SECRET: copy the Signing Secret from Basic "
            "Information, or set SLACK_APP_TOKEN for Socket Mode",
        )
    return Result("slack mode", True, "HTTP mode: SLACK_SIGNING_SECRET is set")


def _channel(client: WebClient, channel_id: str) -> Result:
    name = "slack handoff channel"
    try:
        channel = client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "channel_not_found":
            return Result(
                name,
                False,
                f"{channel_id} not found (or private without the bot): "
                "check KAKEHASHI_HANDOFF_CHANNEL, or invite the bot there",
            )
        return Result(name, False, f"conversations.info failed ({error})")
    except OSError as exc:
        return Result(name, False, f"Slack cannot be reached ({exc.__class__.__name__})")
    if channel.get("is_archived"):
        return Result(name, False, f"#{channel.get('name')} is archived: choose another channel")
    if not channel.get("is_member", True):
        return Result(
            name, False, f"the bot is not in #{channel.get('name')}: type /invite @Kakehashi there"
        )
    return Result(name, True, f"#{channel.get('name')}, the bot is in it")


def _refused(name: str, variable: str, exc: SlackApiError) -> Result:
    error = exc.response.get("error") or f"HTTP {exc.response.status_code}"
    if error in REJECTED:
        return Result(name, False, f"{variable} was rejected by Slack ({error}): replace it")
    return Result(name, False, f"Slack answered {error}: try again, or check SLACK_API_URL")


def _unreachable(settings: Settings, exc: Exception) -> Result:
    return Result(
        "slack bot token",
        False,
        f"Slack cannot be reached at {settings.slack_api_url} ({exc.__class__.__name__}): "
        "check the network, a proxy, or SLACK_API_URL",
    )


# ---- Microsoft Teams -----------------------------------------------------------------------


def teams(settings: Settings) -> Iterator[Result]:
    """The bot's Entra credentials, by asking for a Bot Connector token as delivery does."""
    if not settings.teams_enabled:
        yield Result("teams", None, "TEAMS_CLIENT_ID is not set")
        return
    if settings.teams_client_secret is None:
        yield Result("teams", None, "TEAMS_ANONYMOUS: the Agents Playground only, no delivery")
        return
    from bot.teams_transport import TeamsTokens
    from jobs.delivery import TransientError

    try:
        TeamsTokens.from_settings(settings).get()
    except TransientError as exc:
        yield Result("teams credentials", False, exc.reason)
        return
    yield Result("teams credentials", True, "accepted: a Bot Connector token was issued")


PLATFORMS: list[Callable[[Settings], Iterator[Result]]] = [slack, teams]
"""Each chat platform's checks, in order."""
