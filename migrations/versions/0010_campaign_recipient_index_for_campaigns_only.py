"""the campaign-recipient uniqueness holds the rows of campaigns only

A notification sent through the API has no campaign, and its NULL was never held to be unique,
yet every one took an entry in the constraint's index: one index entry of ten per API send.
As a partial unique index the rule is the same for campaigns and sends write nothing there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "uq_notifications_campaign_recipient"
_COLUMNS = ["campaign_id", "recipient_id"]


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(_NAME, type_="unique")
    where = sa.text("campaign_id IS NOT NULL")
    op.create_index(_NAME, "notifications", _COLUMNS, unique=True, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_index(_NAME, table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_unique_constraint(_NAME, _COLUMNS)
