"""one open reminder per person and subject

Revision ID: 0015_one_reminder_per_subject
Revises: 0014_crm_events
Create Date: 2026-12-03

Before this version a new occurrence (the weekly "overdue" of a promise, a renewal's next step)
was sent beside the earlier ones about the same subject, so a Home tab listed one subject once per
DM that named it. Now a new occurrence takes the earlier ones' place (`dropped`); this does the
same, once, for what earlier versions left open: per person and subject (kind, account, promise,
handoff), only the newest open reminder stays open.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_one_reminder_per_subject"
down_revision: str | None = "0014_crm_events"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_SAME_SUBJECT = " AND ".join(
    f"COALESCE(newer.{column}, 0) = COALESCE(reminders.{column}, 0)"
    for column in ("account_id", "promise_id", "handoff_id")
)


def upgrade() -> None:
    op.execute(
        "UPDATE reminders SET status = 'dropped'"
        " WHERE status IN ('sent', 'snoozed') AND EXISTS ("
        " SELECT 1 FROM reminders AS newer"
        " WHERE newer.person_id = reminders.person_id AND newer.kind = reminders.kind"
        f" AND {_SAME_SUBJECT}"
        " AND newer.status IN ('sent', 'snoozed') AND newer.id > reminders.id)"
    )


def downgrade() -> None:
    """Nothing to undo: the dropped copies named a subject another open reminder still names."""
