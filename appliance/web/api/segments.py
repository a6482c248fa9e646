"""Segments over the API: list, read, store, delete, and count who they select (a live preview)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post, put
from litestar.params import JSONBody, Parameter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ...audiences import segments
from ...audiences.segment_rules import NAME_PATTERN
from ...audiences.segments import InvalidRules, NamedSegment, Rules, parse_rules
from ...errors import NotFound
from ..problems import field_error, problem
from ..services import Services, ServicesDep

SegmentKey = Annotated[
    str,
    Parameter(
        pattern=r"^[a-z][a-z0-9_-]{0,62}$",
        description="1-63 lower-case letters, digits, _ or -, starting with a letter",
    ),
]
RulesBody = Annotated[dict[str, Any], msgspec.Meta(description="a condition or an {all|any: [...]} group")]


class SegmentIn(msgspec.Struct, forbid_unknown_fields=True):
    rules: RulesBody
    name: Annotated[str, msgspec.Meta(max_length=200, pattern=NAME_PATTERN)] = ""


class PreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    rules: RulesBody


class SegmentOut(msgspec.Struct):
    key: str
    name: str
    rules: dict[str, Any]
    source: str  # "config" (read-only, from the YAML) or "api"
    created_at: datetime | None
    updated_at: datetime | None


class AudienceOut(msgspec.Struct):
    count: int
    sample: list[str]  # up to 10 external ids, in order


class SegmentsController(Controller):
    path = "/v1/segments"
    tags = ["segments"]

    @get("/", summary="Segments: the YAML's (read-only), then the stored ones")
    async def list_(self, services: ServicesDep) -> list[SegmentOut]:
        async with services.database.sessions() as session:
            found = await segments.list_segments(session, services.catalog.config)
        return [_out(segment) for segment in found]

    @get("/{key:str}", summary="One segment")
    async def read(self, services: ServicesDep, key: SegmentKey) -> SegmentOut:
        async with services.database.sessions() as session:
            return _out(await _require(session, services, key))

    @put(
        "/{key:str}",
        summary="Create or replace a stored segment",
        description="Answers 201 when the segment is new, 200 when it was replaced, "
        "409 when the key belongs to a segment of the config file.",
    )
    async def save(
        self, services: ServicesDep, key: SegmentKey, data: JSONBody[SegmentIn]
    ) -> Response[SegmentOut]:
        rules = _parsed(data.rules)
        for attempt in range(2):
            try:
                async with services.database.transaction() as session:
                    created = await segments.save_segment(
                        session, services.catalog.config, key, name=data.name, rules=rules
                    )
                    await session.flush()
                    saved = await _require(session, services, key)
                return Response(_out(saved), status_code=201 if created else 200)
            except IntegrityError:
                if attempt:  # a concurrent PUT created it first: the second pass replaces it
                    raise
        raise AssertionError("unreachable")

    @delete("/{key:str}", status_code=204, summary="Delete a stored segment")
    async def remove(self, services: ServicesDep, key: SegmentKey) -> None:
        async with services.database.transaction() as session:
            await segments.delete_segment(session, services.catalog.config, key)

    @get("/{key:str}/count", summary="How many recipients the segment selects now, and the first ten")
    async def count(self, services: ServicesDep, key: SegmentKey) -> AudienceOut:
        async with services.database.sessions() as session:
            found = await _require(session, services, key)
            return _audience_out(await segments.audience(session, found.rules))

    @post("/preview", status_code=200, summary="Count the recipients some rules select, without saving them")
    async def preview(self, services: ServicesDep, data: JSONBody[PreviewIn]) -> AudienceOut:
        rules = _parsed(data.rules)
        async with services.database.sessions() as session:
            return _audience_out(await segments.audience(session, rules))


async def _require(session: AsyncSession, services: Services, key: str) -> NamedSegment:
    found = await segments.find_segment(session, services.catalog.config, key)
    if found is None:
        raise NotFound("segment", key)
    return found


def _parsed(raw: dict[str, Any]) -> Rules:
    """The rules, or a 422 naming every field at fault (the UI marks each row)."""
    try:
        return parse_rules(raw)
    except InvalidRules as exc:
        errors = [field_error(field, message) for field, message in exc.problems]
        raise problem(422, exc.title, exc.message, errors=errors) from None


def _out(segment: NamedSegment) -> SegmentOut:
    return SegmentOut(
        key=segment.key,
        name=segment.name,
        rules=segment.rules.to_json(),
        source=segment.source.value,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _audience_out(found: segments.Audience) -> AudienceOut:
    return AudienceOut(count=found.count, sample=found.sample)
