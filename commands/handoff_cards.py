"""What people see of a handoff: the CS owner's card, the channel announcement, the sales rep's
confirmation, and the question / answer DMs. Every text a person typed is escaped and clipped so
each block stays within the platform's room (`ui.Room`) however long it is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Session

from commands.i18n import Translator
from commands.markup import width
from commands.text import Safe, escape, mention
from commands.ui import (
    Actions,
    Block,
    Button,
    Divider,
    Header,
    Message,
    Note,
    Room,
    Section,
    Style,
)
from storage import handoffs
from storage.accounts import Account
from storage.handoffs import Contact, Handoff, HandoffMessage, HandoffStatus, MessageKind
from storage.people import Person
from storage.promises import Promise


class HandoffAction(StrEnum):
    ACCEPT = "handoff_accept"
    ASK = "handoff_ask"
    REPLY = "handoff_reply"


ON_CARD = "card"
"""Marks an Accept pressed on the CS owner's card itself: the card is replaced in place."""


@dataclass(frozen=True)
class HandoffView:
    """A handoff with everything its messages show, loaded once."""

    handoff: Handoff
    account: Account
    sales_rep: Person
    cs_owner: Person
    accepted_by: Person | None
    contacts: list[Contact]
    promises: list[Promise]
    thread: list[HandoffMessage]
    authors: dict[int, str]
    """Person id → the platform's user id of everyone in the thread."""

    @property
    def number(self) -> str:
        return f"H-{self.handoff.id}"


def load_view(*, session: Session, handoff: Handoff) -> HandoffView:
    def person(person_id: int | None) -> Person:
        found = session.get(Person, person_id)
        assert found is not None, "handoffs reference people"
        return found

    account = session.get(Account, handoff.account_id)
    assert account is not None, "handoffs reference accounts"
    thread = handoffs.thread_of(session=session, handoff_id=handoff.id)
    return HandoffView(
        handoff=handoff,
        account=account,
        sales_rep=person(handoff.sales_rep_id),
        cs_owner=person(handoff.cs_owner_id),
        accepted_by=person(handoff.accepted_by_id) if handoff.accepted_by_id else None,
        contacts=handoffs.contacts_of(session=session, handoff_id=handoff.id),
        promises=handoffs.promises_of(session=session, handoff_id=handoff.id),
        thread=thread,
        authors={m.author_id: person(m.author_id).user_id for m in thread},
    )


# ---- the card -------------------------------------------------------------------------------


def card(t: Translator, view: HandoffView, *, buttons: bool, now: datetime, room: Room) -> Message:
    """The handoff card, as the CS owner gets it (buttons while it is pending)."""
    blocks: list[Block] = [
        Header(t("handoff.card.header", account=view.account.name)),
        Section(who_to_whom(t, view, "handoff.card.intro")),
        *details(t, view, today=now.astimezone(t.zone).date(), room=room),
        Note(status(t, view)),
    ]
    if buttons and view.handoff.status == HandoffStatus.PENDING.value:
        blocks.append(card_buttons(t, view.handoff))
    return Message(text=who_to_whom(t, view, "handoff.card.text"), blocks=tuple(blocks))


def card_buttons(t: Translator, handoff: Handoff) -> Actions:
    return Actions(
        (
            accept_button(t, handoff, on_card=True),
            Button(t("handoff.button.ask"), HandoffAction.ASK, str(handoff.id), opens_form=True),
        ),
        block_id=f"handoff_{handoff.id}",
    )


def accept_button(t: Translator, handoff: Handoff, *, on_card: bool) -> Button:
    """**Accept**; other messages (a manager's escalation) may carry it too, with on_card
    False, so the CS owner's card is then updated through the outbox."""
    value = f"{handoff.id}:{ON_CARD}" if on_card else str(handoff.id)
    return Button(t("handoff.button.accept"), HandoffAction.ACCEPT, value, Style.PRIMARY)


def who_to_whom(t: Translator, view: HandoffView, key: str) -> Safe:
    """`key` said of this handoff: who handed which account to whom."""
    return t(
        key,
        rep=mention(view.sales_rep.user_id),
        owner=mention(view.cs_owner.user_id),
        account=view.account.name,
        number=view.number,
    )


