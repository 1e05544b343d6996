"""`kakehashi import accounts FILE.csv [--dry-run]` and `kakehashi accounts export FILE.csv`
(PRODUCT §6).

Import is all or nothing: every row is read and checked first, each bad row is reported with its
line number and reason, and only a file without one is written, in one transaction. Accounts are
matched by `external_id` (the CRM id), else by folded name; empty cells leave a value as it is.
Running the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TextIO

from babel.numbers import is_currency
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine, insert, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, col

from bot.settings import Settings
from commands.account_fields import parse_stage, parse_touch_model
from commands.amounts import AmountProblem, read_amount
from commands.context import Clock
from commands.dates import DateProblem, read_date
from commands.i18n import Translator
from commands.text import unescape
from storage.account_summary import summaries
from storage.accounts import Account, Stage, TouchModel, fold_name
from storage.accounts_bulk import by_external_id, by_name_key, people_by_email, people_by_user_id
from storage.audit import record_many
from storage.db import make_engine, session_scope, upgrade
from storage.people import Person, user_ids

COLUMNS = (
    "name",
    "external_id",
    "sales_owner",
    "cs_owner",
    "touch_model",
    "arr",
    "currency",
    "contract_start",
    "renewal_date",
    "stage",
)
EXPORT_COLUMNS = (
    *COLUMNS,
    "open_promises",
    "overdue_promises",
    "last_touch_at",
    "last_touch_by",
    "last_touch_channel",
)
"""What export writes; import reads the first ten and ignores the rest, so an export re-imports."""

NAME_LIMIT, EXTERNAL_ID_LIMIT = 200, 100

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""Line breaks and tabs included: every column holds one value on one line."""


class CsvError(Exception):
    """The file cannot be read (missing, not UTF-8, no header…) or has bad rows: exit status 2."""


class SlackPeople(Protocol):
    """Who an owner email or user ID is in Slack (None: not connected)."""

    def user_id_for_email(self, email: str) -> str | None: ...

    def is_person(self, user_id: str) -> bool | None:
        """True: a person; False: a bot or a deactivated user; None: no such user."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Row:
    line: int
    name: str
    external_id: str | None = None
    sales_owner: str | None = None
    cs_owner: str | None = None
    touch_model: TouchModel | None = None
    arr: Decimal | None = None
    currency: str | None = None
    contract_start: date | None = None
    renewal_date: date | None = None
    stage: Stage | None = None
    problems: list[str] = field(default_factory=list)
    """Why its cells do not read; such a row is still checked against the database (its
    owners), so every reason is reported in one pass."""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What is worth knowing about rows that are not wrong (a new account named like one)."""

    def summary(self, *, dry_run: bool) -> str:
        counts = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return f"dry run: {counts}; nothing was written" if dry_run else f"accounts: {counts}"


# ---- reading --------------------------------------------------------------------------------


def read_csv(path: Path) -> tuple[list[Row], list[RowError]]:
    """Every data row parsed, or the reasons it is bad; file-level problems raise `CsvError`."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise CsvError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CsvError(f"{path}: is a directory, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise CsvError(
            f"{path}: not UTF-8 (byte {exc.start + 1}); in Excel save it as “CSV UTF-8”"
        ) from None
    rows: list[Row] = []
    errors: list[RowError] = []
    for line, cells in _records(text, path):
        parsed = parse_row(line, cells)
        if isinstance(parsed, Row):
            rows.append(parsed)
        else:
            errors.append(parsed)
    return rows, errors


def _reported(errors: list[RowError]) -> list[RowError]:
    """One line per row, its reasons in the order they were found."""
    reasons: dict[int, list[str]] = {}
    for error in errors:
        reasons.setdefault(error.line, []).append(error.reason)
    return [RowError(line, "; ".join(found)) for line, found in sorted(reasons.items())]


def _records(text: str, path: Path) -> Iterator[tuple[int, dict[str, str] | None]]:
    """(line number, cells by column) of each non-blank record; None when it has more cells
    than the header has columns."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [unicodedata.normalize("NFKC", h).strip().lower() for h in next(reader)]
    except StopIteration:
        raise CsvError(f"{path}: empty file; the first line must name the columns") from None
    except csv.Error as exc:
        raise CsvError(f"{path}: line 1: {exc}") from None
    _check_header(header, path)
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvError(f"{path}: line {line}: {exc}") from None
        if any(c.strip() for c in cells):
            fits = len(cells) <= len(header)
            yield line, dict(zip(header, cells, strict=False)) if fits else None
        line = reader.line_num + 1


