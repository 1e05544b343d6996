"""`kakehashi import accounts`: rows checked against the database, then written (PRODUCT §6).

Accounts are matched by `external_id` (the CRM id), else by folded name; empty cells leave a
value as it is. Running the same file twice changes nothing the second time. Owners are named by
e-mail or by the platform's user id; the platform's directory says who they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col

from commands.account_fields import is_email
from commands.accounts_csv import (
    ImportReport,
    Owners,
    Row,
    RowError,
    amount,
    reported,
    show,
)
from commands.addresses import UserProfile
from storage.accounts import Account, Stage, TouchModel, fold_name
from storage.accounts_bulk import by_external_id, by_name_key, people_by_email, people_by_user_id
from storage.audit import record_many
from storage.people import Person, user_ids


def _is_person(profile: UserProfile) -> bool:
    return not (profile.is_bot or profile.deleted)


def _user_id_for_email(owners: Owners, email: str) -> str | None:
    """The person the platform knows by this e-mail address (None: not connected, or no one)."""
    profile = owners.directory.by_email(email) if owners.directory else None
    return profile.user_id if profile and _is_person(profile) else None


OWNER_COLUMNS = ("sales_owner", "cs_owner")


@dataclass
class _Plan:
    """What the import would do, and why rows are bad."""

    session: Session
    who: Owners
    errors: list[RowError] = field(default_factory=list)
    owners: dict[str, Person | str] = field(default_factory=dict)
    """Owner cell → the person, or the user ID of a person Kakehashi has not met yet."""
    new_people: dict[str, str | None] = field(default_factory=dict)
    """User ID → email, of the people to add."""
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
    owners: Owners,
    dry_run: bool = False,
) -> ImportReport:
    """Checks every row against the database, then (unless there is a bad row, or `dry_run`)
    creates and updates the accounts, each with an audit entry. The caller commits."""
    plan = _Plan(session=session, who=owners)
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
    report = ImportReport(errors=reported(plan.errors))
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
            same = f"external_id {show(row.external_id)} as line {by_id[row.external_id]}"
        elif first_named[0] != row.line and (first_named[1] or row.external_id is None):
            same = f"name as line {first_named[0]}"
        else:
            kept.append(row)
            continue
        errors.append(RowError(row.line, f"duplicate row: same {same}"))
    return kept


def _resolve_owners(plan: _Plan, rows: list[Row]) -> None:
    cells = {getattr(row, c) for row in rows for c in OWNER_COLUMNS} - {None}
    user_ids = {c for c in cells if plan.who.is_user_id(c)}
    emails = {c for c in cells if is_email(c)}
    known = people_by_user_id(session=plan.session, user_ids=user_ids, platform=plan.who.platform)
    for user_id in user_ids:
        person = known.get(user_id)
        if person is None:
            _meet(plan, user_id, user_id, email=None)
        elif person.is_bot:
            plan.owner_errors[user_id] = f"owner {user_id} is a bot, not a person"
        else:
            plan.owners[user_id] = person
    by_email = people_by_email(session=plan.session, emails=emails)
    for email in emails:
        person = by_email.get(email.lower())
        found = None if person else _user_id_for_email(plan.who, email)
        if person is not None:
            plan.owners[email] = person
        elif found is not None:
            met = people_by_user_id(
                session=plan.session, user_ids=[found], platform=plan.who.platform
            ).get(found)
            plan.owners[email] = met or found
            if met is None:
                plan.new_people[found] = email
        else:
            name = plan.who.name
            where = (
                f"in {name}"
                if plan.who.directory
                else f"among Kakehashi's people ({name} is not connected)"
            )
            plan.owner_errors[email] = f"unknown owner email {show(email)}: no one has it {where}"


def _meet(plan: _Plan, cell: str, user_id: str, *, email: str | None) -> None:
    """A user ID Kakehashi has not met: checked with the platform when it is connected."""
    directory = plan.who.directory
    profile = directory.lookup(user_id) if directory else None
    verdict = True if directory is None else None if profile is None else _is_person(profile)
    if verdict is None:
        plan.owner_errors[cell] = f"unknown owner {user_id}: no such {plan.who.name} user"
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
                    f"{len(same)} accounts are called “{show(row.name)}”; "
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
            known = f" ({show(other.external_id)})" if other.external_id else ""
            notes.append(
                f"line {row.line}: new account “{show(row.name)}” is named like the existing "
                f"“{show(other.name)}”{known}; commands naming it will ask which one is meant"
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
    platform = plan.who.platform
    added = {u: Person(platform=platform, user_id=u, email=e) for u, e in plan.new_people.items()}
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
    """A JSON value for the audit trail: owners as user IDs, dates and amounts as text."""
    if isinstance(value, Person):
        return value.user_id
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return amount(value)
    return value
