"""indexes /account needs at scale: CRM ids ignoring case, the audit trail by entity, contacts
by handoff

Revision ID: 0005_lookup_indexes
Revises: 0004_sync
Create Date: 2026-11-22

Found by the benchmarks (bench/RESULTS.md): with 900,000 audit entries, the card's "latest
changes" scanned the whole audit trail for every `/account`, and looking a name up scanned every
account for a CRM id equal to it ignoring case.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_lookup_indexes"
down_revision: str | None = "0004_sync"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_entries_entity", "audit_entries", ["entity", "entity_id"])
    op.create_index(op.f("ix_contacts_handoff_id"), "contacts", ["handoff_id"])
    op.create_index("ix_accounts_external_id_lower", "accounts", [sa.text("lower(external_id)")])


def downgrade() -> None:
    op.drop_index("ix_accounts_external_id_lower", table_name="accounts")
    op.drop_index(op.f("ix_contacts_handoff_id"), table_name="contacts")
    op.drop_index("ix_audit_entries_entity", table_name="audit_entries")
