"""`/promise`: the promise ledger (PRODUCT §4, DOMAIN "Inconsistent promises").

/promise                                       the Add promise form
/promise ACCOUNT: TEXT [by DATE] [every week|every month]
/promise list [ACCOUNT|@person|overdue]        open promises, due first
/promise kept|broken|waive P-N [note]          closes one (broken and waive need a note; also
                                                守った|履行, 守れなかった|不履行, 免除)

`add_promise_form(ctx, account)` is the form the account card's **Add promise** button opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from commands.accounts_lookup import ACCOUNT_LIMIT, find_account, form_account
from commands.context import Context
from commands.dates import DateProblem, read_date
from commands.markup import MENTIONED
from commands.promise_close import LINE_TEXT, Verdict, _user_id, close_promise, number, today
from commands.promise_grammar import (
    TEXT_LIMIT,
    LineProblem,
    PromiseLine,
    first_due_date,
    parse_promise_line,
)
from commands.registry import CommandSpec, OpenForm, ShowHelp
from commands.text import Safe, clip, fold, is_help, mention, strip_control
from commands.ui import FieldKind, Form, FormField, FormValues, Message, Note, Outcome, Section
from storage import people, promises
from storage.accounts import Account
from storage.promises import Promise, Recurrence

ADD_FORM = "promise.add"


NOTE_LIMIT = 1000


LIST_SHOWN = 30
"""Promises listed in one reply; the rest are counted ("and N more")."""


LINES_PER_SECTION = 10
"""Keeps each section well under Block Kit's 3,000 characters."""


CLOSE_WORDS = {
    "kept": Verdict.KEPT, "keep": Verdict.KEPT, "done": Verdict.KEPT,
    "守った": Verdict.KEPT, "履行": Verdict.KEPT,
    "broken": Verdict.BROKEN, "broke": Verdict.BROKEN,
    "守れなかった": Verdict.BROKEN, "不履行": Verdict.BROKEN,
    "waive": Verdict.WAIVE, "waived": Verdict.WAIVE, "免除": Verdict.WAIVE,
    "取り下げ": Verdict.WAIVE,
}  # fmt: skip


LIST_WORDS = {"list", "ls", "一覧"}


OVERDUE_WORDS = {"overdue", "late", "期限超過", "期限切れ", "遅延"}


_NUMBER = re.compile(r"(?:p-?|#)?([0-9]{1,9})", re.IGNORECASE)


@dataclass(frozen=True)
class AddPromise:
    account: str
    line: PromiseLine


@dataclass(frozen=True)
class ListPromises:
    account: str | None = None
    user_id: str | None = None
    overdue: bool = False


@dataclass(frozen=True)
class ClosePromise:
    number: int
    outcome: Verdict
    note: str | None


@dataclass(frozen=True)
class Problem:
    key: str
    """Message key naming what was wrong, with an example of the right form."""
    params: dict[str, str]


Request = ShowHelp | OpenForm | AddPromise | ListPromises | ClosePromise


def parse(text: str, *, today: date) -> Request | Problem:
    """The command's text → a request, or the problem with it. Never raises."""
    text = strip_control(text).strip()
    if not text:
        return OpenForm()
    first, rest = _first_word(text)
    word = fold(first)
    if is_help(text):
        return ShowHelp()
    if word in CLOSE_WORDS:
        return _parse_close(CLOSE_WORDS[word], rest.strip())
    if word in LIST_WORDS and ":" not in fold(rest):
        return _parse_list(rest.strip())
    return _parse_add(text, today)


def _first_word(text: str) -> tuple[str, str]:
    """Split at any white space, the ideographic space too."""
    words = [*text.split(maxsplit=1), "", ""]
    return words[0], words[1]


def _parse_add(text: str, today: date) -> AddPromise | Problem:
    account, colon, body = _split_colon(text)
    if not colon:
        return Problem("promise.need_colon", {})
    if not account:
        return Problem("lookup.missing", {})
    if len(account) > ACCOUNT_LIMIT:
        return Problem("promise.account_too_long", {"limit": str(ACCOUNT_LIMIT)})
    line = parse_promise_line(body, today=today)
    if isinstance(line, LineProblem):
        return Problem(line.key, line.params)
    return AddPromise(account, line)


def _split_colon(text: str) -> tuple[str, bool, str]:
    """`ACME: text` (a full-width colon too) → ("ACME", True, "text")."""
    for index, char in enumerate(text):
        if char in ":：":
            return text[:index].strip(), True, text[index + 1 :]
    return text, False, ""


