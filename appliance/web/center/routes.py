"""Wiring for the end-user pages: public (no guard, no session, no CSRF middleware), outside the
OpenAPI schema, and with their own error pages. Their stylesheet is served with the operator UI's
static files (`/ui/static/center.css`), which need no sign-in."""

from __future__ import annotations

from litestar import Router

from ...catalog import Catalog
from .errors import center_exception_handlers
from .pages import PAGES
from .tracking import TRACKING


def center_router(catalog: Catalog) -> Router:
    return Router(
        path="/",
        route_handlers=[*PAGES, *TRACKING],
        exception_handlers=center_exception_handlers(catalog),
        include_in_schema=False,
    )
