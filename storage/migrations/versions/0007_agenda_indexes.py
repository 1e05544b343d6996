"""indexes the weekly agenda needs at scale: promises by account, status and due date; the
promises kept and broken apart from the rest of the audit trail; live accounts by CS owner;
acceptances by account

Revision ID: 0007_agenda_indexes
Revises: 0006_one_pending_handoff
Create Date: 2026-11-22

Found by benchmark 7 (bench/RESULTS.md): with 500,000 promises and 870,000 audit entries, a
team's agenda read every promise row of its accounts for the status and due date, every audit
entry of their promises for the action and time, and every account row for its stage; the
whole portfolio's kept rate read every audit entry of the last 90 days. Each new index starts
with the columns of the one it replaces, so lookups by those keep working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_agenda_indexes"
down_revision: str | None = "0006_one_pending_handoff"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# (table, old index, old columns, new index, new columns)
REPLACED = (
    (
        "promises",
        "ix_promises_account_id",
        ["account_id"],
        "ix_promises_account_status_due",
        ["account_id", "status", "due_date", "id"],
    ),
    (
        "accounts",
        "ix_accounts_cs_owner_id",
        ["cs_owner_id"],
        "ix_accounts_cs_owner_stage",
        ["cs_owner_id", "stage", "id"],
    ),
    (
        "handoffs",
        "ix_handoffs_account_id",
        ["account_id"],
        "ix_handoffs_account_accepted",
        ["account_id", "accepted_at", "created_at"],
    ),
)


# The audit entries of promises kept and broken, apart (as `storage.audit.closures()` asks),
# and every entry by action and time.
CLOSURE = sa.text("entity = 'promise' AND action IN ('kept', 'kept_occurrence', 'broken')")
CLOSURES = "ix_audit_entries_closures", ["entity_id", "at", "action", "id", "entity"]
ACTION_AT = "ix_audit_entries_action_at", ["entity", "action", "at", "id"]


def upgrade() -> None:
    for table, old, _, new, columns in REPLACED:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)
    name, columns = CLOSURES
    op.create_index(name, "audit_entries", columns, sqlite_where=CLOSURE, postgresql_where=CLOSURE)
    op.create_index(ACTION_AT[0], "audit_entries", ACTION_AT[1])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite plans from the statistics ANALYZE keeps (PostgreSQL keeps its own): without
        # them for the new indexes, it guessed a team's promises kept from the whole trail.
        for table in ("promises", "audit_entries", "accounts", "handoffs"):
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    op.drop_index(ACTION_AT[0], table_name="audit_entries")
    op.drop_index(CLOSURES[0], table_name="audit_entries")
    for table, old, columns, new, _ in REPLACED:
        op.create_index(old, table, columns)
        op.drop_index(new, table_name=table)
