"""platform identity: people, outbox and sync subscriptions name their chat platform

Revision ID: 0016_platform_identity
Revises: 0015_one_reminder_per_subject
Create Date: 2026-12-03

A person is (platform, platform user id) and a place to post names its platform, so a second
platform (Microsoft Teams) can sit beside Slack. Every row written before this version is Slack's
(the column default). Ids are widened to 255 characters: Teams ids (`29:…`, `19:…@thread.tacv2`,
Entra object ids) do not fit in 32. People and sync subscriptions keep what the platform needs to
reach them (`delivery_ref`, a Teams conversation reference; Slack leaves it null).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016_platform_identity"
down_revision: str | None = "0015_one_reminder_per_subject"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_SHORT = sqlmodel.sql.sqltypes.AutoString(length=32)
_WIDE = sqlmodel.sql.sqltypes.AutoString(length=255)
# SQLite reflects the old unnamed unique constraint of sync_subscriptions without a name; the
# convention names it so batch mode can drop it. PostgreSQL named it itself.
_CONVENTION = {"uq": "%(table_name)s_%(column_0_name)s_key"}


def _platform() -> sa.Column[str]:
    return sa.Column(
        "platform",
        sqlmodel.sql.sqltypes.AutoString(length=16),
        nullable=False,
        server_default="slack",
    )


def _widen(batch: object, column: str, *, nullable: bool, wide: bool = True) -> None:
    old, new = (_SHORT, _WIDE) if wide else (_WIDE, _SHORT)
    batch.alter_column(  # type: ignore[attr-defined]
        column, existing_type=old, type_=new, existing_nullable=nullable
    )


@contextmanager
def _foreign_keys_after_rebuild() -> Iterator[None]:
    """SQLite rebuilds `people` in batch mode, and dropping the old table would trip the keys
    that point at it. The keys are checked once the rebuilt table is in place instead: switched
    off when no transaction is open (the pragma is ignored inside one), deferred to the commit
    when one is. No key to people deletes in cascade, so the drop removes nothing else."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys = OFF")
        op.execute("PRAGMA defer_foreign_keys = ON")
    yield
    if sqlite:
        op.execute("PRAGMA foreign_keys = ON")
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").first()
        assert broken is None, f"a foreign key no longer holds: {tuple(broken)}"


def upgrade() -> None:
    with _foreign_keys_after_rebuild():
        _upgrade()


def _upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(_platform())
        batch.add_column(sa.Column("delivery_ref", sa.JSON(), nullable=True))
        _widen(batch, "user_id", nullable=False)
        batch.drop_index("ix_people_user_id")
        batch.create_index("ix_people_platform_user_id", ["platform", "user_id"], unique=True)
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(_platform())
        _widen(batch, "recipient", nullable=False)
        _widen(batch, "channel", nullable=True)
        _widen(batch, "ts", nullable=True)
    with op.batch_alter_table("sync_subscriptions", naming_convention=_CONVENTION) as batch:
        batch.add_column(_platform())
        batch.add_column(sa.Column("delivery_ref", sa.JSON(), nullable=True))
        _widen(batch, "channel_id", nullable=False)
        batch.drop_constraint("sync_subscriptions_channel_id_key", type_="unique")
        batch.create_unique_constraint(
            "uq_sync_subscriptions_platform_channel", ["platform", "channel_id"]
        )
    with op.batch_alter_table("crm_events") as batch:
        _widen(batch, "owner_user_id", nullable=True)


def downgrade() -> None:
    """Back to Slack only: rows of other platforms cannot be kept, so they are removed."""
    with _foreign_keys_after_rebuild():
        _downgrade()


def _downgrade() -> None:
    for table in ("outbox", "sync_subscriptions"):
        op.execute(f"DELETE FROM {table} WHERE platform <> 'slack'")
    with op.batch_alter_table("crm_events") as batch:
        _widen(batch, "owner_user_id", nullable=True, wide=False)
    with op.batch_alter_table("sync_subscriptions", naming_convention=_CONVENTION) as batch:
        batch.drop_constraint("uq_sync_subscriptions_platform_channel", type_="unique")
        batch.create_unique_constraint("sync_subscriptions_channel_id_key", ["channel_id"])
        _widen(batch, "channel_id", nullable=False, wide=False)
        batch.drop_column("delivery_ref")
        batch.drop_column("platform")
    with op.batch_alter_table("outbox") as batch:
        for column, nullable in (("recipient", False), ("channel", True), ("ts", True)):
            _widen(batch, column, nullable=nullable, wide=False)
        batch.drop_column("platform")
    with op.batch_alter_table("people") as batch:
        batch.drop_index("ix_people_platform_user_id")
        batch.create_index("ix_people_user_id", ["user_id"], unique=True)
        _widen(batch, "user_id", nullable=False, wide=False)
        batch.drop_column("delivery_ref")
        batch.drop_column("platform")