def status(t: Translator, view: HandoffView) -> Safe:
    if view.handoff.accepted_at is not None and view.accepted_by is not None:
        return t(
            "handoff.status.accepted",
            who=mention(view.accepted_by.user_id),
            when=t.datetime(view.handoff.accepted_at),
        )
    return t(
        "handoff.status.pending",
        owner=mention(view.cs_owner.user_id),
        when=t.datetime(view.handoff.created_at),
    )


def details(t: Translator, view: HandoffView, *, today: date, room: Room) -> list[Block]:
    """The facts: contract fields, goals, problems, contacts, promises, risks, questions."""
    handoff = view.handoff
    fields = contract_fields(t, view.account, today=today, room=room)
    blocks: list[Block] = [Section("", fields)]
    blocks += _text_section(room, t("handoff.section.goals"), handoff.goals)
    blocks += _text_section(room, t("handoff.section.problems"), handoff.problems)
    contacts = [contact_line(t, c) for c in view.contacts]
    blocks += _list_section(room, t, t("handoff.section.contacts"), contacts)
    promises = [promise_line(t, p) for p in view.promises]
    blocks += _list_section(room, t, t("handoff.section.promises"), promises)
    blocks += _text_section(room, t("handoff.section.risks"), handoff.risks)
    if view.thread:
        lines = [thread_line(t, m, view.authors[m.author_id]) for m in view.thread]
        blocks += [Divider(), *_list_section(room, t, t("handoff.section.thread"), lines)]
    return blocks


def contract_fields(t: Translator, account: Account, *, today: date, room: Room) -> tuple[str, ...]:
    renewal = account.renewal_date
    fields = [
        t("handoff.field.touch_model", value=t(f"handoff.touch.{account.touch_model}")),
        t("handoff.field.value", value=t.money(account.arr, account.currency)),
        t("handoff.field.start", value=_date(t, account.contract_start)),
        t(
            "handoff.field.renewal",
            value=_date(t, renewal),
            days=(renewal - today).days if renewal else 0,
        )
        if renewal
        else t("handoff.field.renewal_unknown"),
    ]
    if account.plan:
        fields.insert(
            1, t("handoff.field.plan", value=fit(account.plan, room.field - 100, room.measure))
        )
    return tuple(fields)


def contact_line(t: Translator, contact: Contact) -> Safe:
    return t(
        "handoff.contact.line",
        name=contact.name,
        role=contact.role or "—",
        email=contact.email or "—",
    )


def promise_line(t: Translator, promise: Promise) -> Safe:
    due = t("handoff.promise.due", date=t.date(promise.due_date)) if promise.due_date else ""
    every = t(f"handoff.promise.every.{promise.recurrence}") if promise.recurrence else ""
    return t(
        "handoff.promise.line", id=promise.id, text=promise.text, due=Safe(due), every=Safe(every)
    )


def thread_line(t: Translator, message: HandoffMessage, author_user_id: str) -> Safe:
    key = (
        "handoff.thread.answer" if message.kind == MessageKind.ANSWER else "handoff.thread.question"
    )
    return t(
        key, who=mention(author_user_id), when=t.datetime(message.at), text=fit(message.text, 1000)
    )


# ---- the other messages ---------------------------------------------------------------------


def announcement(t: Translator, view: HandoffView) -> Message:
    """The handoff channel's post (no buttons: accepting is the CS owner's or a manager's)."""
    account = view.account
    text = t(
        "handoff.announce",
        number=view.number,
        rep=mention(view.sales_rep.user_id),
        owner=mention(view.cs_owner.user_id),
        account=account.name,
        touch=t(f"handoff.touch.{account.touch_model}"),
        value=t.per_year(account.arr, account.currency),
        renewal=_date(t, account.renewal_date),
    )
    return Message(text=text, blocks=(Section(text), Note(status(t, view))))


