"""`/touch ACCOUNT [call|email|meeting|chat]: NOTE`: an outreach to the customer, logged by anyone.

A touch restarts the account's silence timer (PRODUCT §9). `/touch` alone opens the **Log touch**
form; `log_touch_form(ctx, account)` is the form the account card's **Log touch** button opens.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.accounts_lookup import ACCOUNT_LIMIT, find_account, form_account
from commands.context import Context
from commands.registry import CommandSpec, OpenForm, ShowHelp
from commands.text import Safe, clip, fold, is_help, strip_control
from commands.ui import FieldKind, Form, FormField, FormValues, Message, Outcome
from storage import accounts, touches
from storage.accounts import Account
from storage.touches import TouchChannel

LOG_FORM = "touch.log"
NOTE_LIMIT = 2000
CHANNEL_WORDS = {
    "call": TouchChannel.CALL, "phone": TouchChannel.CALL, "電話": TouchChannel.CALL,
    "email": TouchChannel.EMAIL, "mail": TouchChannel.EMAIL, "e-mail": TouchChannel.EMAIL,
    "メール": TouchChannel.EMAIL,
    "meeting": TouchChannel.MEETING, "visit": TouchChannel.MEETING, "会議": TouchChannel.MEETING,
    "打ち合わせ": TouchChannel.MEETING, "面談": TouchChannel.MEETING, "訪問": TouchChannel.MEETING,
    "chat": TouchChannel.CHAT, "slack": TouchChannel.CHAT, "チャット": TouchChannel.CHAT,
}  # fmt: skip


@dataclass(frozen=True)
class LogTouch:
    account: str
    channel: TouchChannel
    note: str
    whole: str | None = None
    """When the last word was read as the channel: the account as typed with it, tried if the
    shorter name finds nothing ("Acme Chat: …" may be the account "Acme Chat")."""


@dataclass(frozen=True)
class Problem:
    key: str
    """Message key naming what was wrong, with an example of the right form."""
    params: dict[str, str]


Request = ShowHelp | OpenForm | LogTouch


def parse(text: str) -> Request | Problem:
    """The command's text → a request, or the problem with it. Never raises."""
    text = strip_control(text).strip()
    if not text:
        return OpenForm()
    if is_help(text):
        return ShowHelp()
    head, colon, note = _split_colon(text)
    if not colon:
        return Problem("touch.need_colon", {})
    note = note.strip()
    if not note:
        return Problem("touch.need_note", {})
    if len(note) > NOTE_LIMIT:
        return Problem("touch.note_too_long", {"limit": str(NOTE_LIMIT)})
    if len(head) > ACCOUNT_LIMIT:
        return Problem("touch.account_too_long", {"limit": str(ACCOUNT_LIMIT)})
    *before, last = head.rsplit(maxsplit=1) or [""]
    channel = CHANNEL_WORDS.get(fold(last))
    if channel is not None and before:
        return LogTouch(before[0].strip(), channel, note, whole=head)
    if channel is not None or not head:
        return Problem("lookup.missing", {})
    return LogTouch(head, TouchChannel.CHAT, note)


def _split_colon(text: str) -> tuple[str, bool, str]:
    """`ACME call: note` (a full-width colon too) → ("ACME call", True, "note")."""
    for index, char in enumerate(text):
        if char in ":：":
            return text[:index].strip(), True, text[index + 1 :]
    return text, False, ""


def run(ctx: Context, text: str) -> Outcome:
    request = parse(text)
    match request:
        case Problem(key, params):
            return _reply(Safe(ctx.t(key, **params) + "\n" + ctx.t("touch.usage")))
        case ShowHelp():
            return _reply(ctx.t("touch.usage"))
        case OpenForm():
            return Outcome(form=log_touch_form(ctx, None))
        case LogTouch():
            found = _find(ctx, request)
            if not isinstance(found, Account):
                return Outcome(reply=found)
            return _reply(log_touch(ctx, found, request.channel, request.note))
    raise AssertionError(request)


