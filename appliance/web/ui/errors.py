"""How the UI answers errors: a sign-in redirect, or a page that says what happened and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from ...catalog import Catalog
from .auth import DEFAULT_NEXT, signed_in
from .views import Layout


@dataclass(frozen=True)
class ErrorPage:
    layout: Layout
    status_code: int
    title: str
    detail: str
    action_url: str
    action_label: str


_TITLES = {404: "Page not found", 403: "Not allowed for your role"}


def ui_exception_handlers(catalog: Catalog) -> ExceptionHandlersMap:
    def to_sign_in(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
        # Come back to the page asked for; a form post cannot be replayed, so it goes to the default page.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urlencode({"next": target}) if request.method == "GET" else ""
        return Redirect(f"/ui/login?{query}" if query else "/ui/login", status_code=303)

    def error_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        operator = signed_in(request, catalog)
        view = ErrorPage(
            layout=Layout(catalog.config.server.product_name, operator),
            status_code=exc.status_code,
            title=_TITLES.get(exc.status_code, "Something is not right"),
            detail=exc.detail,
            action_url=DEFAULT_NEXT if operator else "/ui/login",
            action_label="Back to the dashboard" if operator else "Sign in",
        )
        return Template(template_name="error.html", context={"page": view}, status_code=exc.status_code)

    def form_expired(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
        # Litestar's CSRF middleware raises this when a form's token is missing or stale.
        view = ErrorPage(
            layout=Layout(catalog.config.server.product_name, signed_in(request, catalog)),
            status_code=403,
            title="This form has expired",
            detail="For your safety the form could not be accepted. Go back, reload the page and try again.",
            action_url="/ui/login" if request.url.path.endswith("/login") else DEFAULT_NEXT,
            action_label="Reload and try again",
        )
        return Template(template_name="error.html", context={"page": view}, status_code=403)

    return {
        NotAuthorizedException: to_sign_in,
        PermissionDeniedException: form_expired,
        HTTPException: error_page,
    }
