"""analytics: hourly delivery rollups, their watermark, and the indexes a refresh reads by

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:45:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("deliveries", "ix_deliveries_created_at", "created_at"),
    ("deliveries", "ix_deliveries_updated_at", "updated_at"),
    ("delivery_events", "ix_delivery_events_received_at", "received_at"),
    ("consent_events", "ix_consent_events_created_at", "created_at"),
)


def upgrade() -> None:
    op.create_table(
        "delivery_rollups",
        sa.Column("hour", appliance.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "category", "channel", "status", name=op.f("pk_delivery_rollups")),
    )
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("refreshed_at", appliance.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_watermarks")),
    )
    for table, name, column in _INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, [column], unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(_INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
    op.drop_table("rollup_watermarks")
    op.drop_table("delivery_rollups")
