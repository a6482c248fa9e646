"""Deployment settings read from the environment: the observability ones."""

from __future__ import annotations

import pytest

from appliance.observability.logs import LogFormat
from appliance.settings import Settings


def test_logs_are_text_unless_json_is_asked_for_and_metrics_are_open_by_default() -> None:
    default = Settings.from_env({})
    assert (default.log_format, default.metrics_token) == (LogFormat.TEXT, None)
    chosen = Settings.from_env({"CLARION_LOG_FORMAT": " JSON ", "CLARION_METRICS_TOKEN": "scrape-me"})
    assert (chosen.log_format, chosen.metrics_token) == (LogFormat.JSON, "scrape-me")


def test_an_unknown_log_format_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="CLARION_LOG_FORMAT must be text or json, not 'xml'"):
        Settings.from_env({"CLARION_LOG_FORMAT": "xml"})