def _parse_list(arg: str) -> ListPromises | Problem:
    if not arg:
        return ListPromises()
    if fold(arg) in OVERDUE_WORDS:
        return ListPromises(overdue=True)
    if mentioned := MENTIONED.fullmatch(arg):
        return ListPromises(user_id=mentioned[1])
    if arg.startswith(("<", "@")):
        return Problem("promise.list.need_mention", {"value": clip(arg, 80)})
    if len(arg) > ACCOUNT_LIMIT:
        return Problem("promise.account_too_long", {"limit": str(ACCOUNT_LIMIT)})
    return ListPromises(account=arg)


def _parse_close(outcome: Verdict, arg: str) -> ClosePromise | Problem:
    number_text, note = _first_word(arg)
    found = _NUMBER.fullmatch(fold(number_text))
    if not found:
        return Problem("promise.close.need_number", {"verb": outcome.value})
    note = " ".join(note.split())
    if not note and outcome != Verdict.KEPT:
        return Problem("promise.close.need_note", {"verb": outcome.value})
    if len(note) > NOTE_LIMIT:
        return Problem("promise.close.note_too_long", {"limit": str(NOTE_LIMIT)})
    return ClosePromise(int(found[1]), outcome, note or None)


def run(ctx: Context, text: str) -> Outcome:
    request = parse(text, today=today(ctx))
    match request:
        case Problem(key, params):
            return _reply(problem_message(ctx, key, params))
        case ShowHelp():
            return _reply(ctx.t("promise.usage"))
        case OpenForm():
            return Outcome(form=add_promise_form(ctx, None))
        case AddPromise(account, line):
            found = find_account(ctx, account)
            if not isinstance(found, Account):
                return Outcome(reply=found)
            return _reply(add_promise(ctx, found, line))
        case ListPromises():
            return Outcome(reply=list_promises(ctx, request))
        case ClosePromise(number, outcome, note):
            return _reply(close_promise(ctx, number, outcome, note))
    raise AssertionError(request)


def problem_message(ctx: Context, key: str, params: dict[str, str]) -> Safe:
    return Safe(ctx.t(key, **params) + "\n" + ctx.t("promise.usage"))


def _reply(markup: str) -> Outcome:
    return Outcome(reply=Message.plain(markup))


def add_promise(ctx: Context, account: Account, line: PromiseLine) -> Safe:
    assert account.id is not None
    promise = promises.add(
        session=ctx.session,
        account_id=account.id,
        text=line.text,
        due_date=first_due_date(line, today=today(ctx)),
        recurrence=line.recurrence,
        owner_id=account.cs_owner_id,
        promised_by_id=ctx.actor.id,
        actor=ctx.actor,
        at=ctx.now,
    )
    owner = _user_id(ctx, account.cs_owner_id)
    return ctx.t(
        "promise.added",
        number=number(promise),
        account=account.name,
        text=clip(promise.text, LINE_TEXT * 2),
        when=_when(ctx, promise),
        owner=mention(owner) if owner else ctx.t("promise.nobody"),
    )


def _when(ctx: Context, promise: Promise) -> Safe:
    due = ctx.t("promise.due", date=ctx.t.date(promise.due_date)) if promise.due_date else None
    repeat = ctx.t(f"promise.every.{promise.recurrence}") if promise.recurrence else None
    parts = [p for p in (due, repeat) if p] or [ctx.t("promise.no_due")]
    return Safe(ctx.t("promise.separator").join(parts))


def add_promise_form(ctx: Context, account: Account | None, *, initial: str = "") -> Form:
    """The **Add promise** form; for a given account (from its card) it does not ask which.
    `initial`: the promise's text (a message shortcut's message)."""
    fields = [
        FormField("text", ctx.t("promise.form.text"), FieldKind.TEXT,
                  initial=clip(initial, TEXT_LIMIT) or None,
                  hint=ctx.t("promise.form.text_hint"), max_length=TEXT_LIMIT),
        FormField("due", ctx.t("promise.form.due"), FieldKind.DATE, required=False),
        FormField("repeat", ctx.t("promise.form.repeat"), FieldKind.SELECT, required=False,
                  options=(("week", ctx.t("promise.every.week")),
                           ("month", ctx.t("promise.every.month")))),
    ]  # fmt: skip
    if account is None:
        fields.insert(0, FormField("account", ctx.t("promise.form.account"),
                                   hint=ctx.t("promise.form.account_hint"),
                                   max_length=ACCOUNT_LIMIT))  # fmt: skip
    return Form(
        callback_id=ADD_FORM,
        title=ctx.t("promise.form.title"),
        submit=ctx.t("promise.form.submit"),
        fields=tuple(fields),
        intro=ctx.t("promise.form.intro_for", account=account.name)
        if account
        else ctx.t("promise.form.intro"),
        metadata=str(account.id) if account else "",
    )


