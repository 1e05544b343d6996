"""events from the CRMs, stored before they are worked on (PRODUCT §14)

Revision ID: 0014_crm_events
Revises: 0013_acknowledged_requests
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0014_crm_events"
down_revision: str | None = "0013_acknowledged_requests"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("deal", sa.JSON(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("owner_user_id", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("source", "event_id", name="uq_crm_events_source_event"),
    )
    op.create_index("ix_crm_events_due", "crm_events", ["status", "not_before"])
    op.create_index("ix_crm_events_offered", "crm_events", ["outcome", "escalated_at"])


def downgrade() -> None:
    op.drop_table("crm_events")
