"""Baseline B: a bare Litestar JSON endpoint doing one PostgreSQL insert per request.

    CLARION_DATABASE_URL=postgresql+psycopg://... uvicorn bench.baseline_app:app --port 9200

Same stack as Clarion's API (uvicorn, Litestar, SQLAlchemy async over psycopg, a pool of 10),
none of its work: what one process gets from an insert per request on this machine now.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, post
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_engine: AsyncEngine | None = None

_INSERT = text("INSERT INTO bench_items (id, body) VALUES (:id, CAST(:body AS jsonb))")


@post("/items", status_code=202)
async def create(data: dict[str, Any]) -> dict[str, str]:
    assert _engine is not None
    item_id = uuid.uuid4()
    async with _engine.begin() as connection:
        await connection.execute(_INSERT, {"id": item_id, "body": str(data).replace("'", '"')})
    return {"id": str(item_id)}


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    global _engine
    _engine = create_async_engine(os.environ["CLARION_DATABASE_URL"], pool_size=10, max_overflow=10)
    async with _engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS bench_items (id uuid PRIMARY KEY, body jsonb, created_at "
                "timestamptz NOT NULL DEFAULT now())"
            )
        )
    yield
    await _engine.dispose()


app = Litestar([create], lifespan=[lifespan])
