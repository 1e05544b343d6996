"""The **Hand off a customer** form (PRODUCT §5): building it, prefilled, and reading a
submission into a `HandoffRequest` or into errors shown on the offending fields.

Reading runs before Slack's 3-second acknowledgement: it is local parsing, one account lookup
and one `users.info` for the CS owner.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from commands.accounts_lookup import ECHO_LIMIT, account_names
from commands.addresses import AddressKind
from commands.amounts import AmountProblem, read_amount
from commands.context import Context, UserProfile
from commands.dates import DateProblem, read_date
from commands.handoff_cards import fit
from commands.i18n import Translator
from commands.promise_grammar import PromiseLine, first_due_date, parse_promise_line
from commands.text import Safe, clip, fold, mention
from commands.ui import FieldKind, Form, FormField, FormValues
from storage import accounts, handoffs
from storage.accounts import Account, TouchModel
from storage.handoffs import AccountFacts, HandoffNotes, NewContact, SalePromise
from storage.people import Person

FORM_ID = "handoff_form"
CURRENCIES = ("JPY", "USD", "EUR", "GBP", "CNY", "KRW", "TWD", "SGD", "AUD", "CAD", "INR")
NAME_LIMIT, PLAN_LIMIT, TEXT_LIMIT = 200, 500, 3000
AMOUNT_LIMIT = 40
MAX_LINES = 50
"""Contacts and promises per handoff: more is a paste gone wrong, not a customer."""
SHOWN_LINE_ERRORS = 3

_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+")
_CONTACT_SEPARATORS = re.compile(r"[\t,，、]")
_Item = TypeVar("_Item")


class Field(StrEnum):
    ACCOUNT = "account"
    CS_OWNER = "cs_owner"
    TOUCH_MODEL = "touch_model"
    PLAN = "plan"
    AMOUNT = "amount"
    CURRENCY = "currency"
    START = "contract_start"
    RENEWAL = "renewal_date"
    GOALS = "goals"
    PROBLEMS = "problems"
    CONTACTS = "contacts"
    PROMISES = "promises"
    RISKS = "risks"


@dataclass(frozen=True)
class Prefill:
    account_name: str = ""
    account: Account | None = None
    cs_owner_id: str | None = None
    near: tuple[Account, ...] = ()
    """Nothing matched the typed name: close names, shown in case it was a typo."""
    contacts: str = ""
    promises: str = ""
    """Lines as the form reads them, from a won deal in the CRM (`commands.crm`)."""


@dataclass(frozen=True)
class HandoffRequest:
    account: Account | None
    """The existing account it updates; None creates one."""
    facts: AccountFacts
    notes: HandoffNotes
    cs_owner: UserProfile


# ---- the form -------------------------------------------------------------------------------


def handoff_form(ctx: Context, prefill: Prefill) -> Form:
    t, account = ctx.t, prefill.account
    return Form(
        callback_id=FORM_ID,
        title=t("handoff.form.title"),
        submit=t("handoff.form.submit"),
        intro=_intro(ctx, prefill),
        fields=(
            FormField(
                Field.ACCOUNT,
                t("handoff.form.account"),
                initial=prefill.account_name,
                hint=t("handoff.form.account_hint"),
                max_length=NAME_LIMIT,
            ),
            FormField(
                Field.CS_OWNER,
                t("handoff.form.cs_owner"),
                FieldKind.USER,
                initial=prefill.cs_owner_id or _user_id(ctx, account),
            ),
            FormField(
                Field.TOUCH_MODEL,
                t("handoff.form.touch_model"),
                FieldKind.SELECT,
                initial=account.touch_model if account else None,
                options=tuple((m.value, t(f"handoff.touch.{m.value}")) for m in TouchModel),
            ),
            FormField(
                Field.PLAN,
                t("handoff.form.plan"),
                required=False,
                initial=account.plan if account else None,
                max_length=PLAN_LIMIT,
            ),
            FormField(
                Field.AMOUNT,
                t("handoff.form.amount"),
                FieldKind.TEXT,
                required=False,
                initial=_amount(account),
                hint=t("handoff.form.amount_hint"),
                max_length=AMOUNT_LIMIT,
            ),
            FormField(
                Field.CURRENCY,
                t("handoff.form.currency"),
                FieldKind.SELECT,
                initial=account.currency if account else default_currency(ctx),
                options=tuple((c, c) for c in CURRENCIES),
            ),
            FormField(
                Field.START,
                t("handoff.form.start"),
                FieldKind.DATE,
                initial=_iso(account.contract_start if account else None),
            ),
            FormField(
                Field.RENEWAL,
                t("handoff.form.renewal"),
                FieldKind.DATE,
                initial=_iso(account.renewal_date if account else None),
            ),
            _notes(t, Field.GOALS, required=True),
            _notes(t, Field.PROBLEMS),
            _notes(t, Field.CONTACTS, initial=prefill.contacts),
            _notes(t, Field.PROMISES, initial=prefill.promises),
            _notes(t, Field.RISKS),
        ),
    )


def _notes(t: Translator, field: Field, *, required: bool = False, initial: str = "") -> FormField:
    """A multiline field whose label and hint are `handoff.form.<id>` and `…<id>_hint`."""
    return FormField(
        field,
        t(f"handoff.form.{field.value}"),
        FieldKind.MULTILINE,
        required=required,
        initial=initial or None,
        hint=t(f"handoff.form.{field.value}_hint"),
    )


def default_currency(ctx: Context) -> str:
    return "JPY" if ctx.t.locale == "ja" else "USD"


def _intro(ctx: Context, prefill: Prefill) -> Safe:
    t = ctx.t
    lines = [t("handoff.form.intro")]
    if prefill.account is not None:
        lines.append(t("handoff.form.existing", account=prefill.account.name))
    elif prefill.account_name:
        lines.append(t("handoff.form.new", account=prefill.account_name))
        if prefill.near:
            lines.append(t("handoff.form.did_you_mean", names=account_names(ctx, prefill.near)))
    return Safe("\n".join(lines))


def _user_id(ctx: Context, account: Account | None) -> str | None:
    owner = (
        ctx.session.get(Person, account.cs_owner_id) if account and account.cs_owner_id else None
    )
    return owner.user_id if owner else None


def _amount(account: Account | None) -> str | None:
    if account is None or account.arr is None:
        return None
    return format(account.arr.normalize(), "f")


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


# ---- reading a submission -------------------------------------------------------------------


class _Errors(dict[str, str]):
    def check(self, field: Field, problem: str | None) -> None:
        if problem and field not in self:
            self[field] = problem


def read_handoff_form(ctx: Context, values: FormValues) -> HandoffRequest | dict[str, str]:
    """The request, or field id → what is wrong there (nothing is saved then)."""
    t, errors = ctx.t, _Errors()

    def text(field: Field, limit: int = TEXT_LIMIT, *, required: bool = False) -> str | None:
        value = (values.get(field) or "").strip()
        if required and not value:
            errors.check(field, t("handoff.error.required"))
        elif len(value) > limit:
            errors.check(field, t("handoff.error.too_long", limit=limit, length=len(value)))
        return value or None

    name = text(Field.ACCOUNT, NAME_LIMIT, required=True) or ""
    account = _existing_account(ctx, name, errors) if Field.ACCOUNT not in errors else None
    cs_owner = _cs_owner(ctx, values.get(Field.CS_OWNER), errors)
    touch = _choice(values.get(Field.TOUCH_MODEL), [m.value for m in TouchModel], fold)
    errors.check(Field.TOUCH_MODEL, None if touch else t("handoff.error.choose"))
    currency = _choice(values.get(Field.CURRENCY) or default_currency(ctx), CURRENCIES, str.upper)
    errors.check(Field.CURRENCY, None if currency else t("handoff.error.choose"))
    amount = _read_amount(ctx, values.get(Field.AMOUNT), currency, errors)
    today = ctx.now.astimezone(t.zone).date()
    start = _read_date(ctx, Field.START, values.get(Field.START), today, errors)
    renewal = _read_date(ctx, Field.RENEWAL, values.get(Field.RENEWAL), today, errors)
    if start and renewal and renewal <= start:
        errors.check(Field.RENEWAL, t("handoff.error.renewal_not_after_start", start=t.date(start)))
    plan = text(Field.PLAN, PLAN_LIMIT)
    goals = text(Field.GOALS, required=True)
    problems, risks = text(Field.PROBLEMS), text(Field.RISKS)
    contacts = _read_lines(ctx, Field.CONTACTS, text(Field.CONTACTS), _contact, errors)
    promises = _read_lines(
        ctx, Field.PROMISES, text(Field.PROMISES), lambda c, line: _promise(c, line, today), errors
    )
    if errors:
        return dict(errors)
    assert cs_owner and touch and currency and start and renewal and goals
    return HandoffRequest(
        account=account,
        facts=AccountFacts(
            name=account.name if account else name,
            touch_model=touch,
            plan=plan,
            arr=amount,
            currency=currency,
            contract_start=start,
            renewal_date=renewal,
        ),
        notes=HandoffNotes(
            goals=goals,
            problems=problems,
            risks=risks,
            contacts=tuple(contacts),
            promises=tuple(promises),
        ),
        cs_owner=cs_owner,
    )


def _existing_account(ctx: Context, name: str, errors: _Errors) -> Account | None:
    found = accounts.match(session=ctx.session, query=name)
    if found.candidates:
        errors.check(Field.ACCOUNT, several_match(ctx, name, found.candidates))
        return None
    if found.found is not None:
        errors.check(Field.ACCOUNT, pending_refusal(ctx, found.found))
    return found.found


def several_match(ctx: Context, typed: str, candidates: tuple[Account, ...]) -> Safe:
    """Listed, and nothing changes (PRODUCT §4)."""
    query = clip(" ".join(typed.split()), ECHO_LIMIT)
    return ctx.t("lookup.several", query=query, names=account_names(ctx, candidates))


def pending_refusal(ctx: Context, account: Account) -> Safe | None:
    """A second handoff while one is pending is refused, naming it and its CS owner."""
    pending = handoffs.pending_for_account(session=ctx.session, account_id=account.id)
    if pending is None:
        return None
    owner = ctx.session.get(Person, pending.cs_owner_id)
    return ctx.t(
        "handoff.error.pending",
        account=account.name,
        number=f"H-{pending.id}",
        owner=mention(owner.user_id) if owner else "—",
        when=ctx.t.datetime(pending.created_at),
    )


def _cs_owner(ctx: Context, user_id: str | None, errors: _Errors) -> UserProfile | None:
    t = ctx.t
    if not user_id:
        errors.check(Field.CS_OWNER, t("handoff.error.required"))
        return None
    is_person = ctx.directory.kind(user_id) is AddressKind.PERSON
    profile = ctx.directory.lookup(user_id) if is_person else None
    if profile is None or profile.deleted:
        errors.check(Field.CS_OWNER, t("handoff.error.owner_unknown", who=user_id))
    elif profile.is_bot:
        errors.check(Field.CS_OWNER, t("handoff.error.owner_bot", who=profile.name or user_id))
    elif profile.user_id == ctx.actor.user_id:
        errors.check(Field.CS_OWNER, t("handoff.error.owner_self"))
    else:
        return profile
    return None


def _choice(
    value: str | None, allowed: tuple[str, ...] | list[str], norm: Callable[[str], str]
) -> str | None:
    if not value:
        return None
    wanted = norm(value.strip())
    return next((a for a in allowed if norm(a) == wanted), None)


def _read_amount(
    ctx: Context, raw: str | None, currency: str | None, errors: _Errors
) -> Decimal | None:
    """Read by `commands.amounts`; a sign or code must agree with the currency chosen."""
    if not raw or not raw.strip():
        return None
    read = read_amount(raw)
    if isinstance(read, AmountProblem):
        errors.check(Field.AMOUNT, ctx.t(read.key, **read.params))
        return None
    if read.currency and currency and read.currency != currency:
        shown = clip(" ".join(raw.split()), 60)
        message = ctx.t(
            "amount.other_currency", value=shown, written=read.currency, chosen=currency
        )
        errors.check(Field.AMOUNT, message)
        return None
    return read.value


def _read_date(
    ctx: Context, field: Field, raw: str | None, today: date, errors: _Errors
) -> date | None:
    if not raw or not raw.strip():
        errors.check(field, ctx.t("handoff.error.required"))
        return None
    read = read_date(raw, today=today)
    if isinstance(read, DateProblem):
        errors.check(field, ctx.t(read.key, **read.params))
    elif read is None:
        errors.check(field, ctx.t("date.not_a_date", value=clip(" ".join(raw.split()), 60)))
    return read if isinstance(read, date) else None


def _read_lines(
    ctx: Context,
    field: Field,
    raw: str | None,
    parse: Callable[[Context, str], _Item | Safe],
    errors: _Errors,
) -> list[_Item]:
    """One item per non-blank line; every bad line is quoted back with its number."""
    lines = [(n, line.strip()) for n, line in enumerate((raw or "").splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line]
    if len(lines) > MAX_LINES:
        errors.check(
            field, ctx.t("handoff.error.too_many_lines", limit=MAX_LINES, count=len(lines))
        )
        return []
    items: list[_Item] = []
    problems: list[str] = []
    for number, line in lines:
        parsed = parse(ctx, line)
        if isinstance(parsed, Safe):
            problems.append(
                ctx.t("handoff.error.line", number=number, line=fit(line, 80), problem=parsed)
            )
        else:
            items.append(parsed)
    if len(problems) > SHOWN_LINE_ERRORS:
        more = ctx.t("handoff.more", count=len(problems) - SHOWN_LINE_ERRORS)
        problems = [*problems[:SHOWN_LINE_ERRORS], more]
    errors.check(field, "\n".join(problems) or None)
    return items


def _contact(ctx: Context, line: str) -> NewContact | Safe:
    """`name, role, email` (commas, 、 or tabs from a spreadsheet)."""
    parts = [part.strip() for part in _CONTACT_SEPARATORS.split(line)]
    if len(parts) != 3 or not parts[0]:
        return ctx.t("handoff.error.contact_shape")
    name, role, email = parts
    if not _EMAIL.fullmatch(email):
        return ctx.t("handoff.error.contact_email", email=fit(email, 80))
    if len(name) > NAME_LIMIT or len(role) > NAME_LIMIT or len(email) > 320:
        return ctx.t("handoff.error.contact_long")
    return NewContact(name=name, role=role, email=email)


def _promise(ctx: Context, line: str, today: date) -> SalePromise | Safe:
    parsed = parse_promise_line(line, today=today)
    if not isinstance(parsed, PromiseLine):
        return ctx.t(parsed.key, **parsed.params)
    return SalePromise(
        text=parsed.text, due_date=first_due_date(parsed, today=today), recurrence=parsed.recurrence
    )
