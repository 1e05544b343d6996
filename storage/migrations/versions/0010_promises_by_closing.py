"""promises by account and when they were closed, for a team's kept and broken promises

Revision ID: 0010_promises_by_closing
Revises: 0009_last_contact
Create Date: 2026-11-22

Found by the benchmarks (bench/RESULTS.md): a team's kept and broken promises of the last 90
days were looked up in the audit trail for every promise of the team's accounts (about 4,300 in
the benchmark). Only a promise closed since then (`closed_at`, set with its kept or broken
entry) or a recurring one with kept occurrences (`kept_count`) can have one; this index finds
those from the index alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_promises_by_closing"
down_revision: str | None = "0009_last_contact"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_promises_account_closed", "promises", ["account_id", "closed_at", "kept_count", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_promises_account_closed", table_name="promises")
