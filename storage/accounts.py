"""Accounts: the customer companies."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Column, ColumnElement, Index, Numeric, and_, case, column, func, or_
from sqlmodel import Field, Session, SQLModel, col, select

from storage.types import UTCDateTime


class TouchModel(StrEnum):
    HIGH = "high"
    LOW = "low"
    TECH = "tech"


class Stage(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    AT_RISK = "at_risk"
    RENEWED = "renewed"
    CHURNED = "churned"


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    # CRM ids are also looked up ignoring case (`match`): without this, a scan of every account.
    # A CS team's live accounts are found from an index alone (the agenda, the portfolio).
    __table_args__ = (
        Index("ix_accounts_external_id_lower", func.lower(column("external_id"))),
        Index("ix_accounts_cs_owner_stage", "cs_owner_id", "stage", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    name_key: str = Field(max_length=200, index=True)
    """`name` folded for matching (`fold_name`); kept in step with `name`."""
    external_id: str | None = Field(default=None, max_length=100, unique=True)
    sales_owner_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    cs_owner_id: int | None = Field(default=None, foreign_key="people.id")
    touch_model: str = Field(default=TouchModel.LOW.value, max_length=8)
    plan: str | None = Field(default=None, max_length=500)
    arr: Decimal | None = Field(default=None, sa_column=Column(Numeric(16, 2)))
    currency: str = Field(default="USD", max_length=3)
    contract_start: date | None = None
    renewal_date: date | None = Field(default=None, index=True)
    stage: str = Field(default=Stage.ONBOARDING.value, max_length=16, index=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_contact_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    """The latest touch or handoff acceptance; kept by database triggers (migration
    0009_last_contact), never written here."""


def is_live() -> ColumnElement[bool]:
    """Accounts that have not churned: the ones reminders, renewals, silence and open promises
    are about."""
    return col(Account.stage) != Stage.CHURNED.value


def renewal_overdue(today: date) -> ColumnElement[bool]:
    """Live accounts whose renewal date has passed without a renewal (stage not `renewed`):
    reminders, agendas and portfolios show them until the stage or the date changes."""
    return and_(
        is_live(), col(Account.stage) != Stage.RENEWED.value, col(Account.renewal_date) < today
    )


# ---- silence: one rule for reminders, agendas, portfolios and cards --------------------------

ONE_DAY = timedelta(days=1)


def silent_since(created: datetime, contact: datetime | None) -> datetime:
    """The last sign of contact: the last touch or the handoff's acceptance, whichever is later
    (`Account.last_contact_at`); with neither, when the account was created (an imported
    account starts its clock then)."""
    return created if contact is None else max(created, contact)


def days_silent(since: datetime, now: datetime) -> int:
    """Whole days without contact: 24-hour days since the last sign of contact. The reminders'
    DM, the agenda, the portfolio and the sweep all count with this, so at one moment they say
    one number."""
    return (now - since) // ONE_DAY


def silent_cutoff(days: int, now: datetime) -> datetime:
    """A last contact at or before this instant is `days` days of silence or more by `now`
    (`days_silent`), for queries."""
    return now - timedelta(days=days)


# Legal-form words, after NFKC (so ㈱ is already "(株)" and full-width letters are ASCII) and case
# folding. Japanese forms are dropped wherever they stand (前株 and 後株); the Latin ones only at
# the end of the name, so "AB Foods" or "Co-op Mart" keep their first word.
_JAPANESE_FORMS = re.compile(
    r"株式会社|有限会社|合同会社|合資会社|合名会社|相互会社|有限責任事業組合"
    r"|(?:一般|公益)(?:社団|財団)法人|特定非営利活動法人|npo法人|社会福祉法人|学校法人"
    r"|医療法人(?:社団|財団)?|\((?:株|有|同|資|名|社|財)\)"
)
_LATIN_FORM_AT_END = re.compile(
    r"(?<![a-z0-9])(?:co\.?,?\s*ltd|inc|incorporated|llc|l\.l\.c|ltd|limited|corp|corporation|co"
    r"|company|gmbh|ag|plc|k\.\s?k|kk|kabushiki\s+kaisha|pte|pty|s\.a|sa|s\.r\.l|srl|ltda|bv|nv"
    r"|oy|ab|llp|lp)\.?[\s,.]*$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_WORD = re.compile(r"[\W_]+")
_HIRAGANA = {code: code + 0x60 for code in range(0x3041, 0x3097)}
"""ぁ..ゖ → ァ..ヶ: a name typed in hiragana finds the same name in katakana."""


def fold_name(name: str) -> str:
    """The matching key of a company name (PRODUCT §4): NFKC, case folding, hiragana as
    katakana, legal forms and punctuation dropped, so `ACME`, `株式会社ACME` and
    `Acme Co., Ltd.` all fold to `acme`. A name that is nothing but a legal form keeps it."""
    folded = unicodedata.normalize("NFKC", name).casefold().translate(_HIRAGANA)
    key = _JAPANESE_FORMS.sub(" ", folded).strip(" ,.")
    while (shorter := _LATIN_FORM_AT_END.sub("", key).strip(" ,.")) != key and shorter:
        key = shorter
    return _NOT_WORD.sub("", key) or _NOT_WORD.sub("", folded)


QUERY_LIMIT = 400
"""Longer than any name or CRM id: nothing can match, so nothing is searched."""


@dataclass(frozen=True)
class Match:
    """The result of looking an account up by what a person typed."""

    found: Account | None = None
    candidates: tuple[Account, ...] = ()
    """Several matched: listed, nothing changed."""
    suggestions: tuple[Account, ...] = ()
    """Nothing matched: up to three close names."""


def match(*, session: Session, query: str) -> Match:
    """By CRM id (exact), else by folded name; ambiguity and near misses are reported, not
    guessed."""
    query = _CONTROL.sub("", query).strip()  # PostgreSQL refuses NUL in a string
    if not query or len(query) > QUERY_LIMIT:
        return Match()
    by_id = _by_external_id(session, query)
    if by_id is not None:
        return Match(found=by_id)
    key = fold_name(query)
    same = list(
        session.exec(
            select(Account).where(Account.name_key == key).order_by(col(Account.name)).limit(10)
        ).all()
    )
    if len(same) == 1:
        return Match(found=same[0])
    exact = [a for a in same if _as_typed(a.name) == _as_typed(query)]
    if len(exact) == 1:  # the full name, as written, tells them apart
        return Match(found=exact[0])
    if same:
        return Match(candidates=tuple(same))
    return Match(suggestions=tuple(_close(session, key)))


def _as_typed(name: str) -> str:
    """A name as written, but for width, case and spacing: `株式会社ＡＣＭＥ` is `株式会社ACME`,
    `ACME Inc.` is not."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _by_external_id(session: Session, query: str) -> Account | None:
    """Exactly as stored, else ignoring case and full width (`crm-001`, `ＣＲＭ－００１`): one
    statement, the exact one first."""
    folded = unicodedata.normalize("NFKC", query).casefold()
    exact = col(Account.external_id) == query
    found = session.exec(
        select(Account)
        .where(or_(exact, func.lower(Account.external_id) == folded))
        .order_by(case((exact, 0), else_=1))
        .limit(3)
    ).all()
    if found and found[0].external_id == query:
        return found[0]
    return found[0] if len(found) == 1 else None


def _close(session: Session, key: str, limit: int = 3) -> list[Account]:
    # Names that contain what was typed come first, then spelling neighbours by difflib.
    prefix = (
        list(
            session.exec(
                select(Account)
                .where(col(Account.name_key).contains(key, autoescape=True))
                .order_by(col(Account.name))
                .limit(limit)
            ).all()
        )
        if key
        else []
    )
    if len(prefix) >= limit:
        return prefix
    keys = session.exec(select(Account.name_key).distinct()).all()
    near = difflib.get_close_matches(key, list(keys), n=limit, cutoff=0.6)
    seen = {a.id for a in prefix}
    for near_key in near:
        for account in session.exec(select(Account).where(Account.name_key == near_key)).all():
            if account.id not in seen and len(prefix) < limit:
                prefix.append(account)
                seen.add(account.id)
    return prefix
