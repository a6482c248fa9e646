"""The composition root of the web process: `create_app(settings, catalog)`."""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig

from ..catalog import Catalog
from ..queueing.runtime import WorkerRuntime
from ..settings import Settings
from .api.analytics import AnalyticsController
from .api.campaigns import CampaignsController
from .api.health import healthz, readyz
from .api.imports import RecipientImportController
from .api.inbox import InboxController
from .api.inbox_access import cross_origin
from .api.metrics import metrics
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
from .request_ids import request_context, stamp_request_id
from .services import Reload, Services
from .ui.routes import ui_app_options, ui_plugins, ui_router

VERSION = "0.1.0"

# Served from our own static files: an appliance may have no route to a CDN.
_SWAGGER_ASSETS = "/ui/static/vendor/swagger-ui"
SWAGGER = SwaggerRenderPlugin(
    js_url=f"{_SWAGGER_ASSETS}/swagger-ui-bundle.js",
    css_url=f"{_SWAGGER_ASSETS}/swagger-ui.css",
    standalone_preset_js_url=f"{_SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
)

# Litestar's own records (unhandled errors) go up to the root logger that `clarion` set up,
# instead of Litestar replacing the root's handlers with its own format.
LOGGING = LoggingConfig(
    configure_root_logger=False, loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}}
)

# Requests by route template (never the raw path: it holds ids), method and status.
HTTP_METRICS = PrometheusConfig(app_name="clarion", prefix="clarion_http", group_path=True)


def create_app(settings: Settings, catalog: Catalog, *, reload: Reload | None = None) -> Litestar:
    """`reload`: how this process switches to a new config; None where it cannot (tests)."""
    runtime = WorkerRuntime(settings, catalog)
    services = Services(settings=settings, catalog=catalog, runtime=runtime, reload=reload)
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
            AnalyticsController,
            SuppressionsController,
            SegmentsController,
            list_sandbox_messages,
        ],
        guards=[require_api_key],
        exception_handlers=PROBLEM_HANDLERS,
        security=[{"BearerToken": []}],
    )
    probes = Router(path="/", route_handlers=[healthz, readyz, metrics], exception_handlers=PROBLEM_HANDLERS)
    webhooks = Router(path="/", route_handlers=[WebhooksController], exception_handlers=PROBLEM_HANDLERS)
    inbox = Router(path="/", route_handlers=[InboxController], exception_handlers=PROBLEM_HANDLERS)
    return Litestar(
        route_handlers=[api, probes, webhooks, inbox, ui_router(catalog), center_router(catalog)],
        dependencies={"services": Provide(lambda: services, sync_to_thread=False)},
        state=State({"services": services}),
        on_startup=[services.start],
        on_shutdown=[services.stop],
        plugins=ui_plugins(catalog),
        middleware=[request_context, HTTP_METRICS.middleware],
        before_send=[stamp_request_id],
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
        logging_config=LOGGING,
        **ui_app_options(catalog),
    )