def _check_header(header: list[str], path: Path) -> None:
    if "name" not in header:
        raise CsvError(
            f"{path}: the first line must name the columns, including “name” "
            f"(columns: {', '.join(COLUMNS)})"
        )
    unknown = [h for h in header if h not in EXPORT_COLUMNS]
    if unknown:
        shown = _show(unknown[0])
        raise CsvError(f"{path}: unknown column “{shown}” (columns: {', '.join(COLUMNS)})")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise CsvError(f"{path}: column “{twice[0]}” appears twice")


def parse_row(line: int, cells: dict[str, str] | None) -> Row | RowError:
    """One record → a `Row`, or every reason it is bad, joined."""
    if cells is None:
        return RowError(line, "more cells than the header has columns")
    reasons: list[str] = []
    value = {k: v.strip() for k, v in cells.items() if k in COLUMNS}
    for column, text in value.items():
        if _CONTROL.search(text):
            reasons.append(f"{column} contains control characters")
    row = Row(line=line, name=value.get("name", ""))
    if not row.name:
        reasons.append("name is empty")
    elif len(row.name) > NAME_LIMIT:
        reasons.append(f"name is longer than {NAME_LIMIT} characters")
    row.external_id = value.get("external_id") or None
    if row.external_id and len(row.external_id) > EXTERNAL_ID_LIMIT:
        reasons.append(f"external_id is longer than {EXTERNAL_ID_LIMIT} characters")
    for column in ("sales_owner", "cs_owner"):
        owner = value.get(column) or None
        if owner and not (_USER_ID.fullmatch(owner) or _EMAIL.fullmatch(owner)):
            reasons.append(f"{column} “{_show(owner)}” is neither a Slack user ID nor an email")
        setattr(row, column, owner)
    if model := value.get("touch_model"):
        row.touch_model = parse_touch_model(model)
        if row.touch_model is None:
            reasons.append(f"unknown touch model “{_show(model)}” (high, low or tech)")
    if stage := value.get("stage"):
        row.stage = parse_stage(stage)
        if row.stage is None:
            reasons.append(
                f"unknown stage “{_show(stage)}” (onboarding, active, at_risk, renewed or churned)"
            )
    row.currency = _currency(value.get("currency", ""), reasons)
    row.arr, row.currency = _arr(value.get("arr", ""), row.currency, reasons)
    row.contract_start = _date(value, "contract_start", reasons)
    row.renewal_date = _date(value, "renewal_date", reasons)
    row.problems = reasons
    return row


def _arr(text: str, currency: str | None, reasons: list[str]) -> tuple[Decimal | None, str | None]:
    """Read as the handoff form reads it (`$5,000`, `¥980,000`, `1.2M`); a sign names the
    currency when the currency column is empty, and must agree with it when it is not."""
    if not text:
        return None, currency
    read = read_amount(text)
    if isinstance(read, AmountProblem):
        reasons.append(f"arr: {_message(read.key, read.params)}")
        return None, currency
    if read.currency and currency and read.currency != currency:
        params = {"value": _show(text), "written": read.currency, "chosen": currency}
        reasons.append(f"arr: {_message('amount.other_currency', params)}")
    return read.value, currency or read.currency


def _currency(text: str, reasons: list[str]) -> str | None:
    if not text:
        return None
    code = unicodedata.normalize("NFKC", text).upper()
    if len(code) != 3 or not is_currency(code):
        reasons.append(f"unknown currency “{_show(text)}” (an ISO code such as JPY or USD)")
        return None
    return code


