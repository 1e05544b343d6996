"""The `kakehashi` command line (PRODUCT §3). Exit 0 on success, 2 on bad usage or input, 1 on
other errors; errors are one clear line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import logs
from bot.redact import install_log_redaction, mask_credentials
from bot.settings import Settings, SettingsError, load_settings
from commands.context import Clock, SystemClock
from storage.db import DatabaseUnavailable

log = logging.getLogger("kakehashi")


class UsageError(Exception):
    """Bad usage or input: exit status 2."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kakehashi",
        description="Kakehashi: Sales × CS bot",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="serve Slack (Socket Mode or HTTP) and the scheduler")
    run.add_argument("--port", type=int, help="HTTP port (default: PORT or 3000)")

    shell = sub.add_parser("shell", help="chat with the bot in the terminal, no Slack needed")
    shell.add_argument("--as", dest="user", help="who you are: a user ID or demo name")
    shell.add_argument("--demo", action="store_true", help="load a small sample company")
    shell.add_argument(
        "--fresh", action="store_true", help="with --demo: start over (removes the SQLite file)"
    )
    shell.add_argument(
        "--at", metavar="ISO-8601", help="start the shell's clock at this instant (default: now)"
    )

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_sub.add_parser("upgrade", help="apply pending migrations")

    jobs = sub.add_parser("jobs", help="scheduled messages: run or preview a sweep, failures")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    for name, text in (
        ("run-due", "one scheduler sweep now: send what is due"),
        ("preview", "what run-due would send, sending nothing"),
    ):
        job = jobs_sub.add_parser(name, help=text)
        job.add_argument("--at", metavar="ISO-8601", help="as of this instant instead of now")
    jobs_sub.add_parser("failed", help="deliveries that failed for good, with the reason")

    imports = sub.add_parser("import", help="bring data in from a file")
    imports_sub = imports.add_subparsers(dest="import_command", required=True, metavar="WHAT")
    accounts_in = imports_sub.add_parser(
        "accounts",
        help="create or update accounts from CSV",
        epilog=CSV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    accounts_in.add_argument("file", metavar="FILE.csv", type=Path)
    accounts_in.add_argument("--dry-run", action="store_true", help="check and report only")

    accounts = sub.add_parser("accounts", help="accounts: export")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True, metavar="WHAT")
    accounts_out = accounts_sub.add_parser("export", help="every account to CSV, with promises")
    accounts_out.add_argument("file", metavar="FILE.csv", type=Path)

    teams = sub.add_parser("teams", help="Microsoft Teams: the app package")
    teams_sub = teams.add_subparsers(dest="teams_command", required=True, metavar="COMMAND")
    package = teams_sub.add_parser("package", help="write the Teams app package (a zip)")
    package.add_argument(
        "--out", metavar="FILE.zip", type=Path, default=Path("kakehashi-teams.zip")
    )
    package.add_argument(
        "--website",
        metavar="https://HOST",
        help="your page for the developer, privacy and terms links",
    )

    sub.add_parser("check", help="check the settings, the database and Slack's credentials")
    manifest = sub.add_parser("manifest", help="print the Slack app manifest")
    manifest.add_argument(
        "--http", metavar="https://HOST", help="for HTTP mode, with this host in every URL"
    )
    return top


CSV_HELP = """\
columns (a header row names them, in any order; only name is required):
  name, external_id, sales_owner, cs_owner, touch_model, arr, currency,
  contract_start, renewal_date, stage
owners: Slack user IDs (U…) or emails · touch_model: high, low, tech
stage: onboarding, active, at_risk, renewed, churned
dates: 2026-12-01, 2026/12/1, 2026年12月1日, Dec 1, 2026 (never 12/01: ambiguous)
arr: 1200000, 1,200,000, $5,000, ¥980,000, 1.2M, 120万 (a sign sets an empty currency)
Every bad row is reported with its line; nothing is written unless all rows are good."""


def environment_help() -> str:
    """The settings' environment variables and defaults, read from `Settings` itself so the
    list cannot fall behind; no value set in the environment is shown."""
    lines = ["environment variables (also read from .env in the working directory):"]
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names = getattr(alias, "choices", None) or [alias]
        shown = "unset" if field.default in (None, "", ()) else _default_shown(field.default)
        lines.append(f"  {names[0]!s:<28} default: {shown}")
    return "\n".join(lines)


