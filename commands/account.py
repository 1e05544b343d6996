"""`/account`: the account card (PRODUCT §7), the accounts you own, and changes to an account.

/account                          the accounts you own
/account ACCOUNT                  the card
/account ACCOUNT owner @person    new CS owner (managers)
/account ACCOUNT stage STAGE      onboarding, active, at_risk, renewed, churned
/account ACCOUNT renewal DATE     2027-04-01, Apr 1, 2027年4月1日 … (commands.dates)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlmodel import col, update

from commands import account_card, account_lines, promise, promise_close, touch
from commands.account_fields import parse_stage
from commands.accounts_lookup import ECHO_LIMIT, find_account
from commands.context import Context
from commands.dates import DateProblem, read_date
from commands.markup import MENTIONED
from commands.policy import Permission, may, refuse
from commands.registry import CommandSpec
from commands.text import Safe, clip, fold, is_help, mention, strip_control
from commands.ui import Message, Outcome
from storage import people
from storage.account_summary import count_accounts, owned_by, summaries
from storage.accounts import Account, Stage
from storage.audit import record
from storage.people import Person
from storage.promises import Promise, PromiseStatus

NAME_LIMIT = 200
"""As long as an account name can be."""


class Verb(StrEnum):
    OWNER = "owner"
    STAGE = "stage"
    RENEWAL = "renewal"


VERB_WORDS = {
    "owner": Verb.OWNER,
    "担当": Verb.OWNER,
    "担当者": Verb.OWNER,
    "stage": Verb.STAGE,
    "ステージ": Verb.STAGE,
    "renewal": Verb.RENEWAL,
    "更新日": Verb.RENEWAL,
}
# The last verb word wins, so an account called "Stage Inc." still reads right.
_CHANGE = re.compile(
    r"^(?P<account>.+)\s+(?P<verb>"
    + "|".join(map(re.escape, VERB_WORDS))
    + r")(?:\s+(?P<arg>.*))?$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class ListMine:
    pass


@dataclass(frozen=True)
class ShowCard:
    account: str


@dataclass(frozen=True)
class ChangeOwner:
    account: str
    user_id: str


@dataclass(frozen=True)
class ChangeStage:
    account: str
    stage: Stage


@dataclass(frozen=True)
class ChangeRenewal:
    account: str
    renewal: date


@dataclass(frozen=True)
class Problem:
    key: str
    """Message key naming what was wrong (with an example of the right form)."""
    value: str = ""
    details: dict[str, str] = field(default_factory=dict)
    """What else the message names besides `value` (a misread date's possible readings)."""


Request = ListMine | ShowCard | ChangeOwner | ChangeStage | ChangeRenewal


def parse(text: str, *, today: date) -> Request | Problem:
    """The command's text → a request, or the problem with it. Never raises. `today` is the
    person's day, which `renewal tomorrow` or `renewal Dec 1` count from."""
    # NFKC: full-width words and spaces (ＡＣＭＥ　ｓｔａｇｅ) read like half-width ones.
    text = unicodedata.normalize("NFKC", strip_control(text)).strip()
    if not text:
        return ListMine()
    if is_help(text):
        return Problem("account.usage")
    found = _CHANGE.match(text)
    if found is None:
        return _named(text) or ShowCard(text)
    account, verb = found["account"].strip(), VERB_WORDS[fold(found["verb"])]
    arg = (found["arg"] or "").strip()
    if problem := _named(account):
        return problem
    if not arg:
        return Problem(f"account.{verb.value}.usage")
    if verb == Verb.OWNER:
        mentioned = MENTIONED.fullmatch(arg)
        return (
            ChangeOwner(account, mentioned[1])
            if mentioned
            else Problem("account.owner.need_mention", arg)
        )
    if verb == Verb.STAGE:
        stage = parse_stage(arg)
        return ChangeStage(account, stage) if stage else Problem("account.stage.unknown", arg)
    renewal = read_date(arg, today=today)
    if isinstance(renewal, DateProblem):
        return Problem(renewal.key, arg, renewal.params)
    return ChangeRenewal(account, renewal) if renewal else Problem("account.renewal.bad_date", arg)


def _named(account: str) -> Problem | None:
    return Problem("account.name_too_long") if len(account) > NAME_LIMIT else None


def run(ctx: Context, text: str) -> Outcome:
    request = parse(text, today=promise_close.today(ctx))
    match request:
        case Problem(key, value, details):
            return _reply(_problem(ctx, key, value, details))
        case ListMine():
            return _reply(my_accounts(ctx))
    found = find_account(ctx, request.account)
    if not isinstance(found, Account):
        return Outcome(reply=found)
    match request:
        case ShowCard():
            return Outcome(reply=account_card.card(ctx, found))
        case ChangeOwner(_, user_id):
            return _reply(change_owner(ctx, found, user_id))
        case ChangeStage(_, stage):
            return _reply(change_stage(ctx, found, stage))
        case ChangeRenewal(_, renewal):
            return _reply(change_renewal(ctx, found, renewal))
    raise AssertionError(request)


def _reply(markup: str | Message) -> Outcome:
    return Outcome(reply=markup if isinstance(markup, Message) else Message.plain(markup))


def _problem(ctx: Context, key: str, value: str, details: dict[str, str]) -> Safe:
    if key == "account.usage":
        return ctx.t(key)
    quoted = clip(" ".join(value.split()), ECHO_LIMIT)
    message = ctx.t(key, **{**details, "value": quoted, "limit": NAME_LIMIT})
    return Safe(message + "\n" + ctx.t("account.usage"))


# ---- the accounts you own -------------------------------------------------------------------

LIST_LIMIT = 40


def my_accounts(ctx: Context) -> Message:
    mine = owned_by(ctx.actor)
    total = count_accounts(session=ctx.session, where=mine)
    if total == 0:
        return Message.plain(ctx.t("account.list.none"))
    today = account_card.today(ctx)
    lines = [
        account_lines.summary_line(ctx, s, today)
        for s in summaries(session=ctx.session, today=today, where=mine, limit=LIST_LIMIT)
    ]
    title = ctx.t("account.list.title", count=total)
    return account_lines.listing(ctx, title, lines, total)


# ---- changes --------------------------------------------------------------------------------


def change_owner(ctx: Context, account: Account, user_id: str) -> Safe:
    if not may(ctx.actor, Permission.REASSIGN_CS_OWNER):
        return refuse(ctx, Permission.REASSIGN_CS_OWNER, about=f"account:{account.id}")
    profile = ctx.directory.lookup(user_id)
    if profile is None or profile.deleted:
        return ctx.t("account.owner.unknown_person", who=mention(user_id))
    if profile.is_bot:
        return ctx.t("account.owner.bot", who=mention(user_id))
    target = people.get_or_create(
        session=ctx.session, user_id=user_id, platform=ctx.directory.platform
    )
    if target.id == account.sales_owner_id:
        return ctx.t("account.owner.is_sales", who=mention(user_id))
    before = people.user_ids(session=ctx.session, person_ids={account.cs_owner_id})
    previous = before.get(account.cs_owner_id or 0)
    if target.id == account.cs_owner_id:
        return ctx.t("account.owner.unchanged", account=account.name, who=mention(user_id))
    moved = _move_open_promises(ctx, account, target)
    changes: dict[str, object] = {"cs_owner": [previous, user_id]}
    _audit(ctx, account, "owner", changes | ({"promises_moved": moved} if moved else {}))
    account.cs_owner_id = target.id
    _save(ctx, account)
    was = mention(previous) if previous else ctx.t("account.nobody")
    return ctx.t("account.owner.changed", account=account.name, who=mention(user_id), was=was)


def _move_open_promises(ctx: Context, account: Account, target: Person) -> int:
    """Open promises follow the CS owner: the new owner keeps them (and is reminded of them)."""
    if account.cs_owner_id is None:
        return 0
    moved = ctx.session.exec(
        update(Promise)
        .where(
            col(Promise.account_id) == account.id,
            col(Promise.owner_id) == account.cs_owner_id,
            col(Promise.status) == PromiseStatus.OPEN.value,
        )
        .values(owner_id=target.id)
    )
    return int(moved.rowcount or 0)


def change_stage(ctx: Context, account: Account, stage: Stage) -> Safe:
    if refused := _refused(ctx, account):
        return refused
    name = ctx.t(f"account.stage.{stage.value}")
    if account.stage == stage.value:
        return ctx.t("account.stage.unchanged", account=account.name, stage=name)
    was = ctx.t(f"account.stage.{account.stage}")
    _audit(ctx, account, "stage", {"stage": [account.stage, stage.value]})
    account.stage = stage.value
    _save(ctx, account)
    return ctx.t("account.stage.changed", account=account.name, stage=name, was=was)


def change_renewal(ctx: Context, account: Account, renewal: date) -> Safe:
    if refused := _refused(ctx, account):
        return refused
    if account.contract_start is not None and renewal <= account.contract_start:
        return ctx.t(
            "account.renewal.before_start",
            date=ctx.t.date(renewal),
            start=ctx.t.date(account.contract_start),
        )
    if account.renewal_date == renewal:
        return ctx.t("account.renewal.unchanged", account=account.name, date=ctx.t.date(renewal))
    before = account.renewal_date
    _audit(ctx, account, "renewal", {"renewal_date": [_iso(before), renewal.isoformat()]})
    account.renewal_date = renewal
    _save(ctx, account)
    was = ctx.t.date(before) if before else ctx.t("account.nobody")
    return ctx.t("account.renewal.changed", account=account.name, date=ctx.t.date(renewal), was=was)


def _refused(ctx: Context, account: Account) -> Safe | None:
    owners = (account.cs_owner_id, account.sales_owner_id)
    if may(ctx.actor, Permission.CHANGE_ACCOUNT, owners=owners):
        return None
    return refuse(ctx, Permission.CHANGE_ACCOUNT, owners=owners, about=f"account:{account.id}")


def _audit(ctx: Context, account: Account, action: str, changes: dict[str, object]) -> None:
    record(
        session=ctx.session,
        actor=ctx.actor,
        at=ctx.now,
        entity="account",
        entity_id=account.id,
        action=action,
        changes=changes,
    )


def _save(ctx: Context, account: Account) -> None:
    account.updated_at = ctx.now
    ctx.session.add(account)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


# ---- buttons --------------------------------------------------------------------------------


def log_touch_button(ctx: Context, value: str) -> Outcome:
    """**Log touch** on the card: the touch form, for this account."""
    account = _pressed_for(ctx, value)
    if account is None:
        return _reply(ctx.t("account.gone"))
    return Outcome(form=touch.log_touch_form(ctx, account))


def add_promise_button(ctx: Context, value: str) -> Outcome:
    """**Add promise** on the card: the promise form, for this account."""
    account = _pressed_for(ctx, value)
    if account is None:
        return _reply(ctx.t("account.gone"))
    return Outcome(form=promise.add_promise_form(ctx, account))


def _pressed_for(ctx: Context, value: str) -> Account | None:
    """The account a button names (its id); None when it is gone or the value is not an id."""
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        return None
    return ctx.session.get(Account, int(value))


SPEC = CommandSpec(
    name="account",
    run=run,
    actions={
        account_card.LOG_TOUCH: log_touch_button,
        account_card.ADD_PROMISE: add_promise_button,
    },
)
