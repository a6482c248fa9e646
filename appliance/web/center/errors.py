"""Links that cannot be honoured, answered with a page that says so and changes nothing.

Broken or forged: 400. Expired: 410. A category since removed or made mandatory: 404 with a
way to the full preference page. The recipient is not known here (or not trusted), so the
page speaks the browser's language.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from ...catalog import Catalog
from ...preferences.links import LinkProblem
from .access import CategoryGone
from .responses import page
from .views import notice_page

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,4}$")


def center_exception_handlers(catalog: Catalog) -> ExceptionHandlersMap:
    config = catalog.config

    def link_problem(request: Request[Any, Any, Any], exc: LinkProblem) -> Response[Any]:
        kind = "expired" if exc.expired else "invalid"
        view = notice_page(config, browser_locale(request), f"{kind}_title", f"{kind}_body")
        return page("notice.html", view, status_code=410 if exc.expired else 400)

    def category_gone(request: Request[Any, Any, Any], exc: CategoryGone) -> Response[Any]:
        manage = catalog.links.preferences_url(exc.recipient_id)
        view = notice_page(config, browser_locale(request), "gone_title", "gone_body", manage_url=manage)
        return page("notice.html", view, status_code=404)

    def bad_request(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        # e.g. a mangled query string: as far as the reader can tell, the link is broken.
        view = notice_page(config, browser_locale(request), "invalid_title", "invalid_body")
        return page("notice.html", view, status_code=exc.status_code)

    return {LinkProblem: link_problem, CategoryGone: category_gone, HTTPException: bad_request}


def browser_locale(request: Request[Any, Any, Any]) -> str | None:
    """The first language of Accept-Language (browsers list them by preference)."""
    first = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
    return first if _LANGUAGE_TAG.match(first) else None
