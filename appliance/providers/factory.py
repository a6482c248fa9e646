"""Instantiate the providers the config declares."""

from __future__ import annotations

from ..catalog import Catalog
from ..db.engine import Database
from ..inbox.feed import Feed
from .base import Provider, ProviderContext


def build_providers(catalog: Catalog, database: Database, feed: Feed) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name, spec in catalog.config.providers.items():
        cls = catalog.registry[spec.type]
        context = ProviderContext(
            name=name,
            timeout=spec.timeout,
            database=database,
            public_url=catalog.config.server.public_url,
            feed=feed,
        )
        providers[name] = cls(context, catalog.loaded.provider_options[name])  # type: ignore[arg-type]
    return providers
