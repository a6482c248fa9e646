"""The migrations produce exactly the models, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    insert,
    inspect,
    select,
    text,
)

from appliance.db.engine import sync_url
from appliance.db.migrate import alembic_config, upgrade
from appliance.db.models import Base, Notification, Recipient
from appliance.db.types import UTCDateTime

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)

#: The table the keys were kept in until migration 0011.
KEYS_BEFORE_0011 = Table(
    "idempotency_records",
    MetaData(),
    Column("key", String(400), primary_key=True),
    Column("request_hash", String(64)),
    Column("notification_id", Uuid),
    Column("created_at", UTCDateTime(timezone=True)),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def test_upgrading_creates_every_table_and_autogenerate_finds_nothing_left(database_url: str) -> None:
    upgrade(database_url)
    command.check(alembic_config(database_url))  # raises when models and migrations differ
    engine = create_engine(sync_url(database_url))
    try:
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_upgrading_twice_is_harmless(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)


def test_idempotency_keys_move_onto_their_notifications_and_back(database_url: str) -> None:
    """0011: a key used before the upgrade still names its notification after it, and after a
    downgrade again."""
    config = alembic_config(database_url)
    command.upgrade(config, "0010")
    engine = create_engine(sync_url(database_url))
    try:
        notification = _a_key_used_before_0011(engine)
        command.upgrade(config, "head")
        assert _keys_on_notifications(engine) == [("caller:k1", "h1")]

        command.downgrade(config, "0010")
        with engine.connect() as connection:
            kept = connection.execute(select(KEYS_BEFORE_0011)).one()
        assert tuple(kept) == ("caller:k1", "h1", notification, NOW)
    finally:
        engine.dispose()


def test_0011_run_again_after_its_columns_were_added_still_carries_the_keys_over(database_url: str) -> None:
    """An upgrade cut short after 0011's first step (SQLite commits each ALTER at once; on
    PostgreSQL the columns and the index commit before the keys move) goes through when run again."""
    config = alembic_config(database_url)
    command.upgrade(config, "0010")
    engine = create_engine(sync_url(database_url))
    try:
        _a_key_used_before_0011(engine)
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE notifications ADD COLUMN idempotency_key VARCHAR(400)"))
            connection.execute(text("ALTER TABLE notifications ADD COLUMN request_hash VARCHAR(64)"))
        command.upgrade(config, "head")
        assert _keys_on_notifications(engine) == [("caller:k1", "h1")]
    finally:
        engine.dispose()


def _a_key_used_before_0011(engine: Engine) -> uuid.UUID:
    """A recipient, a notification and the key it was sent with, in the tables of 0010."""
    recipient, notification = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(insert(Recipient), {"id": recipient, "external_id": "u1"})
        connection.execute(
            insert(Notification.__table__),
            {
                "id": notification,
                "recipient_id": recipient,
                "category": "updates",
                "template": "ping",
                "priority": "normal",
                "data": {},
                "source": "api",
                "created_at": NOW,
            },
        )
        connection.execute(
            insert(KEYS_BEFORE_0011),
            {"key": "caller:k1", "request_hash": "h1", "notification_id": notification, "created_at": NOW},
        )
    return notification


def _keys_on_notifications(engine: Engine) -> list[tuple[str | None, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(select(Notification.idempotency_key, Notification.request_hash))
        return [tuple(row) for row in rows]