def confirmation(t: Translator, view: HandoffView, *, now: datetime, room: Room) -> Message:
    """To the sales rep: what was sent, and what happens next."""
    text = t(
        "handoff.confirm",
        owner=mention(view.cs_owner.user_id),
        account=view.account.name,
        number=view.number,
    )
    today = now.astimezone(t.zone).date()
    facts = details(t, view, today=today, room=room)
    return Message(text=text, blocks=(Section(text), *facts, Note(status(t, view))))


def accepted_notice(t: Translator, view: HandoffView) -> Message:
    """To the sales rep, when the CS owner (or a manager) took the customer."""
    assert view.accepted_by is not None and view.handoff.accepted_at is not None
    return Message.plain(
        t(
            "handoff.accepted.rep",
            who=mention(view.accepted_by.user_id),
            account=view.account.name,
            number=view.number,
            when=t.datetime(view.handoff.accepted_at),
        )
    )


def question_dm(t: Translator, view: HandoffView, question: HandoffMessage, room: Room) -> Message:
    """To the sales rep: the question, with **Reply**."""
    head = _from_whom(t, view, "handoff.question.dm", question)
    return Message(
        text=head,
        blocks=(
            Section(head),
            Section(quote(question.text, room.section, room.measure)),
            Actions(
                (
                    Button(
                        t("handoff.button.reply"),
                        HandoffAction.REPLY,
                        str(question.id),
                        Style.PRIMARY,
                        opens_form=True,
                    ),
                )
            ),
        ),
    )


def answer_dm(
    t: Translator,
    view: HandoffView,
    question: HandoffMessage,
    answer: HandoffMessage,
    room: Room,
) -> Message:
    """To whoever asked: their question and the answer."""
    head = _from_whom(t, view, "handoff.answer.dm", answer)
    return Message(
        text=head,
        blocks=(
            Section(head),
            Section(quote(question.text, room.section // 3, room.measure)),
            Section(fit(answer.text, room.section, room.measure)),
        ),
    )


def _from_whom(t: Translator, view: HandoffView, key: str, message: HandoffMessage) -> Safe:
    """`key` said of a message in the handoff's thread: who wrote it, about which account."""
    who = mention(view.authors[message.author_id])
    return t(key, who=who, account=view.account.name, number=view.number)


# ---- fitting typed text into blocks ----------------------------------------------------------


def fit(raw: str, limit: int, measure: Callable[[str], int] = width) -> Safe:
    """Escaped, and at most `limit` characters once rendered (`measure`), ending with … when
    something was cut."""
    markup = escape(raw)
    if measure(markup) <= limit:
        return markup
    out: list[str] = []
    used = 0
    for char in raw:
        piece = escape(char)
        if used + measure(piece) > limit - 1:
            break
        out.append(piece)
        used += measure(piece)
    return Safe("".join(out) + "…")


def quote(raw: str, limit: int, measure: Callable[[str], int] = width) -> Safe:
    """A block quote of what someone wrote."""
    body = fit(raw, limit - 2 * raw.count("\n") - 2, measure)
    return Safe("\n".join(">" + line for line in body.split("\n")))


def fit_lines(t: Translator, lines: Sequence[str], room: Room, limit: int) -> Safe:
    """As many lines as fit, then "…and N more"."""
    reserve = room.measure(t("handoff.more", count=len(lines))) + 1
    shown: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if used + room.measure(line) + 1 > limit - (0 if last else reserve):
            shown.append(t("handoff.more", count=len(lines) - index))
            break
        shown.append(line)
        used += room.measure(line) + 1
    return Safe("\n".join(shown))


def _text_section(room: Room, title: str, raw: str | None) -> list[Block]:
    if not raw:
        return []
    limit = room.section - room.measure(title) - 1
    return [Section(Safe(f"{title}\n") + fit(raw, limit, room.measure))]


def _list_section(room: Room, t: Translator, title: str, lines: Sequence[str]) -> list[Block]:
    if not lines:
        return []
    limit = room.section - room.measure(title) - 1
    return [Section(Safe(f"{title}\n") + fit_lines(t, lines, room, limit))]


def _date(t: Translator, value: date | None) -> Safe:
    return t.date(value) if value else Safe("—")
