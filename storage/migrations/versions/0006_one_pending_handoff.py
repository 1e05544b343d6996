"""one pending handoff per account, enforced by the database

Revision ID: 0006_one_pending_handoff
Revises: 0005_lookup_indexes
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_one_pending_handoff"
down_revision: str | None = "0005_lookup_indexes"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "uq_handoffs_one_pending",
        "handoffs",
        ["account_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("uq_handoffs_one_pending", table_name="handoffs")
