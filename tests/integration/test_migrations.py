"""The migrations produce exactly the models, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from appliance.db.engine import sync_url
from appliance.db.migrate import alembic_config, upgrade
from appliance.db.models import Base


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
