"""Shared fixtures: real PostgreSQL and Redis on 127.0.0.1, and Clarion stacks built on them.

Nothing is skipped: when a service the tests need is down, they fail and say how to start it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
import redis
from litestar.testing import AsyncTestClient

from appliance.catalog import Catalog, load_catalog
from appliance.db.engine import Database
from appliance.db.migrate import upgrade
from appliance.settings import Settings
from appliance.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "example.yaml"
PG_ADMIN_URL = os.environ.get("CLARION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CLARION_TEST_REDIS", "redis://127.0.0.1:6379/15")
API_KEY = "clarion-demo-key"
logging.getLogger("httpx").setLevel(logging.WARNING)
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: each worker starts one and the quick ones fill in beside it, instead of
    the slow ones coming last and leaving the other worker idle. (A stable sort: files stay whole.)"""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Start it "
            "(`make services` does) or point CLARION_TEST_PG at one.",
            pytrace=False,
        )
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc}). Start it (`make services` does) "
            "or point CLARION_TEST_REDIS at one.",
            pytrace=False,
        )
    return REDIS_URL


@pytest.fixture
def fresh_redis(redis_url: str) -> str:
    """The test Redis. Each stack uses its own key namespace, so nothing is flushed under others' feet."""
    return redis_url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"clarion_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'clarion.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A new, migrated database: the same storage tests over SQLite and PostgreSQL. (Modules
    that need something else define their own `database`.)"""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    upgrade(url)
    database = Database(url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def example_catalog() -> Catalog:
    return load_catalog(EXAMPLE_CONFIG, environ={})


@dataclass
class Stack:
    """A running Clarion: the API client, and the settings it was built with."""

    client: AsyncTestClient
    settings: Settings
    catalog: Catalog


@pytest.fixture(params=["embedded", "scaled"])
def stack_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same tests over SQLite + the in-process broker, and PostgreSQL + Redis."""
    if request.param == "embedded":
        return Settings(config_path=str(EXAMPLE_CONFIG), database_url=f"sqlite:///{tmp_path / 'clarion.db'}")
    database_url = request.getfixturevalue("pg_url")
    broker_url = request.getfixturevalue("fresh_redis")
    return Settings(
        config_path=str(EXAMPLE_CONFIG),
        database_url=database_url,
        broker_url=broker_url,
        redis_namespace=f"clarion-test-{uuid.uuid4().hex[:8]}",  # concurrent test runs must not share queues
    )


@pytest.fixture
async def stack(stack_settings: Settings, example_catalog: Catalog) -> AsyncIterator[Stack]:
    """The app with delivery workers: in-process for embedded, a worker in this process for scaled."""
    from appliance.queueing.runtime import WorkerRuntime

    app = create_app(stack_settings, example_catalog)
    worker = None
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        if not stack_settings.embedded:
            worker = WorkerRuntime(stack_settings, example_catalog).worker(threads=4)
            worker.start()
        try:
            yield Stack(client=client, settings=stack_settings, catalog=example_catalog)
        finally:
            if worker is not None:
                worker.stop()


@asynccontextmanager
async def serving(
    settings: Settings, catalog: Catalog, config: Path, *, threads: int = 2
) -> AsyncIterator[AsyncTestClient]:
    """The app over `config`; scaled, with a worker in this process (embedded runs its own)."""
    from appliance.queueing.runtime import WorkerRuntime

    settings = replace(settings, config_path=str(config))
    async with AsyncTestClient(app=create_app(settings, catalog)) as client:
        worker = None if settings.embedded else WorkerRuntime(settings, catalog).worker(threads=threads)
        if worker:
            worker.start()
        try:
            yield client
        finally:
            if worker:
                worker.stop()
