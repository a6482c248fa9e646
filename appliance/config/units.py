"""Rates ("100/s") and durations ("30s") as they are written in the YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*([smhdw])\s*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    """`count` events per `period_s` seconds."""

    count: int
    period_s: int
    text: str

    def __str__(self) -> str:
        return self.text


def parse_rate(value: Any) -> Rate:
    if isinstance(value, Rate):
        return value
    match = _RATE_RE.match(str(value))
    if not match or int(match.group(1)) == 0:
        raise ValueError(f'expected "<n>/<s|m|h|d|w>" with n > 0, got "{value}"')
    count, unit = int(match.group(1)), match.group(2)
    return Rate(count=count, period_s=_PERIOD_SECONDS[unit], text=f"{count}/{unit}")


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(f'expected a duration such as "500ms", "30s", "5m", "1h", got "{value}"')
    return timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


RateField = Annotated[Rate, BeforeValidator(parse_rate), PlainSerializer(str)]
DurationField = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
