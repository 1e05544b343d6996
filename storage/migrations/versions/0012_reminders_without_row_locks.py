"""reminders name their account and promise without foreign keys

Revision ID: 0012_reminders_without_row_locks
Revises: 0011_open_promises_with_ids
Create Date: 2026-11-22

Found by the benchmarks (bench/RESULTS.md): PostgreSQL checks a foreign key by locking the row
it points to (`FOR KEY SHARE`), which writes to that row's page. The first sweep over a large
import writes thousands of reminders, one per promise: their checks dirtied about as many pages
of `promises` and `accounts`, 25 MB of the sweep's 31 MB of WAL, and took 0.3-0.5 s of a 1.4-2 s
sweep. Reminders are a log of what was sent, written from the rows the sweep has just read, and
nothing deletes an account or a promise (churn is a stage, a closed promise stays), so these two
keys guarded nothing; the keys to people and handoffs stay.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_reminders_without_row_locks"
down_revision: str | None = "0011_open_promises_with_ids"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

KEYS = {"account_id": "accounts", "promise_id": "promises"}
# SQLite's keys have no names: the batch copy of the table names them this way to drop them,
# and copies the table alone, without reflecting the tables its keys point to.
NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s"}
ONLY = {"resolve_fks": False}


def _name(column: str, dialect: str) -> str:
    return f"reminders_{column}_fkey" if dialect == "postgresql" else f"fk_reminders_{column}"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("reminders", naming_convention=NAMES, reflect_kwargs=ONLY) as batch:
        for column in KEYS:
            batch.drop_constraint(_name(column, dialect), type_="foreignkey")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("reminders", naming_convention=NAMES, reflect_kwargs=ONLY) as batch:
        for column, table in KEYS.items():
            batch.create_foreign_key(_name(column, dialect), table, [column], ["id"])
