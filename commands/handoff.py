"""`/handoff [ACCOUNT] [@cs-owner]`: sales hands a closed customer to CS as structured facts,
and the CS owner explicitly takes it (PRODUCT §5).

Every message the bot sends on its own (the CS owner's card, the channel announcement, the
confirmation, questions and answers) goes to the outbox in the same transaction as the change,
under a stable key, so a Slack failure after the save loses nothing and sends nothing twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from commands import handoff_cards as cards
from commands.context import Context, apply_profile
from commands.handoff_cards import HandoffAction, HandoffView, load_view
from commands.handoff_form import (
    FORM_ID,
    NAME_LIMIT,
    TEXT_LIMIT,
    Field,
    HandoffRequest,
    Prefill,
    handoff_form,
    pending_refusal,
)
from commands.handoff_reading import read_handoff_form, several_match
from commands.i18n import Translator
from commands.markup import MENTIONED
from commands.policy import Permission, may, refuse
from commands.registry import CommandSpec
from commands.text import Safe, is_help, mention
from commands.ui import FieldKind, Form, FormField, FormValues, Message, Outcome, message_to_json
from storage import accounts, handoffs, outbox, people
from storage.handoffs import Handoff, HandoffMessage, MessageKind
from storage.people import Person

QUESTION_FORM, ANSWER_FORM = "handoff_question", "handoff_answer"
TEXT_FIELD = "text"


@dataclass(frozen=True)
class HandoffArgs:
    account: str
    cs_owner_id: str | None


def parse_args(text: str) -> HandoffArgs | str:
    """`[ACCOUNT] [@cs-owner]` → the arguments, or the message key of what is wrong."""
    owners = MENTIONED.findall(text)
    if len(owners) > 1:
        return "handoff.one_owner"
    account = " ".join(MENTIONED.sub(" ", text).split())
    if len(account) > NAME_LIMIT:
        return "handoff.name_too_long"
    return HandoffArgs(account=account, cs_owner_id=owners[0] if owners else None)


def run(ctx: Context, text: str) -> Outcome:
    if is_help(text):
        return _reply(ctx.t("handoff.usage"))
    args = parse_args(text)
    if isinstance(args, str):
        return _reply(ctx.t(args, limit=NAME_LIMIT) + "\n" + ctx.t("handoff.usage"))
    prefill = Prefill(account_name=args.account, cs_owner_id=args.cs_owner_id)
    if args.account:
        found = accounts.match(session=ctx.session, query=args.account)
        if found.candidates:
            return _reply(several_match(ctx, args.account, found.candidates))
        if found.found is not None:
            if problem := pending_refusal(ctx, found.found):
                return _reply(problem)
            prefill = Prefill(
                account_name=found.found.name, account=found.found, cs_owner_id=args.cs_owner_id
            )
        else:
            prefill = Prefill(
                account_name=args.account, cs_owner_id=args.cs_owner_id, near=found.suggestions
            )
    return Outcome(form=handoff_form(ctx, prefill))


def submit_handoff(ctx: Context, values: FormValues, metadata: str) -> Outcome:
    request = read_handoff_form(ctx, values)
    if not isinstance(request, HandoffRequest):
        return Outcome(errors=request)
    cs_owner = people.get_or_create(
        session=ctx.session, user_id=request.cs_owner.user_id, platform=ctx.directory.platform
    )
    apply_profile(cs_owner, request.cs_owner)
    cs_owner.profile_fetched_at = ctx.now
    try:
        with ctx.session.begin_nested():
            handoff = handoffs.hand_off(
                session=ctx.session,
                account=request.account,
                facts=request.facts,
                notes=request.notes,
                sales_rep=ctx.actor,
                cs_owner=cs_owner,
                at=ctx.now,
            )
    except (IntegrityError, handoffs.AccountTaken) as exc:
        # Someone else's handoff of this account was saved while this form was being checked.
        account = exc.account if isinstance(exc, handoffs.AccountTaken) else request.account
        refusal = pending_refusal(ctx, account) if account is not None else None
        return Outcome(errors={Field.ACCOUNT: refusal or ctx.t("handoff.error.try_again")})
    _announce_new(ctx, load_view(session=ctx.session, handoff=handoff))
    return Outcome()


# ---- Accept ---------------------------------------------------------------------------------


def press_accept(ctx: Context, value: str) -> Outcome:
    handoff_id, _, where = value.partition(":")
    handoff = _handoff(ctx, handoff_id)
    if handoff is None:
        return _reply(ctx.t("handoff.not_found", value=cards.fit(handoff_id, 20)))
    owners = (handoff.cs_owner_id,)
    if not may(ctx.actor, Permission.ACCEPT_HANDOFF, owners=owners):
        return _reply(refuse(ctx, Permission.ACCEPT_HANDOFF, owners=owners, about=_key(handoff)))
    accepted = handoffs.accept(session=ctx.session, handoff=handoff, by=ctx.actor, at=ctx.now)
    view = load_view(session=ctx.session, handoff=handoff)
    if not accepted:
        return _reply(_already_accepted(ctx, view))
    _announce_accepted(ctx, view)
    updated = cards.card(ctx.translator_for(view.cs_owner), view, buttons=False, now=ctx.now)
    if where == cards.ON_CARD:
        return Outcome(replace_original=updated)
    _update_if_sent(ctx, f"{_key(handoff)}:dm", updated)
    yours = view.cs_owner.id == ctx.actor.id
    return _reply(
        ctx.t(
            "handoff.accepted.yours" if yours else "handoff.accepted.you",
            number=view.number,
            account=view.account.name,
            owner=mention(view.cs_owner.user_id),
        )
    )


def _already_accepted(ctx: Context, view: HandoffView) -> Safe:
    assert view.accepted_by is not None and view.handoff.accepted_at is not None
    return ctx.t(
        "handoff.already_accepted",
        number=view.number,
        account=view.account.name,
        who=mention(view.accepted_by.user_id),
        when=ctx.t.datetime(view.handoff.accepted_at),
    )


# ---- questions and answers ------------------------------------------------------------------


def press_ask(ctx: Context, value: str) -> Outcome:
    handoff = _handoff(ctx, value)
    if handoff is None:
        return _reply(ctx.t("handoff.not_found", value=cards.fit(value, 20)))
    view = load_view(session=ctx.session, handoff=handoff)
    intro = ctx.t(
        "handoff.ask.intro",
        rep=mention(view.sales_rep.user_id),
        account=view.account.name,
        number=view.number,
    )
    return Outcome(form=_text_form(ctx, QUESTION_FORM, "handoff.ask", intro, str(handoff.id)))


def submit_question(ctx: Context, values: FormValues, metadata: str) -> Outcome:
    handoff = _handoff(ctx, metadata)
    if handoff is None:
        return Outcome(
            errors={TEXT_FIELD: ctx.t("handoff.not_found", value=cards.fit(metadata, 20))}
        )
    text = _typed(ctx, values)
    if isinstance(text, Safe):
        return Outcome(errors={TEXT_FIELD: text})
    question = handoffs.add_message(
        session=ctx.session,
        handoff=handoff,
        author=ctx.actor,
        kind=MessageKind.QUESTION,
        text=text,
        at=ctx.now,
    )
    view = load_view(session=ctx.session, handoff=handoff)
    rep = view.sales_rep
    _send(
        ctx,
        f"{_key(handoff)}:question:{question.id}",
        "handoff.question",
        rep.user_id,
        cards.question_dm(ctx.translator_for(rep), view, question),
    )
    return _reply(ctx.t("handoff.ask.sent", number=view.number, rep=mention(rep.user_id)))


def press_reply(ctx: Context, value: str) -> Outcome:
    question = _question(ctx, value)
    if question is None:
        return _reply(ctx.t("handoff.question_not_found"))
    intro = ctx.t(
        "handoff.reply.intro",
        who=mention(_author(ctx, question).user_id),
        question=cards.quote(question.text, 2000),
    )
    return Outcome(form=_text_form(ctx, ANSWER_FORM, "handoff.reply", intro, str(question.id)))


def submit_answer(ctx: Context, values: FormValues, metadata: str) -> Outcome:
    question = _question(ctx, metadata)
    handoff = ctx.session.get(Handoff, question.handoff_id) if question else None
    if question is None or handoff is None:
        return Outcome(errors={TEXT_FIELD: ctx.t("handoff.question_not_found")})
    text = _typed(ctx, values)
    if isinstance(text, Safe):
        return Outcome(errors={TEXT_FIELD: text})
    answer = handoffs.add_message(
        session=ctx.session,
        handoff=handoff,
        author=ctx.actor,
        kind=MessageKind.ANSWER,
        text=text,
        at=ctx.now,
        reply_to=question,
    )
    view = load_view(session=ctx.session, handoff=handoff)
    asker = _author(ctx, question)
    _send(
        ctx,
        f"{_key(handoff)}:answer:{answer.id}",
        "handoff.answer",
        asker.user_id,
        cards.answer_dm(ctx.translator_for(asker), view, question, answer),
    )
    return _reply(ctx.t("handoff.reply.sent", who=mention(asker.user_id)))


def _text_form(ctx: Context, callback_id: str, prefix: str, intro: Safe, metadata: str) -> Form:
    t = ctx.t
    field = FormField(
        TEXT_FIELD, t(f"{prefix}.label"), FieldKind.MULTILINE, hint=t(f"{prefix}.hint")
    )
    return Form(
        callback_id=callback_id,
        title=t(f"{prefix}.title"),
        submit=t(f"{prefix}.submit"),
        fields=(field,),
        intro=intro,
        metadata=metadata,
    )


def _typed(ctx: Context, values: FormValues) -> str | Safe:
    text = (values.get(TEXT_FIELD) or "").strip()
    if not text:
        return ctx.t("handoff.error.required")
    if len(text) > TEXT_LIMIT:
        return ctx.t("handoff.error.too_long", limit=TEXT_LIMIT, length=len(text))
    return text


# ---- notifications --------------------------------------------------------------------------


def _announce_new(ctx: Context, view: HandoffView) -> None:
    """The CS owner's card, the channel announcement and the sales rep's confirmation."""
    key = _key(view.handoff)
    owner, rep = view.cs_owner, view.sales_rep
    _send(
        ctx,
        f"{key}:dm",
        "handoff.dm",
        owner.user_id,
        cards.card(ctx.translator_for(owner), view, buttons=True, now=ctx.now),
    )
    if ctx.handoff_channel:
        _send(
            ctx,
            f"{key}:channel",
            "handoff.announcement",
            ctx.handoff_channel,
            cards.announcement(_channel_translator(ctx), view),
        )
    _send(
        ctx,
        f"{key}:confirmation",
        "handoff.confirmation",
        rep.user_id,
        cards.confirmation(ctx.translator_for(rep), view, now=ctx.now),
    )


def _announce_accepted(ctx: Context, view: HandoffView) -> None:
    """The sales rep is told; the channel's announcement shows who accepted."""
    key = _key(view.handoff)
    rep = view.sales_rep
    _send(
        ctx,
        f"{key}:accepted",
        "handoff.accepted",
        rep.user_id,
        cards.accepted_notice(ctx.translator_for(rep), view),
    )
    _update_if_sent(ctx, f"{key}:channel", cards.announcement(_channel_translator(ctx), view))


