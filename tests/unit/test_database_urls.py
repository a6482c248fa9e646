"""Which databases are SQLite files: the pool, the migrations' folder and the scheduler's
leader lock all go by it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import make_url

from appliance.db.engine import sqlite_file
from appliance.scheduling.leadership import AlwaysLeader, FileLock, lock_for


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///var/clarion.db", "var/clarion.db"),
        ("sqlite+aiosqlite:////tmp/c.db", "/tmp/c.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://localhost/test", None),
    ],
)
def test_sqlite_file(url: str, file: str | None) -> None:
    assert sqlite_file(make_url(url)) == file


def test_an_sqlite_file_leads_by_a_lock_file_beside_it_and_memory_always_leads(tmp_path: Path) -> None:
    assert isinstance(lock_for(make_url(f"sqlite:///{tmp_path}/c.db")), FileLock)
    assert isinstance(lock_for(make_url("sqlite://")), AlwaysLeader)