def _find(ctx: Context, request: LogTouch) -> Account | Message:
    """The account; when the last word may be the channel or part of the name and both read
    as accounts, neither is guessed."""
    if request.whole is not None:
        shorter = accounts.match(session=ctx.session, query=request.account)
        whole = accounts.match(session=ctx.session, query=request.whole)
        if whole.found is not None and shorter.found is not None and whole.found != shorter.found:
            return Message.plain(
                ctx.t(
                    "touch.ambiguous_channel",
                    typed=clip(request.whole, 80),
                    whole=whole.found.name,
                    shorter=shorter.found.name,
                    channel=ctx.t(f"touch.channel.{request.channel.value}"),
                )
            )
        if whole.found is not None and shorter.found is None and not shorter.candidates:
            return whole.found
    return find_account(ctx, request.account)


def log_touch(ctx: Context, account: Account, channel: TouchChannel, note: str) -> Safe:
    assert account.id is not None
    touches.log(
        session=ctx.session,
        account_id=account.id,
        person_id=ctx.actor.id,
        channel=channel,
        note=note,
        at=ctx.now,
    )
    return ctx.t(
        "touch.logged",
        account=account.name,
        channel=ctx.t(f"touch.a_channel.{channel.value}"),  # "an email": English needs its article
        note=clip(" ".join(note.split()), 300),
    )


def _reply(markup: str) -> Outcome:
    return Outcome(reply=Message.plain(markup))


# ---- the form --------------------------------------------------------------------------------


def log_touch_form(ctx: Context, account: Account | None, *, initial: str = "") -> Form:
    """The **Log touch** form; for a given account (from its card) it does not ask which.
    `initial`: the note (a message shortcut's message and its link)."""
    options = tuple((c.value, ctx.t(f"touch.channel.{c.value}")) for c in TouchChannel)
    fields = [
        FormField("channel", ctx.t("touch.form.channel"), FieldKind.SELECT,
                  initial=TouchChannel.CHAT.value, options=options),
        FormField("note", ctx.t("touch.form.note"), FieldKind.MULTILINE,
                  initial=clip(initial, NOTE_LIMIT) or None,
                  hint=ctx.t("touch.form.note_hint"), max_length=NOTE_LIMIT),
    ]  # fmt: skip
    if account is None:
        fields.insert(0, FormField("account", ctx.t("touch.form.account"),
                                   hint=ctx.t("touch.form.account_hint"),
                                   max_length=ACCOUNT_LIMIT))  # fmt: skip
    return Form(
        callback_id=LOG_FORM,
        title=ctx.t("touch.form.title"),
        submit=ctx.t("touch.form.submit"),
        fields=tuple(fields),
        intro=ctx.t("touch.form.intro_for", account=account.name) if account else None,
        metadata=str(account.id) if account else "",
    )


def submit_log_form(ctx: Context, values: FormValues, metadata: str) -> Outcome:
    errors: dict[str, str] = {}
    account = form_account(ctx, values, metadata, errors, gone="touch.form.account_gone")
    channel = _channel(values.get("channel"))
    if channel is None:
        errors["channel"] = ctx.t("touch.form.bad_channel")
    note = strip_control(values.get("note") or "").strip()
    if not note:
        errors["note"] = ctx.t("touch.need_note")
    elif len(note) > NOTE_LIMIT:
        errors["note"] = ctx.t("touch.note_too_long", limit=NOTE_LIMIT)
    if errors or account is None or channel is None:
        return Outcome(errors=errors or {"account": ctx.t("lookup.missing")})
    return _reply(log_touch(ctx, account, channel, note))


def _channel(value: str | None) -> TouchChannel | None:
    if value is None:
        return TouchChannel.CHAT
    return TouchChannel(value) if value in set(TouchChannel) else None


SPEC = CommandSpec(name="touch", run=run, forms={LOG_FORM: submit_log_form})