def _date(value: dict[str, str], column: str, reasons: list[str]) -> date | None:
    text = value.get(column, "")
    if not text:
        return None
    # No `today`: a file is read long after it was written, so `tomorrow` or `Dec 1` would
    # mean another day than its writer meant; the reader asks for the year instead.
    parsed = read_date(text, today=None)
    if isinstance(parsed, DateProblem):
        reasons.append(f"{column}: {_message(parsed.key, parsed.params)}")
    elif parsed is None:
        reasons.append(f"{column}: {_message('date.not_a_full_date', {'value': _show(text)})}")
    return parsed if isinstance(parsed, date) else None


def _message(key: str, params: dict[str, str]) -> str:
    """A reader's problem in the catalog's English, as plain text for the terminal."""
    return unescape(Translator("en")(key, **params))


def _show(text: str) -> str:
    """A cell quoted back: one line, not too long."""
    shown = _CONTROL.sub("?", text)
    return shown if len(shown) <= 60 else shown[:59] + "…"


# ---- checking against the database and writing ---------------------------------------------

OWNER_COLUMNS = ("sales_owner", "cs_owner")


@dataclass
class _Plan:
    """What the import would do, and why rows are bad."""

    session: Session
    slack: SlackPeople | None
    errors: list[RowError] = field(default_factory=list)
    owners: dict[str, Person | str] = field(default_factory=dict)
    """Owner cell → the person, or the Slack user ID of a person Kakehashi has not met yet."""
    new_people: dict[str, str | None] = field(default_factory=dict)
    """Slack user ID → email, of the people to add."""
    owner_errors: dict[str, str] = field(default_factory=dict)
    """Owner cell → why it names no one."""


@dataclass(frozen=True)
class _Change:
    row: Row
    target: Account | None
    """None: a new account."""
    values: dict[str, Any]
    """The values the row sets that differ from the account's (for a new one: all it gives)."""


