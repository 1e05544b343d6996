"""Handoffs from sales to CS, the customer's key contacts, and the questions asked about them."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, text, update
from sqlmodel import Field, Session, SQLModel, col, select

from storage import promises
from storage.accounts import Account, Stage, fold_name
from storage.audit import record
from storage.db import note_changed
from storage.people import Person
from storage.promises import Promise, Recurrence
from storage.types import UTCDateTime


class HandoffStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


class Handoff(SQLModel, table=True):
    """Shown to people as `H-<id>`."""

    __tablename__ = "handoffs"
    # One pending handoff per account, even when two are submitted at the same instant.
    __table_args__ = (
        Index(
            "uq_handoffs_one_pending",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # An account's acceptances (its time to accept) from the index alone.
        Index("ix_handoffs_account_accepted", "account_id", "accepted_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id")
    sales_rep_id: int = Field(foreign_key="people.id", index=True)
    cs_owner_id: int = Field(foreign_key="people.id", index=True)
    status: str = Field(default=HandoffStatus.PENDING.value, max_length=12, index=True)
    goals: str
    problems: str | None = None
    risks: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    accepted_by_id: int | None = Field(default=None, foreign_key="people.id")


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    handoff_id: int | None = Field(default=None, foreign_key="handoffs.id", index=True)
    name: str = Field(max_length=200)
    role: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)


class HandoffMessage(SQLModel, table=True):
    """A CS owner's question about a handoff, or the sales rep's reply."""

    __tablename__ = "handoff_messages"

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoffs.id", index=True)
    author_id: int = Field(foreign_key="people.id")
    kind: str = Field(max_length=8)
    """`question` or `answer`."""
    reply_to_id: int | None = Field(default=None, foreign_key="handoff_messages.id")
    text: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class MessageKind(StrEnum):
    QUESTION = "question"
    ANSWER = "answer"


@dataclass(frozen=True)
class AccountFacts:
    """What the handoff form says about the customer's contract."""

    name: str
    touch_model: str
    plan: str | None
    arr: Decimal | None
    currency: str
    contract_start: date
    renewal_date: date


@dataclass(frozen=True)
class NewContact:
    name: str
    role: str
    email: str


@dataclass(frozen=True)
class SalePromise:
    """A promise made during the sale, as written on the handoff form."""

    text: str
    due_date: date | None
    recurrence: Recurrence | None


@dataclass(frozen=True)
class HandoffNotes:
    """The facts the sales rep records for CS."""

    goals: str
    problems: str | None = None
    risks: str | None = None
    contacts: tuple[NewContact, ...] = ()
    promises: tuple[SalePromise, ...] = ()


def pending_for_account(*, session: Session, account_id: int | None) -> Handoff | None:
    query = select(Handoff).where(
        Handoff.account_id == account_id, Handoff.status == HandoffStatus.PENDING.value
    )
    return session.exec(query.order_by(col(Handoff.id))).first()


def latest_for_account(*, session: Session, account_id: int | None) -> Handoff | None:
    query = select(Handoff).where(Handoff.account_id == account_id)
    return session.exec(query.order_by(col(Handoff.id).desc())).first()


def hand_off(
    *,
    session: Session,
    account: Account | None,
    facts: AccountFacts,
    notes: HandoffNotes,
    sales_rep: Person,
    cs_owner: Person,
    at: datetime,
) -> Handoff:
    """In the caller's transaction: the account created or updated (stage onboarding), the
    handoff (pending), its contacts, one promise per line owned by the CS owner, and the audit
    trail of each."""
    account = _account_for_handoff(
        session=session,
        account=account,
        facts=facts,
        sales_rep=sales_rep,
        cs_owner=cs_owner,
        at=at,
    )
    handoff = Handoff(
        account_id=_id(account),
        sales_rep_id=_id(sales_rep),
        cs_owner_id=_id(cs_owner),
        goals=notes.goals,
        problems=notes.problems,
        risks=notes.risks,
        created_at=at,
    )
    session.add(handoff)
    session.flush()
    for contact in notes.contacts:
        session.add(Contact(account_id=_id(account), handoff_id=handoff.id, **asdict(contact)))
    record(
        session=session,
        actor=sales_rep,
        at=at,
        entity="handoff",
        entity_id=handoff.id,
        action="create",
        changes={
            "account_id": account.id,
            "cs_owner_id": cs_owner.id,
            "status": handoff.status,
            "contacts": len(notes.contacts),
            "promises": len(notes.promises),
        },
    )
    for line in notes.promises:
        promises.add(
            session=session,
            account_id=handoff.account_id,
            text=line.text,
            due_date=line.due_date,
            recurrence=line.recurrence,
            owner_id=handoff.cs_owner_id,
            promised_by_id=sales_rep.id,
            actor=sales_rep,
            at=at,
            source="handoff",
            handoff_id=handoff.id,
        )
    session.flush()
    return handoff


