"""open promises by due date, with what the reminder sweep reads of them

Revision ID: 0008_open_promises_by_due_date
Revises: 0007_agenda_indexes
Create Date: 2026-11-22

Found by the benchmarks (bench/RESULTS.md): every sweep reads the open promises due by a few
days ahead (tens of thousands at 100,000 accounts); through `ix_promises_due_date` it also
visited every closed promise and the table row of each open one. A partial index over the open
ones that holds the columns the sweep needs answers from the index alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_open_promises_by_due_date"
down_revision: str | None = "0007_agenda_indexes"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index(
        "ix_promises_open_due",
        "promises",
        ["due_date", "account_id", "owner_id"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_promises_open_due", table_name="promises")
