"""The audit trail: who changed what, and when, for every account, handoff, promise and role."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, Index, and_, insert, literal_column, text
from sqlmodel import Field, Session, SQLModel, col, select

from storage.types import UTCDateTime

CLOSURE_ACTIONS = ("kept", "kept_occurrence", "broken")
"""Actions of the entries about a promise kept or broken (`storage.promises.close` and
`keep_occurrence`)."""
_CLOSURE = "entity = 'promise' AND action IN ({})".format(
    ", ".join(f"'{action}'" for action in CLOSURE_ACTIONS)
)


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_entity", "entity", "entity_id"),
        # The promises kept and broken (what kept rates count) are a fifth of the trail: apart,
        # a team's are found promise by promise in a small index, without reading the entries.
        # Queries use it when they ask for `closures()` (the same condition, in constants);
        # `entity` comes last only so that the index holds every column such a query reads.
        Index(
            "ix_audit_entries_closures",
            "entity_id",
            "at",
            "action",
            "id",
            "entity",
            sqlite_where=text(_CLOSURE),
            postgresql_where=text(_CLOSURE),
        ),
        # Everyone's, by time, from the index alone (the portfolio's kept rate).
        Index("ix_audit_entries_action_at", "entity", "action", "at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    entity: str = Field(max_length=32)
    entity_id: int | None = Field(default=None)
    action: str = Field(max_length=32)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None)


def record(
    *,
    session: Session,
    actor: Any,
    at: datetime,
    entity: str,
    entity_id: int | None,
    action: str,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=at,
            actor_id=actor.id if actor is not None else None,
            entity=entity,
            entity_id=entity_id,
            action=action,
            changes=changes or {},
            note=note,
        )
    )


def record_many(
    *,
    session: Session,
    actor: Any,
    at: datetime,
    entity: str,
    entries: Iterable[tuple[int | None, str, dict[str, Any]]],
    note: str | None = None,
) -> None:
    """Many (entity id, action, changes) at once, as one bulk insert: an import of thousands
    of accounts is audited without building thousands of objects."""
    rows = [
        {
            "at": at,
            "actor_id": actor.id if actor is not None else None,
            "entity": entity,
            "entity_id": entity_id,
            "action": action,
            "changes": changes,
            "note": note,
        }
        for entity_id, action, changes in entries
    ]
    if rows:
        session.execute(insert(AuditEntry), rows)


def history(*, session: Session, entity: str, entity_id: int, limit: int = 20) -> list[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def closures() -> ColumnElement[bool]:
    """The entries about promises kept and broken, written with constants rather than
    parameters: a database uses a partial index only when it can see that the query asks for
    no more than the index holds."""
    actions: list[Any] = [literal_column(f"'{action}'") for action in CLOSURE_ACTIONS]
    return and_(
        col(AuditEntry.entity) == literal_column("'promise'"), col(AuditEntry.action).in_(actions)
    )
