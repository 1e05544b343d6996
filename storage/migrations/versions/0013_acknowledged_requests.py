"""acknowledged requests; who holds an outbox claim

Revision ID: 0013_acknowledged_requests
Revises: 0012_reminders_without_row_locks
Create Date: 2026-12-03

Slack never sends a slash command or a button press again: what an acknowledged request must
do is written down before the acknowledgement, so a restart finishes it. An outbox claim names
its process, so that start-up on SQLite takes over only the claims of processes that are gone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0013_acknowledged_requests"
down_revision: str | None = "0012_reminders_without_row_locks"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acknowledged_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_acknowledged_requests_unanswered",
        "acknowledged_requests",
        ["answered_at", "received_at"],
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
    op.drop_index("ix_acknowledged_requests_unanswered", table_name="acknowledged_requests")
    op.drop_table("acknowledged_requests")
