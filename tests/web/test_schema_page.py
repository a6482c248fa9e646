"""The API reference at /schema works on a machine with no internet access."""

from __future__ import annotations

import re

from tests.conftest import Stack


async def test_the_schema_page_loads_its_assets_from_the_appliance_itself(stack: Stack) -> None:
    page = await stack.client.get("/schema")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert len(assets) == 3
    for asset in assets:
        assert asset.startswith("/ui/static/vendor/swagger-ui/"), asset
        served = await stack.client.get(asset)
        assert served.status_code == 200 and len(served.content) > 1000


async def test_the_openapi_document_lists_the_api_and_its_bearer_auth(stack: Stack) -> None:
    spec = (await stack.client.get("/schema/openapi.json")).json()
    assert {"/v1/notifications", "/v1/notifications/batch", "/v1/providers"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
