"""Shared by the handoff tests: a valid form, and what a hostile person might type in it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, func, select

from commands.ui import FormValues
from storage.accounts import Account
from storage.audit import AuditEntry
from storage.handoffs import Contact, Handoff, HandoffMessage
from storage.outbox import OutboxMessage
from storage.promises import Promise
from tests.slack_text import slack

CHANNEL = "C0HANDOFF"

HOSTILE = "<!channel> <@U0001> '; DROP TABLE handoffs; -- \x07 ＡＣＭＥ全角 🎉 & co"


def form_values(**changes: str | None) -> FormValues:
    """A handoff of a new customer, Initech, from kenji (USALES) to aiko (UCS)."""
    values: FormValues = {
        "account": "Initech K.K.",
        "cs_owner": "UCS",
        "touch_model": "high",
        "plan": "Enterprise, 200 seats",
        "amount": "1200000",
        "currency": "JPY",
        "contract_start": "2026-12-01",
        "renewal_date": "2027-11-30",
        "goals": "Cut onboarding from 3 months to 1, measured by active seats",
        "problems": "SSO failed in the trial",
        "contacts": "Tanaka Yuki, CTO, tanaka@example.co.jp\nSato Ken, PM, sato@example.co.jp",
        "promises": "Monthly usage report every month\nAdmin training by 2026-12-10",
        "risks": "A competitor is also in the trial",
    }
    values.update(changes)
    return values


def counts(engine: Engine) -> dict[str, int]:
    """Rows in every table a handoff writes to: a refused change leaves them all as they were
    (the audit trail only notes the refusal itself)."""
    tables: list[type[SQLModel]] = [
        Account,
        Handoff,
        Contact,
        Promise,
        HandoffMessage,
        OutboxMessage,
    ]
    with Session(engine) as session:
        found = {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in tables
        }
        changes = select(func.count()).where(AuditEntry.entity != "permission")
        found["AuditEntry"] = session.exec(changes.select_from(AuditEntry)).one()
    return found


def refusals(engine: Engine) -> list[dict[str, object]]:
    """What the audit trail noted of refused attempts."""
    with Session(engine) as session:
        query = select(AuditEntry).where(AuditEntry.entity == "permission")
        return [entry.changes for entry in session.exec(query).all()]


def outbox_rows(engine: Engine) -> dict[str, OutboxMessage]:
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
        for row in rows:
            session.expunge(row)
    return {row.key: row for row in rows}


def texts(payload: dict[str, Any]) -> str:
    """Every text of a stored neutral message (outbox payload), joined, as Slack shows it."""
    parts = [str(payload.get("text") or "")]
    for block in payload.get("blocks") or []:
        parts.append(str(block.get("text") or ""))
        parts += [str(f) for f in block.get("fields") or []]
        parts += [str(b["label"]) for b in block.get("buttons") or []]
    return slack("\n".join(parts))
