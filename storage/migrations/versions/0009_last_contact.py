"""accounts.last_contact_at: the latest touch or handoff acceptance, kept by the database

Revision ID: 0009_last_contact
Revises: 0008_open_promises_by_due_date
Create Date: 2026-11-22

Found by the benchmarks (bench/RESULTS.md): silence (the reminder sweep, the agenda, the
portfolio) needed the latest touch and acceptance of every account it looked at, two index
probes per account, 85,000 accounts for the whole portfolio. Triggers keep the column in step on
every path that writes a touch or an acceptance (commands, imports, the demo data, the benchmark
generator's bulk load); touches and acceptances are never changed or removed once written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0009_last_contact"
down_revision: str | None = "0008_open_promises_by_due_date"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

BACKFILL = """
UPDATE accounts SET last_contact_at = (
    SELECT max(at) FROM (
        SELECT max(t.at) AS at FROM touches t WHERE t.account_id = accounts.id
        UNION ALL
        SELECT max(h.accepted_at) FROM handoffs h WHERE h.account_id = accounts.id
    ) AS contact
)
"""

# (trigger, table, event, the new contact's column). Raising only: a later write never lowers it.
TRIGGERS = [
    ("tr_touches_contact", "touches", "INSERT", "at"),
    ("tr_handoffs_accepted_contact", "handoffs", "INSERT", "accepted_at"),
    ("tr_handoffs_accept_contact", "handoffs", "UPDATE OF accepted_at", "accepted_at"),
]
RAISE = """UPDATE accounts SET last_contact_at = NEW.{column}
    WHERE id = NEW.account_id AND (last_contact_at IS NULL OR last_contact_at < NEW.{column});"""


def upgrade() -> None:
    op.add_column("accounts", sa.Column("last_contact_at", UTCDateTime(), nullable=True))
    op.execute(BACKFILL)
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, event, column in TRIGGERS:
        when = f"NEW.{column} IS NOT NULL"
        if postgresql:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {RAISE.format(column=column)} RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                f"WHEN {when} BEGIN {RAISE.format(column=column)} END"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, _event, _column in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_column("accounts", "last_contact_at")  # SQLite 3.35+ drops a column in place
