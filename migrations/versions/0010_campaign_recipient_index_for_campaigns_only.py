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
_BUILDING = "uq_notifications_campaign_recipient_partial"
_COLUMNS = ["campaign_id", "recipient_id"]


def upgrade() -> None:
    where = sa.text("campaign_id IS NOT NULL")
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("notifications", schema=None) as batch_op:
            batch_op.drop_constraint(_NAME, type_="unique")
        op.create_index(_NAME, "notifications", _COLUMNS, unique=True, sqlite_where=where)
        return
    # Built CONCURRENTLY, outside the migration's transaction: a table that has had campaigns of
    # millions stays readable and writable meanwhile. Only then does the old constraint go (a
    # moment's lock), and the new index takes its name.
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_BUILDING}")  # left invalid by a build cut short
        op.create_index(
            _BUILDING,
            "notifications",
            _COLUMNS,
            unique=True,
            postgresql_where=where,
            postgresql_concurrently=True,
        )
    op.drop_constraint(_NAME, "notifications", type_="unique")
    op.execute(f"ALTER INDEX {_BUILDING} RENAME TO {_NAME}")


def downgrade() -> None:
    op.drop_index(_NAME, table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_unique_constraint(_NAME, _COLUMNS)
