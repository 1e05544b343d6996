"""An account named in a command, or the reply that says why it could not be picked.

PRODUCT §4: an account is named by its name or CRM id; names match after folding
(`storage.accounts.fold_name`). Nothing matched: up to three close names are suggested. Several
matched: they are listed and nothing changes. Commands call `find_account` before doing anything,
so an ambiguous name can never change the wrong account.
"""

from __future__ import annotations

from commands.context import Context
from commands.text import Safe, clip
from commands.ui import FormValues, Message
from storage import accounts
from storage.accounts import Account

ECHO_LIMIT = 80
"""How much of what was typed is quoted back."""


def find_account(ctx: Context, query: str) -> Account | Message:
    query = query.strip()
    if not query:
        return Message.plain(ctx.t("lookup.missing"))
    found = accounts.match(session=ctx.session, query=query)
    if found.found is not None:
        return found.found
    typed = clip(" ".join(query.split()), ECHO_LIMIT)
    if found.candidates:
        names = account_names(ctx, found.candidates)
        return Message.plain(ctx.t("lookup.several", query=typed, names=names))
    if found.suggestions:
        names = account_names(ctx, found.suggestions)
        return Message.plain(ctx.t("lookup.none_did_you_mean", query=typed, names=names))
    return Message.plain(ctx.t("lookup.none", query=typed))


ACCOUNT_LIMIT = 200
"""Longest account name or CRM id a command or form accepts."""


def form_account(
    ctx: Context, values: FormValues, metadata: str, errors: dict[str, str], *, gone: str
) -> Account | None:
    """The account a form is about: fixed by its metadata when opened from an account card
    (message `gone` when it was deleted since), else looked up from its `account` field. What is
    wrong lands in `errors["account"]`."""
    if metadata.isdigit():
        fixed = ctx.session.get(Account, int(metadata))
        if fixed is None:
            errors["account"] = ctx.t(gone)
        return fixed
    found = find_account(ctx, (values.get("account") or "")[: ACCOUNT_LIMIT * 2])
    if isinstance(found, Account):
        return found
    errors["account"] = found.text
    return None


def account_names(ctx: Context, listed: tuple[Account, ...] | list[Account]) -> Safe:
    """`*株式会社ACME* (CRM-001), *Globex Inc.*`: the CRM id tells same-named accounts apart."""
    return Safe(
        ctx.t("lookup.separator").join(
            ctx.t("lookup.name_with_id", name=a.name, id=a.external_id)
            if a.external_id
            else ctx.t("lookup.name", name=a.name)
            for a in listed
        )
    )
