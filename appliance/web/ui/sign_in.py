"""Signing in and out, with failed attempts limited per username and per client address."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import timedelta

from litestar import get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from ..services import Services
from .auth import PUBLIC, check_credentials, safe_next
from .pages import AnyRequest, ServicesDep, Text, layout, page
from .views import LoginPage


@dataclass
class LoginForm:
    username: str = ""
    password: str = ""
    next: str = ""


@get("/login", name="ui:login", opt={PUBLIC: True})
async def login_form(request: AnyRequest, services: ServicesDep, next: Text = "") -> Template | Redirect:
    if request.state.operator is not None:
        return Redirect(safe_next(next))
    users = services.catalog.config.users
    return page(
        "login.html", LoginPage(layout(request, services), next=safe_next(next), has_users=bool(users))
    )


@post("/login", name="ui:login-submit", opt={PUBLIC: True})
async def login_submit(
    request: AnyRequest,
    services: ServicesDep,
    data: URLEncodedBody[LoginForm],
) -> Template | Redirect:
    users = services.catalog.config.users
    username = data.username[:255]
    address = request.client.host if request.client else "unknown"
    wait = await services.sign_ins.attempt(username, address)
    if wait is not None:
        return _locked_out(request, services, data, wait)
    # argon2 takes tens of milliseconds of CPU on purpose; keep the event loop free meanwhile.
    operator = await asyncio.to_thread(check_credentials, users, username, data.password[:1024])
    if operator is None:
        error = "That username and password do not match an operator in the config."
        return _login_again(request, services, data, error, status_code=401)
    await services.sign_ins.succeeded(operator.username)
    request.set_session({"operator": operator.username})
    return Redirect(safe_next(data.next), status_code=303)


def _locked_out(request: AnyRequest, services: Services, data: LoginForm, wait: timedelta) -> Template:
    seconds = math.ceil(wait.total_seconds())
    error = (
        f"Too many sign-in attempts for this account or from this address. Try again in {in_words(seconds)}."
    )
    return _login_again(
        request, services, data, error, status_code=429, headers={"Retry-After": str(seconds)}
    )


def _login_again(
    request: AnyRequest,
    services: Services,
    data: LoginForm,
    error: str,
    *,
    status_code: int,
    headers: dict[str, str] | None = None,
) -> Template:
    """The form again, with the username kept (never the password) and what went wrong."""
    view = LoginPage(
        layout(request, services),
        username=data.username[:255],
        next=safe_next(data.next),
        error=error,
        has_users=bool(services.catalog.config.users),
    )
    return page("login.html", view, status_code=status_code, headers=headers)


def in_words(seconds: int) -> str:
    """A wait as people say it: "40 seconds", "1 minute", "15 minutes" (rounded up)."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@post("/logout", name="ui:logout", opt={PUBLIC: True})
async def logout(request: AnyRequest) -> Redirect:
    request.clear_session()
    return Redirect("/ui/login", status_code=303)


SIGN_IN_PAGES = [login_form, login_submit, logout]
