"""campaigns fan out in lanes; the frequency and provider-message indexes hold only rows that use them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:10:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARTIAL = (
    ("notifications", "ix_notifications_frequency", ["recipient_id", "category", "counted_at"], "counted_at"),
    ("deliveries", "ix_deliveries_provider_message_id", ["provider_message_id"], "provider_message_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lanes", sa.JSON(), nullable=True))
    # A campaign caught mid-fan-out carries on in one lane, from where its cursor was.
    campaigns = sa.table("campaigns", sa.column("id", sa.Uuid()), sa.column("cursor", sa.Uuid()))
    connection = op.get_bind()
    for campaign_id, cursor in connection.execute(
        sa.select(campaigns.c.id, campaigns.c.cursor).where(campaigns.c.cursor.is_not(None))
    ):
        connection.execute(
            sa.text("UPDATE campaigns SET lanes = :lanes WHERE id = :id").bindparams(
                sa.bindparam("lanes", {"0": cursor.hex}, type_=sa.JSON()),
                sa.bindparam("id", campaign_id, type_=sa.Uuid()),
            )
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("cursor")
    for table, name, columns, column in _PARTIAL:
        op.drop_index(name, table_name=table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, columns, unique=False, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    # The lanes' cursors cannot become one cursor: finish or cancel the campaigns that are
    # sending before downgrading (one mid-fan-out would start over and stop at a recipient it
    # already reached: the (campaign, recipient) constraint refuses the second notification).
    for table, name, columns, _ in _PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cursor", sa.Uuid(), nullable=True))
        batch_op.drop_column("lanes")
