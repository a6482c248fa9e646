"""JSON log lines: their fields, the ids bound around them, and tracebacks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from appliance.observability.context import bound
from appliance.observability.logs import LogFormat
from tests.log_capture import captured_logs, json_lines

log = logging.getLogger("appliance.test")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    with captured_logs("INFO", LogFormat.JSON) as stream:
        yield stream


def test_a_line_names_the_ids_bound_around_it_and_only_while_they_are(output: io.StringIO) -> None:
    with bound(request_id="r-1", campaign_id=None):
        with bound(delivery_id="d-1", notification_id="n-1"):
            log.info("inner %s", "one")
        log.warning("outer")
    log.info("after")

    inner, outer, after = json_lines(output)
    assert inner["message"] == "inner one" and inner["logger"] == "appliance.test"
    assert (inner["request_id"], inner["delivery_id"], inner["notification_id"]) == ("r-1", "d-1", "n-1")
    assert "campaign_id" not in inner  # None is left out, not written as null
    assert outer["level"] == "WARNING" and outer["request_id"] == "r-1" and "delivery_id" not in outer
    assert set(after) == {"time", "level", "logger", "message"}
    assert after["time"].endswith("+00:00")


def test_a_traceback_stays_inside_its_one_line(output: io.StringIO) -> None:
    try:
        raise RuntimeError("provider exploded\nacross lines")
    except RuntimeError:
        log.exception("send failed")

    (line,) = json_lines(output)
    assert line["message"] == "send failed"
    assert "Traceback" in line["error"] and "RuntimeError: provider exploded" in line["error"]


def test_text_lines_keep_the_familiar_shape() -> None:
    with captured_logs("INFO", LogFormat.TEXT) as stream:
        log.info("delivery 1 sms -> sent")
    assert stream.getvalue().rstrip().endswith(" INFO appliance.test: delivery 1 sms -> sent")
