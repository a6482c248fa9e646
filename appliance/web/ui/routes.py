"""Wiring for the operator UI: its routes, and the app-level options it needs (templates).

Sessions and CSRF protection are router middleware on `/ui` only: the bearer-token API,
the probes and the schema stay cookie-free and need no CSRF token.
"""

from __future__ import annotations

from typing import Any

from litestar import Router, get
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from ...catalog import Catalog
from ...paths import UI_DIR
from .auth import UI_PATH, operator_guard, ui_middleware
from .campaigns import CAMPAIGN_PAGES
from .configuration import CONFIG_PAGES
from .dashboard import DASHBOARD_PAGES
from .errors import ui_exception_handlers
from .exports import EXPORT_PAGES
from .imports import IMPORT_PAGES
from .inbox import INBOX_PAGES
from .operations import OPERATION_PAGES
from .pages import PAGES
from .recipients import RECIPIENT_PAGES
from .segments import SEGMENT_PAGES
from .sign_in import SIGN_IN_PAGES
from .templates_pages import TEMPLATE_PAGES

# Emails are shown in `<iframe sandbox srcdoc>`, which inherits this policy: their inline
# styles and images must still load, their scripts never run, and the page runs no inline script.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; font-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; object-src 'none'; frame-ancestors 'self'"
)
_SECURITY_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=_CSP),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="Cache-Control", value="no-store"),  # pages show personal data
]


@get("/", include_in_schema=False)
async def root() -> Redirect:
    return Redirect(f"{UI_PATH}/")


def ui_router(catalog: Catalog) -> Router:
    """`/` -> `/ui/`; the pages under `/ui` (signed-in operators only); their assets under `/ui/static`;
    the inbox widget under `/widget`."""
    pages = Router(
        path=UI_PATH,
        route_handlers=[
            *SIGN_IN_PAGES,
            *PAGES,
            *DASHBOARD_PAGES,
            *EXPORT_PAGES,
            *CAMPAIGN_PAGES,
            *SEGMENT_PAGES,
            *TEMPLATE_PAGES,
            *RECIPIENT_PAGES,
            *IMPORT_PAGES,
            *OPERATION_PAGES,
            *CONFIG_PAGES,
            *INBOX_PAGES,
        ],
        guards=[operator_guard(catalog)],
        middleware=ui_middleware(catalog),
        exception_handlers=ui_exception_handlers(catalog),
        response_headers=_SECURITY_HEADERS,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=f"{UI_PATH}/static",
        directories=[UI_DIR / "static"],
        name="ui:static",
        cache_control=CacheControlHeader(max_age=3600, public=True),
        include_in_schema=False,
    )
    # The bell widget, for the operator's own sites: a stable public path, apart from the UI's.
    widget = create_static_files_router(
        path="/widget",
        directories=[UI_DIR / "widget"],
        name="widget",
        cache_control=CacheControlHeader(max_age=300, public=True),
        include_in_schema=False,
    )
    return Router(path="/", route_handlers=[root, pages, static, widget], include_in_schema=False)


def ui_plugins(catalog: Catalog) -> list[Any]:
    return []


def ui_app_options(catalog: Catalog) -> dict[str, Any]:
    """Keyword arguments for `Litestar(...)` that only the app level can take."""
    return {"template_config": TemplateConfig(directory=UI_DIR / "templates", engine=JinjaTemplateEngine)}
