"""campaigns: test, then send the winner, topic sends; tracking events flagged when automated

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("winner_test", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("winner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("tested_at", appliance.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_campaigns_idempotency_key"), ["idempotency_key"])
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automated", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.drop_column("automated")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_campaigns_idempotency_key"), type_="unique")
        batch_op.drop_column("request_hash")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("tested_at")
        batch_op.drop_column("winner")
        batch_op.drop_column("winner_test")
