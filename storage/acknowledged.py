"""Requests acknowledged to the chat platform and not yet answered.

Slack never sends a slash command or a button press twice, so what a request must do is written
here before it is acknowledged. The request's work marks its row done in the same transaction
(a compare-and-set: run twice, by a restart and a replica, it is done once), with the answer it
owes the person (work that changed nothing is not marked done: run again, it changes nothing
either); the row is answered once that answer went out. After a crash, or when the
answer met an error, the rows left are run or answered again (`bot.acknowledged`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, delete, update
from sqlmodel import Field, Session, SQLModel, col, select

from storage.types import UTCDateTime


class AcknowledgedRequest(SQLModel, table=True):
    __tablename__ = "acknowledged_requests"
    __table_args__ = (Index("ix_acknowledged_requests_unanswered", "answered_at", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    request: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """What running and answering it needs: kind, user, command or button, text, channel,
    `response_url`; never logged."""
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    answer: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """The answer owed, written with the work (`commands.ui.outcome_to_json`)."""
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = 0
    """Times it was taken up again after its first try."""


def record(
    *,
    session: Session,
    request: dict[str, Any],
    at: datetime,
    answer: dict[str, Any] | None = None,
) -> int:
    """Writes a request down; with `answer`, one whose work is already done (a form)."""
    row = AcknowledgedRequest(
        request=request, received_at=at, done_at=at if answer is not None else None, answer=answer
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def finish(*, session: Session, request_id: int, at: datetime, answer: dict[str, Any]) -> bool:
    """Marks the request done in the work's own transaction; False when it was done already
    (then the work must be rolled back). On PostgreSQL a second transaction waits here for the
    first and then finds the row done; on SQLite writers take turns."""
    done = session.execute(
        update(AcknowledgedRequest)
        .where(
            col(AcknowledgedRequest.id) == request_id, col(AcknowledgedRequest.done_at).is_(None)
        )
        .values(done_at=at, answer=answer)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def get(*, session: Session, request_id: int) -> AcknowledgedRequest | None:
    return session.get(AcknowledgedRequest, request_id)


def answered(*, session: Session, request_id: int, at: datetime) -> None:
    session.execute(
        update(AcknowledgedRequest)
        .where(col(AcknowledgedRequest.id) == request_id)
        .values(answered_at=at)
    )


def take_up_again(*, session: Session, request_id: int) -> int:
    """Counts one more try of a request left unanswered; the number of tries so far."""
    session.execute(
        update(AcknowledgedRequest)
        .where(col(AcknowledgedRequest.id) == request_id)
        .values(attempts=AcknowledgedRequest.attempts + 1)
    )
    tries = session.exec(
        select(AcknowledgedRequest.attempts).where(AcknowledgedRequest.id == request_id)
    ).one()
    return int(tries)


def unanswered(*, session: Session, received_before: datetime, limit: int) -> list[int]:
    """Requests received before the instant and not answered, oldest first."""
    return [
        int(request_id)
        for request_id in session.exec(
            select(AcknowledgedRequest.id)
            .where(
                col(AcknowledgedRequest.answered_at).is_(None),
                col(AcknowledgedRequest.received_at) < received_before,
            )
            .order_by(col(AcknowledgedRequest.id))
            .limit(limit)
        ).all()
        if request_id is not None
    ]


def forget_answered(*, session: Session, before: datetime) -> None:
    """Answered requests are kept a while (to see what happened), then removed."""
    session.execute(
        delete(AcknowledgedRequest).where(col(AcknowledgedRequest.answered_at) < before)
    )
