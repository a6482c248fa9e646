"""an Idempotency-Key is kept on the notification it named, not in a table of its own

A send with a key wrote a second row (idempotency_records), whose foreign key PostgreSQL checked
by reading and locking the notification just written: measured, a quarter of the database's CPU
for a batch of sends. The key and the request's hash are two columns of the notification now,
under a partial unique index (sends without a key write no entry). A key goes when its
notification goes, as it did by the cascade before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from appliance.db.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "uq_notifications_idempotency_key"
_WHERE = sa.text("idempotency_key IS NOT NULL")

# The keys not carried over yet: run twice on PostgreSQL, the second time for keys written while
# the index was built.
_CARRY_OVER = """
    UPDATE notifications SET idempotency_key = r.key, request_hash = r.request_hash
    FROM idempotency_records AS r
    WHERE r.notification_id = notifications.id AND notifications.idempotency_key IS NULL
"""
_CARRY_OVER_SQLITE = """
    UPDATE notifications SET
        idempotency_key = (SELECT r.key FROM idempotency_records AS r
                           WHERE r.notification_id = notifications.id),
        request_hash = (SELECT r.request_hash FROM idempotency_records AS r
                        WHERE r.notification_id = notifications.id)
    WHERE id IN (SELECT notification_id FROM idempotency_records)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("notifications", schema=None) as batch_op:
            batch_op.add_column(sa.Column("idempotency_key", sa.String(length=400), nullable=True))
            batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        op.execute(_CARRY_OVER_SQLITE)
        op.create_index(_INDEX, "notifications", ["idempotency_key"], unique=True, sqlite_where=_WHERE)
        op.drop_table("idempotency_records")
        return
    # The first part commits before the index is built: an upgrade cut short after that is run
    # again from here, so each step can find itself done already.
    op.execute(
        "ALTER TABLE notifications ADD COLUMN IF NOT EXISTS idempotency_key varchar(400), "
        "ADD COLUMN IF NOT EXISTS request_hash varchar(64)"
    )
    op.execute(_CARRY_OVER)
    # Built CONCURRENTLY, as 0010's: sends go on meanwhile (a replica of the version before
    # still writes its keys to the old table; the second pass below carries those over).
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_INDEX}")  # left invalid by a build cut short
        op.create_index(
            _INDEX,
            "notifications",
            ["idempotency_key"],
            unique=True,
            postgresql_where=_WHERE,
            postgresql_concurrently=True,
        )
    op.execute(_CARRY_OVER)
    op.drop_table("idempotency_records")


def downgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_idempotency_records_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_records")),
    )
    op.execute(
        "INSERT INTO idempotency_records (key, request_hash, notification_id, created_at) "
        "SELECT idempotency_key, request_hash, id, created_at FROM notifications "
        "WHERE idempotency_key IS NOT NULL"
    )
    op.drop_index(_INDEX, table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("request_hash")
        batch_op.drop_column("idempotency_key")
