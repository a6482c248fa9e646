"""Run the Alembic migrations in `migrations/` against a database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from ..paths import MIGRATIONS_DIR
from .engine import sqlite_file, sync_url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url).render_as_string(hide_password=False))
    return config


def upgrade(url: str) -> None:
    _ensure_sqlite_directory(url)
    command.upgrade(alembic_config(url), "head")


def _ensure_sqlite_directory(url: str) -> None:
    path = sqlite_file(sync_url(url))
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
