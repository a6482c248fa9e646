"""schemathesis over the published OpenAPI schema: whatever it sends, the server never answers 5xx.

Negative data cannot be made for operations without parameters (GET /healthz): Unsatisfiable there is fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.conftest import AUTH
from tests.live_server import live_server

pytestmark = pytest.mark.slow


def test_no_generated_request_makes_the_server_fail(tmp_path: Path) -> None:
    with live_server(tmp_path) as base:
        schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8, [op.label for op in operations]
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(operation, mode)


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH, checks=[not_a_server_error])

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request could be generated"
    except Exception as exc:
        pytest.fail(f"{operation.label} ({mode.value} data): {exc}", pytrace=False)
