"""an Idempotency-Key is kept on the notification it named, not in a table of its own

A send with a key wrote a second row (idempotency_records), whose foreign key PostgreSQL checked
by reading and locking the notification just written: measured, a fifth of the database's CPU
to write a batch of sends. The key and the request's hash are two columns of the notification now,
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

_CARRY_OVER = """
    UPDATE notifications SET idempotency_key = r.key, request_hash = r.request_hash
    FROM idempotency_records AS r
    WHERE r.notification_id = notifications.id AND notifications.idempotency_key IS NULL
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    # Each step commits on its own and finds itself done when run again after an interruption.
    with op.get_context().autocommit_block():
        # Nullable, no default: the table is not rewritten and its lock lasts a moment.
        op.execute(
            "ALTER TABLE notifications ADD COLUMN IF NOT EXISTS idempotency_key varchar(400), "
            "ADD COLUMN IF NOT EXISTS request_hash varchar(64)"
        )
        # CONCURRENTLY, as 0010's: sends and deliveries go on meanwhile.
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_INDEX}")  # left invalid by a build cut short
        op.create_index(
            _INDEX,
            "notifications",
            ["idempotency_key"],
            unique=True,
            postgresql_where=_WHERE,
            postgresql_concurrently=True,
        )
    # Then, in the migration's transaction, the keys: a replica of the version before still
    # writing keys to the old table waits on this lock until the table is gone (and then fails
    # those sends: upgrade replicas before they take keyed sends again), so none is lost between
    # the copy and the drop. Rows of notifications are locked only as their keys are copied.
    op.execute("LOCK TABLE idempotency_records IN SHARE ROW EXCLUSIVE MODE")
    op.execute(_CARRY_OVER)
    op.drop_table("idempotency_records")


def _upgrade_sqlite() -> None:
    # SQLite commits each ALTER at once: an upgrade cut short is run again from the start, so
    # each step checks whether it is done.
    inspector = sa.inspect(op.get_bind())
    columns = {column["name"] for column in inspector.get_columns("notifications")}
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        if "idempotency_key" not in columns:
            batch_op.add_column(sa.Column("idempotency_key", sa.String(length=400), nullable=True))
        if "request_hash" not in columns:
            batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
    if "idempotency_records" in inspector.get_table_names():
        op.execute(_CARRY_OVER)  # UPDATE … FROM (SQLite 3.33+): a join, not a scan per row
    op.create_index(
        _INDEX, "notifications", ["idempotency_key"], unique=True, sqlite_where=_WHERE, if_not_exists=True
    )
    op.drop_table("idempotency_records", if_exists=True)


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