def import_accounts(
    *,
    session: Session,
    rows: list[Row],
    at: datetime,
    default_currency: str,
    slack: SlackPeople | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Checks every row against the database, then (unless there is a bad row, or `dry_run`)
    creates and updates the accounts, each with an audit entry. The caller commits."""
    plan = _Plan(session=session, slack=slack)
    _resolve_owners(plan, rows)
    readable = [r for r in rows if not r.problems]
    checked = _without_duplicates(readable, plan.errors)
    targets = _targets(plan, checked)
    bad = {e.line for e in plan.errors}
    changes = [
        change
        for row in checked
        if row.line not in bad and (change := _change(plan, row, targets.get(row.line)))
    ]
    # Every reason a row is bad, in one pass: its cells, then its owners.
    for row in rows:
        if row.problems or row.line in bad:
            reasons = [*row.problems, *_owner_problems(plan, row)]
            plan.errors += [RowError(row.line, reason) for reason in reasons]
    report = ImportReport(errors=_reported(plan.errors))
    report.notes = _same_names(plan, [c.row for c in changes if c.target is None])
    report.created = sum(1 for c in changes if c.target is None)
    report.updated = sum(1 for c in changes if c.target is not None and c.values)
    report.unchanged = len(changes) - report.created - report.updated
    if not report.errors and not dry_run:
        _write(plan, changes, at, default_currency)
    return report


def _without_duplicates(rows: list[Row], errors: list[RowError]) -> list[Row]:
    """A second row for the same CRM id is an error, and so is a second row of the same name
    when either of the two has no CRM id to tell them apart."""
    by_id: dict[str, int] = {}
    by_name: dict[str, tuple[int, bool]] = {}
    kept: list[Row] = []
    for row in rows:
        key = fold_name(row.name)
        first_named = by_name.setdefault(key, (row.line, row.external_id is None))
        if row.external_id and by_id.setdefault(row.external_id, row.line) != row.line:
            same = f"external_id {_show(row.external_id)} as line {by_id[row.external_id]}"
        elif first_named[0] != row.line and (first_named[1] or row.external_id is None):
            same = f"name as line {first_named[0]}"
        else:
            kept.append(row)
            continue
        errors.append(RowError(row.line, f"duplicate row: same {same}"))
    return kept


def _resolve_owners(plan: _Plan, rows: list[Row]) -> None:
    cells = {getattr(row, c) for row in rows for c in OWNER_COLUMNS} - {None}
    user_ids = {c for c in cells if _USER_ID.fullmatch(c)}
    known = people_by_user_id(session=plan.session, user_ids=user_ids)
    for user_id in user_ids:
        person = known.get(user_id)
        if person is None:
            _meet(plan, user_id, user_id, email=None)
        elif person.is_bot:
            plan.owner_errors[user_id] = f"owner {user_id} is a bot, not a person"
        else:
            plan.owners[user_id] = person
    emails = cells - user_ids
    by_email = people_by_email(session=plan.session, emails=emails)
    for email in emails:
        person = by_email.get(email.lower())
        found = None if person or not plan.slack else plan.slack.user_id_for_email(email)
        if person is not None:
            plan.owners[email] = person
        elif found is not None:
            met = people_by_user_id(session=plan.session, user_ids=[found]).get(found)
            plan.owners[email] = met or found
            if met is None:
                plan.new_people[found] = email
        else:
            where = (
                "in Slack" if plan.slack else "among Kakehashi's people (Slack is not connected)"
            )
            plan.owner_errors[email] = f"unknown owner email {_show(email)}: no one has it {where}"


def _meet(plan: _Plan, cell: str, user_id: str, *, email: str | None) -> None:
    """A Slack user ID Kakehashi has not met: checked with Slack when it is connected."""
    verdict = plan.slack.is_person(user_id) if plan.slack else True
    if verdict is None:
        plan.owner_errors[cell] = f"unknown owner {user_id}: no such Slack user"
    elif verdict is False:
        plan.owner_errors[cell] = f"owner {user_id} is a bot or deactivated, not a person"
    else:
        plan.owners[cell] = user_id
        plan.new_people[user_id] = email


def _targets(plan: _Plan, rows: list[Row]) -> dict[int, Account]:
    """Line → the existing account the row updates (absent: the row creates one)."""
    ids = by_external_id(
        session=plan.session, external_ids=[r.external_id for r in rows if r.external_id]
    )
    names = by_name_key(session=plan.session, keys=[fold_name(r.name) for r in rows])
    targets: dict[int, Account] = {}
    claimed: dict[int, int] = {}
    for row in rows:
        target = ids.get(row.external_id) if row.external_id else None
        if target is None:
            same = names.get(fold_name(row.name), [])
            # A row with a CRM id may adopt an account that has none (created by a handoff);
            # an account with another CRM id is another company of the same name.
            if row.external_id:
                same = [a for a in same if a.external_id is None]
            if len(same) > 1:
                reason = (
                    f"{len(same)} accounts are called “{_show(row.name)}”; "
                    "add their external_id to say which"
                )
                plan.errors.append(RowError(row.line, reason))
                continue
            target = same[0] if same else None
        if target is not None:
            assert target.id is not None
            first = claimed.setdefault(target.id, row.line)
            if first != row.line:
                reason = f"duplicate row: updates the same account as line {first}"
                plan.errors.append(RowError(row.line, reason))
                continue
            targets[row.line] = target
    return targets


def _change(plan: _Plan, row: Row, target: Account | None) -> _Change | None:
    """What the row changes; None (and the reasons recorded) when it is bad."""
    reasons = _owner_problems(plan, row)
    start = row.contract_start or (target.contract_start if target else None)
    renewal = row.renewal_date or (target.renewal_date if target else None)
    if start and renewal and renewal <= start:
        reasons.append(
            f"renewal_date {renewal.isoformat()} is not after contract_start {start.isoformat()}"
        )
    if reasons:
        plan.errors.append(RowError(row.line, "; ".join(reasons)))
        return None
    given = {k: v for k, v in _values(plan, row).items() if v is not None}
    if target is None:
        return _Change(row, None, given)
    if target.external_id is None or target.external_id != row.external_id:
        del given["name"]  # found by its name, as spelled in Kakehashi: the spelling stays
    current = _current(target)
    return _Change(row, target, {k: v for k, v in given.items() if _key(v) != current[k]})


def _owner_problems(plan: _Plan, row: Row) -> list[str]:
    return [plan.owner_errors[c] for c in (row.sales_owner, row.cs_owner) if c in plan.owner_errors]


def _same_names(plan: _Plan, new: list[Row]) -> list[str]:
    """New accounts named like existing ones (another company, by its CRM id): people naming
    either will be asked which they mean, so the import says so."""
    existing = by_name_key(session=plan.session, keys=[fold_name(r.name) for r in new])
    notes = []
    for row in new:
        for other in existing.get(fold_name(row.name), []):
            known = f" ({_show(other.external_id)})" if other.external_id else ""
            notes.append(
                f"line {row.line}: new account “{_show(row.name)}” is named like the existing "
                f"“{_show(other.name)}”{known}; commands naming it will ask which one is meant"
            )
    return notes


def _values(plan: _Plan, row: Row) -> dict[str, Any]:
    return {
        "name": row.name,
        "external_id": row.external_id,
        "sales_owner": plan.owners.get(row.sales_owner) if row.sales_owner else None,
        "cs_owner": plan.owners.get(row.cs_owner) if row.cs_owner else None,
        "touch_model": row.touch_model.value if row.touch_model else None,
        "arr": row.arr,
        "currency": row.currency,
        "contract_start": row.contract_start,
        "renewal_date": row.renewal_date,
        "stage": row.stage.value if row.stage else None,
    }


def _current(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "external_id": account.external_id,
        "sales_owner": account.sales_owner_id,
        "cs_owner": account.cs_owner_id,
        "touch_model": account.touch_model,
        "arr": account.arr.quantize(Decimal("0.01")) if account.arr is not None else None,
        "currency": account.currency,
        "contract_start": account.contract_start,
        "renewal_date": account.renewal_date,
        "stage": account.stage,
    }


def _key(value: Any) -> Any:
    """An owner compares by person id; a person not yet met differs from every stored owner."""
    return value.id if isinstance(value, Person) else value


def _write(plan: _Plan, changes: list[_Change], at: datetime, default_currency: str) -> None:
    """Bulk statements: thousands of rows cost a few round trips, not thousands."""
    session = plan.session
    added = {u: Person(user_id=u, email=e) for u, e in plan.new_people.items()}
    session.add_all(added.values())
    session.flush()
    created = [c for c in changes if c.target is None]
    updated = [c for c in changes if c.target is not None and c.values]
    audited = [*_create(session, created, added, at, default_currency),
               *_update(session, updated, added, at)]  # fmt: skip
    record_many(session=session, actor=None, at=at, entity="account", entries=audited,
                note="import")  # fmt: skip


_NEW_ACCOUNT = {
    "external_id": None,
    "sales_owner_id": None,
    "cs_owner_id": None,
    "touch_model": TouchModel.LOW.value,
    "plan": None,
    "arr": None,
    "contract_start": None,
    "renewal_date": None,
    "stage": Stage.ONBOARDING.value,
}


def _create(
    session: Session,
    created: list[_Change],
    added: dict[str, Person],
    at: datetime,
    default_currency: str,
) -> list[tuple[int | None, str, dict[str, Any]]]:
    if not created:
        return []
    rows = [
        {**_NEW_ACCOUNT, "currency": default_currency, "created_at": at, "updated_at": at,
         **_columns(c.values, added)}
        for c in created
    ]  # fmt: skip
    # Unordered RETURNING keeps the insert batched; each new row is told apart by its CRM id,
    # else by its name (the duplicate check made both unique among the new rows).
    inserted = session.execute(
        insert(Account).returning(col(Account.id), col(Account.external_id), col(Account.name_key)),
        rows,
    ).all()
    ids = {external_id or name_key: account_id for account_id, external_id, name_key in inserted}
    return [
        (ids[c.row.external_id or fold_name(c.row.name)], "create",
         {k: _plain(v) for k, v in c.values.items()})
        for c in created
    ]  # fmt: skip


def _update(
    session: Session, updated: list[_Change], added: dict[str, Person], at: datetime
) -> list[tuple[int | None, str, dict[str, Any]]]:
    if not updated:
        return []
    owner_ids = {getattr(c.target, f"{o}_id") for c in updated for o in OWNER_COLUMNS}
    owners = user_ids(session=session, person_ids=owner_ids)
    audited: list[tuple[int | None, str, dict[str, Any]]] = []
    rows: list[dict[str, Any]] = []
    for change in updated:
        assert change.target is not None
        before = _current(change.target)
        for name in OWNER_COLUMNS:
            before[name] = owners.get(before[name] or 0)
        rows.append({"id": change.target.id, "updated_at": at, **_columns(change.values, added)})
        diff = {k: [_plain(before[k]), _plain(v)] for k, v in change.values.items()}
        audited.append((change.target.id, "update", diff))
    session.execute(update(Account), rows)
    return audited


def _columns(values: dict[str, Any], added: dict[str, Person]) -> dict[str, Any]:
    """Row values → Account columns: owners as person ids, the name with its matching key."""
    columns = dict(values)
    for name in OWNER_COLUMNS:
        if name in columns:
            owner = columns.pop(name)
            columns[f"{name}_id"] = (added[owner] if isinstance(owner, str) else owner).id
    if "name" in columns:
        columns["name_key"] = fold_name(columns["name"])
    return columns


def _plain(value: Any) -> Any:
    """A JSON value for the audit trail: owners as Slack user IDs, dates and amounts as text."""
    if isinstance(value, Person):
        return value.user_id
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _amount(value)
    return value


# ---- export ---------------------------------------------------------------------------------


def export_accounts(*, session: Session, out: TextIO, today: date) -> int:
    """Every account with its open and overdue promise counts and last touch; returns how many."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for s in summaries(session=session, today=today):
        a = s.account
        touch = s.last_touch
        writer.writerow(
            [
                a.name,
                a.external_id or "",
                s.sales_owner or "",
                s.cs_owner or "",
                a.touch_model,
                _amount(a.arr),
                a.currency,
                a.contract_start.isoformat() if a.contract_start else "",
                a.renewal_date.isoformat() if a.renewal_date else "",
                a.stage,
                s.open_promises,
                s.overdue_promises,
                touch.at.isoformat() if touch else "",
                (touch.by or "") if touch else "",
                touch.channel if touch else "",
            ]
        )
        count += 1
    return count


def _amount(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f") if value == value.to_integral() else f"{value:.2f}"


# ---- the command line -----------------------------------------------------------------------


class SlackLookupFailed(Exception):
    """Slack could not be asked who an owner is (network, token): exit status 1."""


class SlackOwners:
    """`users.lookupByEmail` and `users.info`, for owners the database does not know."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def user_id_for_email(self, email: str) -> str | None:
        user = self._ask("users_lookupByEmail", email=email)
        return str(user["id"]) if user and _is_person(user) else None

    def is_person(self, user_id: str) -> bool | None:
        user = self._ask("users_info", user=user_id)
        return None if user is None else _is_person(user)

    def _ask(self, method: str, **arguments: str) -> dict[str, Any] | None:
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
        return user if isinstance(user, dict) else None


def _is_person(user: dict[str, Any]) -> bool:
    return not (user.get("is_bot") or user.get("deleted") or user.get("id") == "USLACKBOT")


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
    rows, errors = read_csv(path)
    engine = _engine_for(settings.database_url, dry_run=dry_run)
    upgrade(engine)
    with session_scope(engine) as session:
        report = import_accounts(
            session=session,
            rows=rows,
            at=clock.now(),
            default_currency="JPY" if settings.locale == "ja" else "USD",
            slack=slack_owners(settings),
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
