"""The suppression list over the API: list, add (manual), remove."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody, Parameter
from sqlalchemy import select

from ...db.models import MAX_ROW_ID, Suppression, SuppressionReason
from ...errors import NotFound
from ...pipeline import suppression
from ..services import ServicesDep

ChannelName = Annotated[str, msgspec.Meta(pattern=r"^(email|sms)$", description="email or sms")]


class SuppressionIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: ChannelName
    address: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    reason: SuppressionReason = SuppressionReason.MANUAL
    detail: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class SuppressionOut(msgspec.Struct):
    id: int
    channel: str
    address: str
    reason: str
    detail: str | None
    source: str
    created_at: datetime


class SuppressionsController(Controller):
    path = "/v1/suppressions"
    tags = ["suppressions"]

    @get("/", summary="Suppressed addresses, newest first")
    async def list_(
        self,
        services: ServicesDep,
        channel: Annotated[str | None, Parameter(pattern=r"^(email|sms)$")] = None,
        address: Annotated[str | None, Parameter(max_length=320)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        before: Annotated[
            int | None, Parameter(ge=1, le=MAX_ROW_ID, description="page: only entries with a smaller id")
        ] = None,
    ) -> list[SuppressionOut]:
        query = select(Suppression).order_by(Suppression.id.desc()).limit(limit)
        if channel:
            query = query.where(Suppression.channel == channel)
        if address:
            query = query.where(Suppression.address == suppression.normalize(channel or "email", address))
        if before:
            query = query.where(Suppression.id < before)
        async with services.database.sessions() as session:
            rows = await session.scalars(query)
            return [_out(row) for row in rows]

    @post("/", status_code=201, summary="Suppress an address (nothing more is sent to it)")
    async def add(self, services: ServicesDep, data: JSONBody[SuppressionIn]) -> Response[SuppressionOut]:
        async with services.database.transaction() as session:
            await suppression.suppress(
                session, data.channel, data.address, data.reason, detail=data.detail, source="api"
            )
            row = await session.scalar(
                select(Suppression).where(
                    Suppression.channel == data.channel,
                    Suppression.address == suppression.normalize(data.channel, data.address),
                )
            )
        return Response(_out(row), status_code=201)  # type: ignore[arg-type]

    @delete("/{channel:str}/{address:str}", status_code=204, summary="Allow an address again")
    async def remove(self, services: ServicesDep, channel: ChannelName, address: FromPath[str]) -> None:
        async with services.database.transaction() as session:
            if not await suppression.unsuppress(session, channel, address):
                raise NotFound("suppression", f"{channel}:{address}")


def _out(row: Suppression) -> SuppressionOut:
    return SuppressionOut(
        row.id, row.channel, row.address, row.reason, row.detail, row.source, row.created_at
    )
