"""`kakehashi import accounts FILE.csv [--dry-run]` and `kakehashi accounts export FILE.csv`:
the command line wiring of `commands/accounts_csv.py` and `commands/accounts_import.py`, with
Slack's `users.lookupByEmail` and `users.info` behind the directory port."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from bot import slack_ids
from bot.settings import Settings
from commands.accounts_csv import CsvError, Owners, export_accounts, read_csv
from commands.accounts_import import import_accounts
from commands.addresses import UserProfile
from commands.context import Clock
from storage.db import make_engine, session_scope, upgrade

__all__ = ["CsvError", "SlackLookupFailed", "run_export", "run_import"]


# ---- the command line -----------------------------------------------------------------------


class SlackLookupFailed(Exception):
    """Slack could not be asked who an owner is (network, token): exit status 1."""


class SlackOwners:
    """The directory port's look-ups for the import: `users.lookupByEmail` and `users.info`,
    for owners the database does not know. A failure to ask stops the import (exit status 1)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def by_email(self, email: str) -> UserProfile | None:
        return self._ask("users_lookupByEmail", email=email)

    def lookup(self, user_id: str) -> UserProfile | None:
        return self._ask("users_info", user=user_id)

    def _ask(self, method: str, **arguments: str) -> UserProfile | None:
        try:
            user = getattr(self.client, method)(**arguments)["user"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in ("users_not_found", "user_not_found"):
                return None
            raise SlackLookupFailed(
                f"Slack {method.replace('_', '.', 1)} failed: {error}"
            ) from None
        except OSError as exc:
            raise SlackLookupFailed(f"Slack cannot be reached ({exc.__class__.__name__})") from None
        return _profile(user) if isinstance(user, dict) else None


def _profile(user: dict[str, Any]) -> UserProfile:
    user_id = str(user.get("id") or "")
    return UserProfile(
        user_id=user_id,
        name=str(user.get("name") or ""),
        tz=None,
        locale=None,
        email=None,
        is_bot=bool(user.get("is_bot")) or user_id == slack_ids.SLACKBOT,
        deleted=bool(user.get("deleted")),
    )


def owners(settings: Settings) -> Owners:
    """Owner cells are Slack user IDs or e-mails; Slack is asked only when a bot token is set."""
    return Owners(
        platform=slack_ids.PLATFORM,
        name="Slack",
        is_user_id=slack_ids.is_user_id,
        directory=slack_owners(settings),
    )


def slack_owners(settings: Settings) -> SlackOwners | None:
    """Asks Slack only when a bot token is configured."""
    if settings.slack_bot_token is None:
        return None
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)],
    )
    return SlackOwners(client)


def run_import(
    settings: Settings, path: Path, *, dry_run: bool, out: TextIO, err: TextIO, clock: Clock
) -> int:
    """`kakehashi import accounts FILE.csv [--dry-run]`: 0 written (or would be), 2 bad rows."""
    who = owners(settings)
    rows, errors = read_csv(path, who)
    engine = _engine_for(settings.database_url, dry_run=dry_run)
    upgrade(engine)
    with session_scope(engine) as session:
        report = import_accounts(
            session=session,
            rows=rows,
            at=clock.now(),
            default_currency="JPY" if settings.locale == "ja" else "USD",
            owners=who,
            dry_run=dry_run or bool(errors),
        )
    bad = sorted([*errors, *report.errors], key=lambda e: e.line)
    for error in bad:
        print(error, file=err)
    if bad:
        raise CsvError(f"{path}: {len(bad)} bad row(s); nothing was written")
    print(report.summary(dry_run=dry_run), file=out)
    for note in report.notes:
        print(note, file=out)
    return 0


def _engine_for(database_url: str, *, dry_run: bool) -> Engine:
    """The database to import into. A dry run on a SQLite file that does not exist yet checks
    against an empty database in memory: it must not leave a database behind."""
    url = make_url(database_url)
    missing = (
        url.get_backend_name() == "sqlite"
        and url.database not in (None, "", ":memory:")
        and not Path(url.database or "").exists()
    )
    if dry_run and missing:
        return make_engine("sqlite://", poolclass=StaticPool)
    return make_engine(database_url)


def run_export(settings: Settings, path: Path, *, out: TextIO, clock: Clock) -> int:
    """`kakehashi accounts export FILE.csv`, in UTF-8 with a BOM so Excel reads Japanese."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    today = clock.now().astimezone(settings.zone).date()
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as file, Session(engine) as session:
            count = export_accounts(session=session, out=file, today=today)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise CsvError(f"{path}: cannot write ({exc.strerror})") from None
    print(f"{count} accounts written to {path}", file=out)
    return 0
