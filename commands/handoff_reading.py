"""Reading a submitted handoff form: every field checked, each error said beside its field, and
nothing saved unless all of them are right."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from commands.account_fields import is_email
from commands.accounts_lookup import ECHO_LIMIT, account_names
from commands.addresses import AddressKind
from commands.amounts import AmountProblem, read_amount
from commands.context import Context, UserProfile
from commands.dates import DateProblem, read_date
from commands.handoff_cards import fit
from commands.handoff_form import (
    CURRENCIES,
    MAX_LINES,
    NAME_LIMIT,
    PLAN_LIMIT,
    TEXT_LIMIT,
    Field,
    HandoffRequest,
    Item,
    default_currency,
    pending_refusal,
)
from commands.promise_grammar import PromiseLine, first_due_date, parse_promise_line
from commands.text import Safe, clip, fold
from commands.ui import FormValues
from storage import accounts
from storage.accounts import Account, TouchModel
from storage.handoffs import AccountFacts, HandoffNotes, NewContact, SalePromise

SHOWN_LINE_ERRORS = 3


_CONTACT_SEPARATORS = re.compile(r"[\t,，、]")


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
    parse: Callable[[Context, str], Item | Safe],
    errors: _Errors,
) -> list[Item]:
    """One item per non-blank line; every bad line is quoted back with its number."""
    lines = [(n, line.strip()) for n, line in enumerate((raw or "").splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line]
    if len(lines) > MAX_LINES:
        errors.check(
            field, ctx.t("handoff.error.too_many_lines", limit=MAX_LINES, count=len(lines))
        )
        return []
    items: list[Item] = []
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
    if not is_email(email):
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
