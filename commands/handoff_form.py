"""The **Hand off a customer** form (PRODUCT §5): building it, prefilled, and reading a
submission into a `HandoffRequest` or into errors shown on the offending fields.

Reading runs before Slack's 3-second acknowledgement: it is local parsing, one account lookup
and one `users.info` for the CS owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from commands.accounts_lookup import account_names
from commands.context import Context, UserProfile
from commands.i18n import Translator
from commands.text import Safe, mention
from commands.ui import FieldKind, Form, FormField
from storage import handoffs
from storage.accounts import Account, TouchModel
from storage.handoffs import AccountFacts, HandoffNotes
from storage.people import Person

FORM_ID = "handoff_form"


CURRENCIES = ("JPY", "USD", "EUR", "GBP", "CNY", "KRW", "TWD", "SGD", "AUD", "CAD", "INR")


NAME_LIMIT, PLAN_LIMIT, TEXT_LIMIT = 200, 500, 3000


AMOUNT_LIMIT = 40


MAX_LINES = 50
"""Contacts and promises per handoff: more is a paste gone wrong, not a customer."""


Item = TypeVar("Item")


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
