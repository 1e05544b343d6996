"""**Hand it off** on a won deal's DM (PRODUCT §14): the handoff form, prefilled with everything
the CRM knew, for the rep to complete; and the message shortcuts **Record as promise** and **Log
as touch**, which open those forms with the message's text and a link back to it."""

from __future__ import annotations

import re

from commands.context import Context
from commands.crm_deals import WonDeal
from commands.handoff_form import TEXT_LIMIT, Prefill, handoff_form, pending_refusal
from commands.promise import add_promise_form
from commands.registry import Handlers
from commands.text import strip_control
from commands.touch import log_touch_form
from commands.ui import Message, Outcome
from storage.accounts import Account
from storage.crm_events import CrmEvent

HAND_OFF = "crm.hand_off"
"""The won deal's DM button: opens the handoff form prefilled with the deal."""
RECORD_PROMISE = "crm.record_promise"
LOG_TOUCH = "crm.log_touch"
"""Message shortcuts; their value is the message's text and its permalink (`shortcut_text`)."""
_LINE_BREAKS = re.compile(r"[\r\n]+")


def press_hand_off(ctx: Context, value: str) -> Outcome:
    event = ctx.session.get(CrmEvent, int(value)) if value.isdigit() else None
    account = ctx.session.get(Account, event.account_id) if event and event.account_id else None
    if event is None or event.deal is None or account is None:
        return Outcome(reply=Message.plain(ctx.t("crm.hand_off.gone")))
    if problem := pending_refusal(ctx, account):
        return Outcome(reply=Message.plain(problem))
    deal = WonDeal.model_validate(event.deal)
    prefill = Prefill(
        account_name=account.name,
        account=account,
        contacts=_lines([_contact_line(c.name, c.role, c.email) for c in deal.contacts]),
        promises=_lines([_promise_line(p.text, p.due, p.repeat) for p in deal.promises]),
    )
    return Outcome(form=handoff_form(ctx, prefill))


def _lines(lines: list[str]) -> str:
    """Whole lines, as many as the form's field holds (a longer prefill would not fit it)."""
    kept: list[str] = []
    for line in lines:
        if len("\n".join([*kept, line])) > TEXT_LIMIT:
            break
        kept.append(line)
    return "\n".join(kept)


def _contact_line(name: str, role: str, email: str | None) -> str:
    """`name, role, email` as the form reads it: a comma inside a name would split it."""
    return ", ".join(part.replace(",", " ") for part in (name, role, email or ""))


def _promise_line(text: str, due: object, repeat: str | None) -> str:
    line = _LINE_BREAKS.sub(" ", text)
    if due is not None:
        line += f" by {due}"
    if repeat:
        line += f" every {repeat}"
    return line


def shortcut_text(text: str, permalink: str | None) -> str:
    """What a message shortcut prefills: the message's text, then the link back to it."""
    body = strip_control(text).strip()
    return f"{body}\n{permalink}" if permalink else body


def press_record_promise(ctx: Context, value: str) -> Outcome:
    form = add_promise_form(ctx, None, initial=_LINE_BREAKS.sub(" ", value).strip())
    return Outcome(form=form)


def press_log_touch(ctx: Context, value: str) -> Outcome:
    return Outcome(form=log_touch_form(ctx, None, initial=value))


HANDLERS = Handlers(
    actions={
        HAND_OFF: press_hand_off,
        RECORD_PROMISE: press_record_promise,
        LOG_TOUCH: press_log_touch,
    }
)
