"""The one place domain errors become HTTP: RFC 9457 problem+json naming the field at fault."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ExceptionHandlersMap

from ..errors import NotFound, RequestRejected
from ..pipeline.requests import msgspec_field

log = logging.getLogger(__name__)


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemDetailsException:
    extra: dict[str, Any] = {}
    if errors:
        extra = {"field": errors[0]["field"], "errors": errors}
    slug = title.lower().replace(" ", "-")
    return ProblemDetailsException(
        status_code=status,
        title=title,
        detail=detail,
        type_=f"urn:clarion:problem:{slug}",
        extra=extra or None,
        headers=headers,
    )


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def rejected_problem(exc: RequestRejected) -> ProblemDetailsException:
    return problem(exc.status_code, exc.title, exc.message, errors=[field_error(exc.field, exc.message)])


def rejected_body(exc: RequestRejected) -> dict[str, Any]:
    """The problem document alone, for answers that embed one per item (batch)."""
    response = rejected_problem(exc).to_response(None)  # type: ignore[arg-type]  # request is unused
    return dict(response.content)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        key, source = str(item.get("key") or ""), item.get("source")
        field, message = msgspec_field(str(item.get("message", "")), at=key if source == "body" else "")
        errors.append(field_error(field or key or "body", message))
    if not errors:
        errors.append(field_error("body", exc.detail))
    return problem(422, "Invalid request", errors[0]["message"], errors=errors).to_response(request)


def _rejected(request: Request[Any, Any, Any], exc: RequestRejected) -> Response[Any]:
    return rejected_problem(exc).to_response(request)


def _not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    return problem(404, "Not found", str(exc)).to_response(request)


def _unauthorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    return problem(
        401, "Unauthorized", exc.detail, headers={"WWW-Authenticate": 'Bearer realm="clarion"'}
    ).to_response(request)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    title = HTTPStatus(exc.status_code).phrase  # stable, so `type` is too; the detail carries the specifics
    return problem(exc.status_code, title, exc.detail, headers=exc.headers).to_response(request)


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # msgspec decodes nested JSON recursively: a body nested ~1,000 levels deep ends here.
    too_deep = "the JSON body is nested too deeply"
    return problem(400, "Bad Request", too_deep, errors=[field_error("body", too_deep)]).to_response(request)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the server failed; the error is logged").to_response(request)


PROBLEM_HANDLERS: ExceptionHandlersMap = {
    ValidationException: _validation,
    RequestRejected: _rejected,
    NotFound: _not_found,
    NotAuthorizedException: _unauthorized,
    ProblemDetailsException: lambda request, exc: exc.to_response(request),
    HTTPException: _http,
    RecursionError: _too_deep,
    Exception: _unexpected,
}
