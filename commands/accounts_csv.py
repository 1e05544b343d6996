"""Accounts as CSV (PRODUCT §6): reading and checking a file's rows, and writing the export.

Import is all or nothing: every row is read and checked first, each bad row is reported with its
line number and reason, and only a file without one is written, in one transaction (see
`commands/accounts_import.py`). What an owner cell's user id looks like only the platform's
adapter knows: it is passed in (`is_user_id`).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TextIO

from babel.numbers import is_currency
from sqlmodel import Session

from commands.account_fields import is_email, parse_stage, parse_touch_model
from commands.addresses import UserProfile
from commands.amounts import AmountProblem, read_amount
from commands.dates import DateProblem, read_date
from commands.i18n import Translator
from commands.markup import as_text
from storage.account_summary import summaries
from storage.accounts import Stage, TouchModel

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

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""Line breaks and tabs included: every column holds one value on one line."""


class CsvError(Exception):
    """The file cannot be read (missing, not UTF-8, no header…) or has bad rows: exit status 2."""


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


class OwnerDirectory(Protocol):
    """The part of the directory port the import asks (any `Directory` fits)."""

    def lookup(self, user_id: str) -> UserProfile | None: ...

    def by_email(self, email: str) -> UserProfile | None: ...


@dataclass(frozen=True)
class Owners:
    """What the platform's adapter tells the import about owner cells."""

    platform: str
    """The platform the owners' user IDs belong to (`slack`)."""
    name: str
    """The platform's name, as the report shows it (`Slack`)."""
    is_user_id: Callable[[str], bool]
    directory: OwnerDirectory | None = None
    """None: the platform is not connected; only people Kakehashi has met can be named."""


# ---- reading --------------------------------------------------------------------------------


def read_csv(path: Path, owners: Owners) -> tuple[list[Row], list[RowError]]:
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
        parsed = parse_row(line, cells, owners)
        if isinstance(parsed, Row):
            rows.append(parsed)
        else:
            errors.append(parsed)
    return rows, errors


def reported(errors: list[RowError]) -> list[RowError]:
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
        shown = show(unknown[0])
        raise CsvError(f"{path}: unknown column “{shown}” (columns: {', '.join(COLUMNS)})")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise CsvError(f"{path}: column “{twice[0]}” appears twice")


def parse_row(line: int, cells: dict[str, str] | None, owners: Owners) -> Row | RowError:
    """One record → a `Row`, or every reason it is bad, joined."""
    if cells is None:
        return RowError(line, "more cells than the header has columns")
    reasons: list[str] = []
    value = {k: v.strip() for k, v in cells.items() if k in COLUMNS}
    for column, text in value.items():
        if CONTROL.search(text):
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
        if owner and not (owners.is_user_id(owner) or is_email(owner)):
            name = owners.name
            reasons.append(f"{column} “{show(owner)}” is neither a {name} user ID nor an email")
        setattr(row, column, owner)
    if model := value.get("touch_model"):
        row.touch_model = parse_touch_model(model)
        if row.touch_model is None:
            reasons.append(f"unknown touch model “{show(model)}” (high, low or tech)")
    if stage := value.get("stage"):
        row.stage = parse_stage(stage)
        if row.stage is None:
            reasons.append(
                f"unknown stage “{show(stage)}” (onboarding, active, at_risk, renewed or churned)"
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
        params = {"value": show(text), "written": read.currency, "chosen": currency}
        reasons.append(f"arr: {_message('amount.other_currency', params)}")
    return read.value, currency or read.currency


def _currency(text: str, reasons: list[str]) -> str | None:
    if not text:
        return None
    code = unicodedata.normalize("NFKC", text).upper()
    if len(code) != 3 or not is_currency(code):
        reasons.append(f"unknown currency “{show(text)}” (an ISO code such as JPY or USD)")
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
        reasons.append(f"{column}: {_message('date.not_a_full_date', {'value': show(text)})}")
    return parsed if isinstance(parsed, date) else None


def _message(key: str, params: dict[str, str]) -> str:
    """A reader's problem in the catalog's English, as plain text for the terminal."""
    return as_text(Translator("en")(key, **params))


def show(text: str) -> str:
    """A cell quoted back: one line, not too long."""
    shown = CONTROL.sub("?", text)
    return shown if len(shown) <= 60 else shown[:59] + "…"


# ---- checking against the database and writing ---------------------------------------------

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
                amount(a.arr),
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


def amount(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f") if value == value.to_integral() else f"{value:.2f}"
