"""POST /v1/webhooks/{provider_name}: delivery events from providers, authenticated by their signatures.

Not behind the API-key guard (a provider cannot send our bearer key): each provider's own
signature scheme is the authentication. A request that fails it gets 401 and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.params import FromPath

from ...catalog import Catalog
from ...db.types import utcnow
from ...errors import NotFound
from ...pipeline.events import apply_events
from ...providers.base import ProviderContext
from ...providers.events import EventsNotConfigured, EventSource, InboundRequest, SignatureInvalid
from ..problems import problem
from ..services import Services, ServicesDep

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
_SOURCES = "webhook_event_sources"  # app.state key: provider name -> its long-lived EventSource


class EventsReceived(msgspec.Struct):
    events: int
    matched: int
    moved: int
    ignored: int
    unknown: int


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post(
        "/{provider_name:str}",
        status_code=200,
        summary="Receive a provider's delivery events",
        description="For providers to call: SendGrid, Mailgun, Postmark, SES (through SNS) and Twilio. "
        "Authenticated by the provider's signature, not by an API key; see docs/providers.md.",
        request_max_body_size=MAX_BODY_BYTES,
    )
    async def receive(
        self, request: Request[Any, Any, Any], services: ServicesDep, provider_name: FromPath[str]
    ) -> EventsReceived:
        source = _event_source(request.app.state, services, provider_name)
        inbound = InboundRequest.build(
            method=request.method,
            url=_public_url(services.catalog, request),
            path=request.url.path,
            query=request.url.query or "",
            headers=dict(request.headers.items()),
            body=await request.body(),
        )
        try:
            events = await source.parse_events(inbound)
        except EventsNotConfigured as exc:
            raise problem(404, "Not found", str(exc)) from None
        except SignatureInvalid as exc:
            log.warning("webhook for provider %s refused: %s", provider_name, exc)
            raise problem(401, "Unauthorized", f"the event's signature did not verify: {exc}") from None
        counts = await apply_events(services.database, provider_name, events, utcnow())
        log.info("webhook for provider %s: %d events, %s", provider_name, len(events), counts)
        return EventsReceived(
            events=len(events),
            matched=counts.matched,
            moved=counts.moved,
            ignored=counts.ignored,
            unknown=counts.unknown,
        )


def _event_source(state: Any, services: Services, name: str) -> EventSource:
    """The provider's event parser, built once per app (it may cache certificates and tokens)."""
    sources: dict[str, EventSource] = state.setdefault(_SOURCES, {})
    if name in sources:
        return sources[name]
    catalog = services.catalog
    spec = catalog.config.providers.get(name)
    cls = catalog.registry[spec.type] if spec is not None else None
    if spec is None or cls is None or not issubclass(cls, EventSource):
        raise NotFound("provider with delivery events", name)
    context = ProviderContext(
        name=name,
        timeout=spec.timeout,
        database=services.database,
        public_url=catalog.config.server.public_url,
    )
    source = cls(context, catalog.loaded.provider_options[name])  # type: ignore[arg-type]
    sources[name] = source
    return source  # type: ignore[return-value]


def _public_url(catalog: Catalog, request: Request[Any, Any, Any]) -> str:
    """The URL the provider called, as it knows it (Twilio signs it): server.public_url + path."""
    url = catalog.config.server.public_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url
