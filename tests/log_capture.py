"""Logging as `clarion` configures it, into a string, with the root logger put back afterwards."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from appliance.observability.logs import LogFormat, configure_logging


@contextmanager
def captured_logs(level: str, log_format: LogFormat) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level, log_format, stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line parsed: each must be one JSON object."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]
