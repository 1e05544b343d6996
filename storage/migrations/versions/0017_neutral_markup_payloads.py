"""neutral markup in stored messages: what earlier versions stored in Slack's mrkdwn

Revision ID: 0017_neutral_markup_payloads
Revises: 0016_platform_identity
Create Date: 2026-12-03

Messages waiting in the outbox and answers not yet given were stored by earlier versions in
Slack's mrkdwn (`<@U…>` mentions, `&lt;` escapes, `<url|label>` links). The adapters now render
the neutral markup of `commands.markup`, so those messages are rewritten in it: sent ones, and
answers already given, are history and stay as they were.
"""

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0017_neutral_markup_payloads"
down_revision: str | None = "0016_platform_identity"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# The markup's delimiters and typed literals as this revision knows them (commands.markup may
# change later; a migration keeps the values of its day).
_MENTION = re.compile(r"<@([UWB][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]*)>")
_TYPED = {"&lt;": "\ue014", "&gt;": "\ue015", "&amp;": "\ue016"}
_ENTITY = re.compile("|".join(_TYPED))


def neutral(mrkdwn: str) -> str:
    """One stored mrkdwn text in the neutral markup."""
    text = _MENTION.sub(lambda m: "\ue000" + m[1] + "\ue001", mrkdwn)
    text = _LINK.sub(lambda m: "\ue002" + m[1] + "\ue003" + m[2] + "\ue004", text)
    return _ENTITY.sub(lambda m: _TYPED[m[0]], text)


def _rewritten(value: Any) -> Any:
    if isinstance(value, str):
        return neutral(value)
    if isinstance(value, list):
        return [_rewritten(v) for v in value]
    if isinstance(value, dict):
        return {k: _rewritten(v) for k, v in value.items()}
    return value


def _rewrite(table: str, column: str, waiting: str) -> None:
    rows = sa.table(table, sa.column("id", sa.Integer), sa.column(column, sa.JSON))
    connection = op.get_bind()
    found = connection.execute(sa.select(rows.c.id, rows.c[column]).where(sa.text(waiting)))
    for row_id, value in found.all():
        if value is not None:
            connection.execute(
                rows.update().where(rows.c.id == row_id).values({column: _rewritten(value)})
            )


def upgrade() -> None:
    _rewrite("outbox", "payload", "status = 'pending'")
    _rewrite("acknowledged_requests", "answer", "answered_at IS NULL")


def downgrade() -> None:
    """The rewrite is not undone: earlier versions show a neutral mention as its id."""
