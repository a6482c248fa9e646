"""Placeholder wiring for the operator UI; replaced by the UI module."""

from __future__ import annotations

from typing import Any

from litestar import Router

from ...catalog import Catalog


def ui_router(catalog: Catalog) -> Router:
    return Router(path="/ui", route_handlers=[])


def ui_plugins(catalog: Catalog) -> list[Any]:
    return []