def _default_shown(default: object) -> str:
    if isinstance(default, tuple):
        return "-".join(v.strftime("%H:%M") if hasattr(v, "strftime") else str(v) for v in default)
    return str(default)


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Runs one command; `clock` is what "now" is for the shell and CSV import and export (tests
    give a fixed one; `kakehashi run` and `jobs` keep the system clock or their `--at`)."""
    args = parser().parse_args(argv)
    # `run` is a service and logs its work; the other commands print only what they are asked.
    level = logging.INFO if args.command == "run" else logging.WARNING
    install_log_redaction()  # every log line: one line, no credentials (PRODUCT §11)
    try:
        if args.command in ("check", "manifest"):  # they read what they need themselves
            logs.configure(level=level)
            return without_settings(args)
        settings = load_settings()
        logs.configure(level=level, log_format=settings.log_format)
        return dispatch(args, settings, clock or SystemClock())
    except (SettingsError, UsageError) as exc:
        print(f"kakehashi: {mask_credentials(str(exc))}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        reason = mask_credentials(str(exc))
        print(f"kakehashi: the database cannot be reached ({reason})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def without_settings(args: argparse.Namespace) -> int:
    if args.command == "check":
        from bot.check import run_check

        return run_check(load_settings, sys.stdout)
    from bot.manifest import BadHost, manifest_text

    try:
        print(manifest_text(args.http), end="")
    except BadHost as exc:
        raise UsageError(str(exc)) from None
    return 0


def dispatch(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    if args.command == "run":
        return run(settings, args.port)
    if args.command == "shell":
        return shell_command(args, settings, clock)
    if args.command == "db" and args.db_command == "upgrade":
        from storage.db import make_engine, upgrade

        upgrade(make_engine(settings.database_url))
        print("database is up to date")
        return 0
    if args.command == "jobs":
        from bot.jobs_main import BadInstant, jobs_command

        try:
            return jobs_command(args.jobs_command, settings, getattr(args, "at", None))
        except BadInstant as exc:
            raise UsageError(str(exc)) from None
    if args.command == "teams":
        return teams_package(settings, args.out, args.website)
    if args.command in ("import", "accounts"):
        from bot.accounts_csv import CsvError, SlackLookupFailed, run_export, run_import

        try:
            if args.command == "import":
                return run_import(settings, args.file, dry_run=args.dry_run, out=sys.stdout,
                                  err=sys.stderr, clock=clock)  # fmt: skip
            return run_export(settings, args.file, out=sys.stdout, clock=clock)
        except CsvError as exc:
            raise UsageError(str(exc)) from None
        except SlackLookupFailed as exc:
            print(f"kakehashi: {exc}", file=sys.stderr)
            return 1
    raise UsageError(f"unknown command {args.command}")


def teams_package(settings: Settings, out: Path, website: str | None) -> int:
    from bot.teams_package import DEFAULT_WEBSITE, write_package

    if settings.teams_client_id is None:
        raise UsageError(
            "TEAMS_CLIENT_ID is required by `kakehashi teams package` (the bot's Entra app id)"
        )
    if website is not None and not re.fullmatch(
        r"https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?", website
    ):
        raise UsageError(f'--website must be an https:// URL, got "{website}"')
    if out.suffix.lower() != ".zip" or not out.parent.is_dir():
        raise UsageError(f"--out must name a .zip file in an existing folder, got {out}")
    write_package(out, settings.teams_client_id, (website or DEFAULT_WEBSITE).rstrip("/"))
    print(f"wrote {out}: upload it in Teams (Apps → Manage your apps → Upload an app)")
    return 0


def shell_command(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    """`kakehashi shell`: on `clock`, or from `--at` on (then moved only by `:time`)."""
    from bot.jobs_main import BadInstant, parse_instant
    from bot.shell_main import ShellUsageError, run_shell
    from commands.context import FixedClock

    if args.fresh and not args.demo:
        raise UsageError("--fresh goes with --demo: kakehashi shell --demo --fresh")
    try:
        at = parse_instant(args.at, settings)
        clock = FixedClock(at) if at else clock
        return run_shell(settings, user=args.user, demo=args.demo, fresh=args.fresh, clock=clock)
    except (ShellUsageError, BadInstant) as exc:
        raise UsageError(str(exc)) from None


def run(settings: Settings, port: int | None) -> int:
    from bot.server import PortUnavailable, serve

    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port must be a number from 1 to 65535, got {port}")
    try:
        asyncio.run(serve(settings, port=port or settings.port))
    except PortUnavailable as exc:
        print(f"kakehashi: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
