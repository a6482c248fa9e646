"""The configuration page: the YAML in force (secrets masked), whether the file on disk has
changed or broken since, and a reload that switches to it once it is valid.

An invalid file never replaces a running config: the page lists its problems by line and key
path, as `clarion config check` would, and everything keeps running on what was loaded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Template

from ...catalog import Catalog, load_catalog
from ...config.masking import masked_yaml
from ...errors import ConfigError
from ..services import Services, ServicesDep
from .auth import Operator, RoleForbids
from .pages import layout, page
from .views import Badge, Layout, Stamp, stamp

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True)
class DiskState:
    badge: Badge
    message: str
    problems: list[str] = field(default_factory=list)
    reloadable: bool = False  # changed and valid


@dataclass(frozen=True)
class ConfigPage:
    layout: Layout
    path: str
    loaded: Stamp
    counts: list[tuple[str, int]]
    yaml: str
    disk: DiskState
    may_reload: bool  # an admin, in a process that can reload itself
    done: str = ""  # "reloaded", shown once after a reload
    refusal: str = ""  # why a reload just asked for did not happen


@dataclass(frozen=True)
class ReloadingPage:
    layout: Layout
    next_url: str
    after_s: int = 2


async def _read_disk(catalog: Catalog) -> tuple[Catalog | None, DiskState]:
    """The file as it is now: the catalog it would give, and how it compares with what runs."""
    path = catalog.loaded.path
    try:
        fresh = await asyncio.to_thread(load_catalog, path, catalog.registry)
    except ConfigError as exc:
        problems = [str(problem) for problem in exc.problems]
        message = f"The file on disk has {len(problems)} problem(s); the config loaded before stays in force."
        return None, DiskState(Badge("invalid on disk", "bad"), message, problems)
    if fresh.loaded.text == catalog.loaded.text:
        return None, DiskState(Badge("in force", "ok"), "The file on disk is the one in force.")
    message = "The file on disk has changed since it was loaded, and it is valid. Reload to put it in force."
    return fresh, DiskState(Badge("changed on disk", "warn"), message, reloadable=True)


def _counts(catalog: Catalog) -> list[tuple[str, int]]:
    config = catalog.config
    return [
        ("Channels", len(config.channels)),
        ("Providers", len(config.providers)),
        ("Categories", len(config.categories)),
        ("Templates", len(config.templates)),
        ("Operators", len(config.users)),
        ("API keys", len(config.api_keys)),
    ]


def _is_admin(request: AnyRequest) -> bool:
    operator: Operator | None = getattr(request.state, "operator", None)
    return operator is not None and operator.role == "admin"


async def _page(
    request: AnyRequest,
    services: Services,
    *,
    done: str = "",
    disk: DiskState | None = None,
    refusal: str = "",
    status_code: int = 200,
) -> Template:
    """`disk`: the file as just read, when the caller has read it already."""
    catalog = services.catalog
    if disk is None:
        _, disk = await _read_disk(catalog)
    if disk.badge.tone != "ok":
        done = ""  # "reloaded" only once the file on disk is the one in force
    view = ConfigPage(
        layout=layout(request, services, "config"),
        path=str(catalog.loaded.path),
        loaded=stamp(catalog.loaded.read_at),
        counts=_counts(catalog),
        yaml=masked_yaml(catalog.loaded),
        disk=disk,
        may_reload=_is_admin(request) and services.reload is not None,
        done=done,
        refusal=refusal,
    )
    return page("config.html", view, status_code=status_code)


@get("/config", name="ui:config")
async def config_page(
    request: AnyRequest, services: ServicesDep, done: Annotated[str, Parameter(max_length=16)] = ""
) -> Template:
    return await _page(request, services, done="reloaded" if done == "reloaded" else "")


@post("/config/reload", name="ui:config-reload")
async def config_reload(request: AnyRequest, services: ServicesDep) -> Template:
    if not _is_admin(request):
        raise RoleForbids("Only an admin can reload the configuration.")
    fresh, disk = await _read_disk(services.catalog)
    if services.reload is None or fresh is None:
        status = 422 if disk.problems else 409
        return await _page(request, services, disk=disk, refusal=_refusal(services, disk), status_code=status)
    services.reload(fresh)
    # Not a redirect: the page comes back once this app has stopped taking connections, so the
    # next request is answered by the new one (it waits in the socket's backlog meanwhile).
    view = ReloadingPage(layout(request, services, "config"), next_url="/ui/config?done=reloaded")
    return Template(
        template_name="reloading.html",
        context={"page": view},
        status_code=202,
        headers={"Connection": "close"},
    )


def _refusal(services: Services, disk: DiskState) -> str:
    if disk.problems:
        return "Not reloaded: the file on disk has problems (below); the config in force is unchanged."
    if services.reload is None:
        return "Not reloaded: this process was not started by `clarion serve`, so it cannot switch configs."
    return "Nothing to reload: the file on disk is the one in force."


CONFIG_PAGES = [config_page, config_reload]