def _update_if_sent(ctx: Context, original_key: str, message: Message) -> None:
    """Edits a message this handoff sent earlier in place (`<key>:accepted`); handoffs made
    before the bot had a card for them (the demo's, an import's) have nothing to edit."""
    original = outbox.get_by_key(session=ctx.session, key=original_key)
    if original is not None:
        _send(
            ctx,
            f"{original_key}:accepted",
            original.kind,
            original.recipient,
            message,
            update_of=original.key,
        )


def _send(
    ctx: Context,
    key: str,
    kind: str,
    recipient: str,
    message: Message,
    update_of: str | None = None,
) -> None:
    outbox.enqueue(
        session=ctx.session,
        key=key,
        kind=kind,
        recipient=recipient,
        payload=message_to_json(message),
        at=ctx.now,
        update_of=update_of,
        platform=ctx.directory.platform,
    )


def _channel_translator(ctx: Context) -> Translator:
    """Channels read the configured default language and zone, and are told the zone."""
    return Translator(ctx.default_locale, ctx.default_zone, zone_shown=True)


# ---- small lookups --------------------------------------------------------------------------


def _key(handoff: Handoff) -> str:
    return f"handoff:{handoff.id}"


def _handoff(ctx: Context, value: str) -> Handoff | None:
    row_id = _row_id(value)
    return ctx.session.get(Handoff, row_id) if row_id else None


def _question(ctx: Context, value: str) -> HandoffMessage | None:
    row_id = _row_id(value)
    message = ctx.session.get(HandoffMessage, row_id) if row_id else None
    return message if message and message.kind == MessageKind.QUESTION else None


def _row_id(value: str) -> int | None:
    """A button's or form's id, as this module wrote it (ASCII digits that fit an integer)."""
    return int(value) if re.fullmatch(r"[0-9]{1,9}", value) else None


def _author(ctx: Context, message: HandoffMessage) -> Person:
    person = ctx.session.get(Person, message.author_id)
    assert person is not None, "messages reference people"
    return person


def _reply(markup: str) -> Outcome:
    return Outcome(reply=Message.plain(markup))


SPEC = CommandSpec(
    name="handoff",
    run=run,
    actions={
        HandoffAction.ACCEPT: press_accept,
        HandoffAction.ASK: press_ask,
        HandoffAction.REPLY: press_reply,
    },
    forms={FORM_ID: submit_handoff, QUESTION_FORM: submit_question, ANSWER_FORM: submit_answer},
)