def submit_add_form(ctx: Context, values: FormValues, metadata: str) -> Outcome:
    errors: dict[str, str] = {}
    account = form_account(ctx, values, metadata, errors, gone="promise.form.account_gone")
    text = " ".join(strip_control(values.get("text") or "", " ").split())
    if not text:
        errors["text"] = ctx.t("promise_line.empty")
    elif len(text) > TEXT_LIMIT:
        errors["text"] = ctx.t("promise_line.too_long", limit=TEXT_LIMIT)
    due = _form_date(ctx, values.get("due"), errors)
    repeat = values.get("repeat")
    if repeat not in (None, *Recurrence):
        errors["repeat"] = ctx.t("promise.form.bad_repeat")
    if errors or account is None:
        return Outcome(errors=errors or {"account": ctx.t("lookup.missing")})
    line = PromiseLine(text, due, Recurrence(repeat) if repeat else None)
    return _reply(add_promise(ctx, account, line))


def _form_date(ctx: Context, value: str | None, errors: dict[str, str]) -> date | None:
    """The form's due date, read like the one after "by" (a field holds just a date)."""
    due = read_date(value, today=today(ctx)) if value else None
    if isinstance(due, DateProblem):
        errors["due"] = ctx.t(due.key, **due.params)
    elif value and due is None:  # a field holds just a date: not `by …`
        errors["due"] = ctx.t("promise.form.bad_date", value=clip(value, 60))
    elif due is not None and due < today(ctx):
        errors["due"] = ctx.t("promise_line.past_date", value=ctx.t.date(due))
    else:
        return due
    return None


def list_promises(ctx: Context, request: ListPromises) -> Message:
    day = today(ctx)
    account_id = person_id = None
    due_before = day if request.overdue else None
    if request.account is not None:
        found = find_account(ctx, request.account)
        if not isinstance(found, Account):
            return found
        account_id = found.id
        title = ctx.t("promise.list.for_account", account=found.name)
    elif request.user_id is not None:
        person = people.get_by_user_id(
            session=ctx.session, user_id=request.user_id, platform=ctx.directory.platform
        )
        person_id = person.id if person and person.id else -1
        title = ctx.t("promise.list.for_person", who=mention(request.user_id))
    else:
        title = ctx.t("promise.list.overdue" if request.overdue else "promise.list.all")
    shown = promises.open_promises(
        session=ctx.session,
        account_id=account_id,
        person_id=person_id,
        due_before=due_before,
        limit=LIST_SHOWN,
    )
    total = promises.count_open(
        session=ctx.session, account_id=account_id, person_id=person_id, due_before=due_before
    )
    if not shown:
        return Message.plain(ctx.t("promise.list.none", title=title))
    return _listing(ctx, ctx.t("promise.list.title", title=title, count=total), shown, total, day)


def _listing(ctx: Context, title: Safe, shown: list[Promise], total: int, day: date) -> Message:
    names = _account_names(ctx, shown)
    owners = people.user_ids(session=ctx.session, person_ids={p.owner_id for p in shown})
    lines = [_line(ctx, p, names.get(p.account_id, "?"), owners.get(p.owner_id or 0), day)
             for p in shown]  # fmt: skip
    sections = [
        Section("\n".join(lines[i : i + LINES_PER_SECTION]))
        for i in range(0, len(lines), LINES_PER_SECTION)
    ]
    more = (
        [Note(ctx.t("promise.list.more", count=total - len(shown)))] if total > len(shown) else []
    )
    return Message(text=title, blocks=(Section(title), *sections, *more))


def _account_names(ctx: Context, shown: list[Promise]) -> dict[int, str]:
    ids = {p.account_id for p in shown}
    rows = [ctx.session.get(Account, i) for i in ids]
    return {a.id: a.name for a in rows if a is not None and a.id is not None}


def _line(ctx: Context, promise: Promise, account: str, owner: str | None, day: date) -> Safe:
    overdue = promise.due_date is not None and promise.due_date < day
    return ctx.t(
        "promise.list.line_overdue" if overdue else "promise.list.line",
        number=number(promise),
        account=clip(account, 60),
        text=clip(promise.text, LINE_TEXT),
        when=_when(ctx, promise),
        owner=mention(owner) if owner else ctx.t("promise.nobody"),
    )


SPEC = CommandSpec(name="promise", run=run, forms={ADD_FORM: submit_add_form})
