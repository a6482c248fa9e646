"""Segments: named rules, declared in the YAML (read-only) or stored through the API, and the
recipients they select. The campaign engine asks `segment_rules` and compiles them with `matches`.

A YAML segment hides a stored one with the same key: the file is what the operator reviews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import ClarionConfig
from ..db.models import Recipient, Segment
from ..errors import NotFound, RequestRejected
from .segment_rules import InvalidRules, Rules, SegmentDefinition, parse_rules
from .segment_sql import matches

__all__ = [
    "Audience",
    "DefinedInConfig",
    "InvalidRules",
    "NamedSegment",
    "Rules",
    "SegmentSource",
    "audience",
    "delete_segment",
    "find_segment",
    "list_segments",
    "matches",
    "parse_rules",
    "save_segment",
    "segment_rules",
]

SAMPLE_SIZE = 10


class SegmentSource(StrEnum):
    CONFIG = "config"  # declared in the YAML; change it there
    API = "api"  # stored in the database, through the API or the UI


@dataclass(frozen=True)
class NamedSegment:
    key: str
    name: str
    rules: Rules
    source: SegmentSource
    created_at: datetime | None = None  # stored segments only
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Audience:
    count: int
    sample: list[str]  # the first external ids, in order


class DefinedInConfig(RequestRejected):
    status_code = 409
    title = "Conflict"

    def __init__(self, key: str) -> None:
        super().__init__(
            "key", f"segment {key!r} is defined in the config file; change it there, under `segments`"
        )


async def segment_rules(session: AsyncSession, config: ClarionConfig, key: str) -> Rules | None:
    """The rules of segment `key`, from the YAML first, then the database; None if there is none."""
    found = await find_segment(session, config, key)
    return found.rules if found else None


async def find_segment(session: AsyncSession, config: ClarionConfig, key: str) -> NamedSegment | None:
    declared = config.segments.get(key)
    if declared is not None:
        return _configured(key, declared)
    row = await session.get(Segment, key)
    return _stored(row) if row is not None else None


async def list_segments(session: AsyncSession, config: ClarionConfig) -> list[NamedSegment]:
    """The YAML's segments in file order, then the stored ones by key."""
    declared = [_configured(key, spec) for key, spec in config.segments.items()]
    rows = await session.scalars(
        select(Segment).where(Segment.key.not_in(config.segments)).order_by(Segment.key)
    )
    return declared + [_stored(row) for row in rows]


async def save_segment(
    session: AsyncSession, config: ClarionConfig, key: str, *, name: str, rules: Rules
) -> bool:
    """Create or replace a stored segment; True when it is new."""
    if key in config.segments:
        raise DefinedInConfig(key)
    row = await session.get(Segment, key)
    if row is None:
        session.add(Segment(key=key, name=name, rules=rules.to_json()))
        return True
    row.name, row.rules = name, rules.to_json()
    return False


async def delete_segment(session: AsyncSession, config: ClarionConfig, key: str) -> None:
    if key in config.segments:
        raise DefinedInConfig(key)
    row = await session.get(Segment, key)
    if row is None:
        raise NotFound("segment", key)
    await session.delete(row)


async def audience(
    session: AsyncSession, rules: Rules, *, now: datetime | None = None, sample: int = SAMPLE_SIZE
) -> Audience:
    """How many recipients `rules` select now, and the first few of them by external id."""
    condition = matches(rules, now=now)
    count = await session.scalar(select(func.count()).select_from(Recipient).where(condition))
    first = await session.scalars(
        select(Recipient.external_id).where(condition).order_by(Recipient.external_id).limit(sample)
    )
    return Audience(count=count or 0, sample=list(first))


def _configured(key: str, declared: SegmentDefinition) -> NamedSegment:
    return NamedSegment(key, declared.name or key, declared.rules, SegmentSource.CONFIG)


def _stored(row: Segment) -> NamedSegment:
    rules = parse_rules(row.rules, at=f"segments.{row.key}.rules")
    return NamedSegment(
        row.key, row.name or row.key, rules, SegmentSource.API, row.created_at, row.updated_at
    )
