"""The composition root of the web process: `create_app(settings, catalog)`."""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from ..catalog import Catalog
from ..queueing.runtime import WorkerRuntime
from ..settings import Settings
from .api.campaigns import CampaignsController
from .api.health import healthz, readyz
from .api.imports import RecipientImportController
from .api.inbox import InboxController
from .api.inbox_access import cross_origin
from .api.notifications import NotificationsController
from .api.operations import OperationsController
from .api.preferences import PreferencesController
from .api.recipients import RecipientsController
from .api.sandbox import list_sandbox_messages
from .api.segments import SegmentsController
from .api.suppressions import SuppressionsController
from .api.topics import TopicsController
from .api.webhooks import WebhooksController
from .auth import require_api_key
from .center.routes import center_router
from .problems import PROBLEM_HANDLERS
from .services import Services
from .ui.routes import ui_app_options, ui_plugins, ui_router

VERSION = "0.1.0"

# Served from our own static files: an appliance may have no route to a CDN.
_SWAGGER_ASSETS = "/ui/static/vendor/swagger-ui"
SWAGGER = SwaggerRenderPlugin(
    js_url=f"{_SWAGGER_ASSETS}/swagger-ui-bundle.js",
    css_url=f"{_SWAGGER_ASSETS}/swagger-ui.css",
    standalone_preset_js_url=f"{_SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
)


def create_app(settings: Settings, catalog: Catalog) -> Litestar:
    services = Services(settings=settings, catalog=catalog, runtime=WorkerRuntime(settings, catalog))
    api = Router(
        path="/",
        route_handlers=[
            NotificationsController,
            CampaignsController,
            RecipientsController,
            RecipientImportController,
            TopicsController,
            PreferencesController,
            OperationsController,
            SuppressionsController,
            SegmentsController,
            list_sandbox_messages,
        ],
        guards=[require_api_key],
        exception_handlers=PROBLEM_HANDLERS,
        security=[{"BearerToken": []}],
    )
    probes = Router(path="/", route_handlers=[healthz, readyz], exception_handlers=PROBLEM_HANDLERS)
    webhooks = Router(path="/", route_handlers=[WebhooksController], exception_handlers=PROBLEM_HANDLERS)
    inbox = Router(path="/", route_handlers=[InboxController], exception_handlers=PROBLEM_HANDLERS)
    return Litestar(
        route_handlers=[api, probes, webhooks, inbox, ui_router(catalog), center_router(catalog)],
        dependencies={"services": Provide(lambda: services, sync_to_thread=False)},
        state=State({"services": services}),
        on_startup=[services.start],
        on_shutdown=[services.stop],
        plugins=ui_plugins(catalog),
        openapi_config=OpenAPIConfig(
            title="Clarion",
            version=VERSION,
            description="Send notifications through the channels, providers and templates of your YAML.",
            path="/schema",
            render_plugins=[SWAGGER],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", description="an API key"),
                    "RecipientToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="hex(HMAC-SHA256(inbox secret, recipient id)), made by your backend",
                    ),
                }
            ),
        ),
        cors_config=cross_origin(catalog),
        debug=False,
        **ui_app_options(catalog),
    )