def accept(*, session: Session, handoff: Handoff, by: Person, at: datetime) -> bool:
    """False (nothing recorded) when it was already accepted: `handoff` then says by whom.
    A compare-and-set, so that of presses at the same moment only one accepts (on PostgreSQL
    the others wait for it, then find the handoff accepted)."""
    taken = session.execute(
        update(Handoff)
        .where(col(Handoff.id) == handoff.id, col(Handoff.status) == HandoffStatus.PENDING.value)
        .values(status=HandoffStatus.ACCEPTED.value, accepted_at=at, accepted_by_id=by.id)
    )
    session.refresh(handoff)  # as it is now, with whoever accepted it
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return False
    note_changed(session, handoff)
    record(
        session=session,
        actor=by,
        at=at,
        entity="handoff",
        entity_id=handoff.id,
        action="accept",
        changes={"status": [HandoffStatus.PENDING.value, handoff.status]},
    )
    session.flush()
    return True


def add_message(
    *,
    session: Session,
    handoff: Handoff,
    author: Person,
    kind: MessageKind,
    text: str,
    at: datetime,
    reply_to: HandoffMessage | None = None,
) -> HandoffMessage:
    """A question about the handoff, or an answer to one; kept on the handoff."""
    message = HandoffMessage(
        handoff_id=_id(handoff),
        author_id=_id(author),
        kind=kind.value,
        text=text,
        at=at,
        reply_to_id=reply_to.id if reply_to else None,
    )
    session.add(message)
    session.flush()
    record(
        session=session,
        actor=author,
        at=at,
        entity="handoff",
        entity_id=handoff.id,
        action=kind.value,
        changes={"message_id": message.id},
    )
    return message


def contacts_of(*, session: Session, handoff_id: int | None) -> list[Contact]:
    query = select(Contact).where(Contact.handoff_id == handoff_id).order_by(col(Contact.id))
    return list(session.exec(query).all())


def promises_of(*, session: Session, handoff_id: int | None) -> list[Promise]:
    query = select(Promise).where(Promise.handoff_id == handoff_id).order_by(col(Promise.id))
    return list(session.exec(query).all())


def thread_of(*, session: Session, handoff_id: int | None) -> list[HandoffMessage]:
    """Questions and answers, oldest first."""
    query = select(HandoffMessage).where(HandoffMessage.handoff_id == handoff_id)
    return list(session.exec(query.order_by(col(HandoffMessage.at), col(HandoffMessage.id))).all())


def _account_for_handoff(
    *,
    session: Session,
    account: Account | None,
    facts: AccountFacts,
    sales_rep: Person,
    cs_owner: Person,
    at: datetime,
) -> Account:
    values: dict[str, Any] = {
        "sales_owner_id": sales_rep.id,
        "cs_owner_id": cs_owner.id,
        "touch_model": facts.touch_model,
        "plan": facts.plan,
        "arr": facts.arr,
        "currency": facts.currency,
        "contract_start": facts.contract_start,
        "renewal_date": facts.renewal_date,
        "stage": Stage.ONBOARDING.value,
    }
    if account is None:
        _one_at_a_time(session, f"account:{fold_name(facts.name)}")
        if (taken := _account_named(session, facts.name)) is not None:
            raise AccountTaken(taken)
        account = Account(
            name=facts.name, name_key=fold_name(facts.name), created_at=at, updated_at=at, **values
        )
        session.add(account)
        session.flush()
        changes = {key: _plain(value) for key, value in {"name": facts.name, **values}.items()}
        action = "create"
    else:
        changes = {
            key: [_plain(getattr(account, key)), _plain(value)]
            for key, value in values.items()
            if _plain(getattr(account, key)) != _plain(value)
        }
        for key, value in values.items():
            setattr(account, key, value)
        account.updated_at = at
        session.add(account)
        action = "update"
    record(
        session=session,
        actor=sales_rep,
        at=at,
        entity="account",
        entity_id=account.id,
        action=action,
        changes=changes,
        note="handoff",
    )
    return account


class AccountTaken(Exception):
    """A handoff of a new account found an account of that name made by a handoff submitted
    at the same moment: it is not made twice."""

    def __init__(self, account: Account) -> None:
        super().__init__(account.name)
        self.account = account


def _one_at_a_time(session: Session, key: str) -> None:
    """Until the transaction ends, the other transactions that ask for `key` wait: on PostgreSQL
    an advisory lock; SQLite lets one transaction write at a time, and a write that changes
    nothing still takes the turn."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(key.encode()).digest()[:8]
        lock = int.from_bytes(digest, "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
    else:
        session.execute(update(Account).where(text("0 = 1")).values(name=Account.name))


def _account_named(session: Session, name: str) -> Account | None:
    query = select(Account).where(Account.name_key == fold_name(name))
    return session.exec(query.order_by(col(Account.id))).first()


def _plain(value: object) -> object:
    """A value as the audit trail's JSON keeps it."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 1200000.00 and 1200000 are the same amount
    return value


def _id(row: Account | Person | Handoff) -> int:
    assert row.id is not None, "flushed rows have ids"
    return row.id
