"""The loaded configuration, compiled: what every other part reads at run time.

Built once per config load: templates compiled, API key digests ready, provider classes
resolved. It is a plain value: the API, the planner and the channel actors all read it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config.loader import LoadedConfig, load_config
from .config.schema import CategoryConfig, Channel, ClarionConfig, TemplateConfig
from .errors import ConfigError, RequestRejected
from .inbox.tokens import RecipientTokens
from .preferences.links import Links
from .providers.registry import ProviderRegistry
from .rendering import KeyedProblem, TemplateCatalog
from .security.apikeys import digest
from .tracking.tokens import TrackingLinks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Catalog:
    loaded: LoadedConfig
    templates: TemplateCatalog
    registry: ProviderRegistry
    api_key_digests: Mapping[str, str]
    links: Links
    tracking: TrackingLinks
    inbox_tokens: RecipientTokens | None  # None: the config has no `inbox` section

    @property
    def config(self) -> ClarionConfig:
        return self.loaded.config

    def category(self, name: str) -> CategoryConfig:
        category = self.config.categories.get(name)
        if category is None:
            raise RequestRejected(
                "category", f"unknown category {name!r}; known: {', '.join(self.config.categories)}"
            )
        return category

    def require_template(self, name: str, category: CategoryConfig) -> frozenset[Channel]:
        """The category's channels this template has content for; rejects a template with none."""
        if not self.templates.has(name):
            raise RequestRejected(
                "template", f"unknown template {name!r}; known: {', '.join(self.config.templates)}"
            )
        usable = self.templates.channels(name) & set(category.channels)
        if not usable:
            wanted = ", ".join(channel.value for channel in category.channels)
            raise RequestRejected(
                "template", f"template {name!r} has no content for this category's channels ({wanted})"
            )
        return usable


def load_catalog(
    path: str | os.PathLike[str],
    registry: ProviderRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Catalog:
    """Load, validate and compile a config file; raises ConfigError listing every problem.

    Without a `registry`, the provider types are the built-ins plus the plugins
    (`CLARION_PLUGINS_DIR`, read from `environ`, else `plugins/`; and `clarion.providers` entry points).
    """
    registry = registry or ProviderRegistry.with_plugins(environ=environ)
    directory = Path(path).resolve().parent
    compiled: list[TemplateCatalog] = []

    def compile_templates(data: dict[str, Any]) -> list[KeyedProblem]:
        # One template at a time, so a mistake in one does not hide syntax errors in the others.
        templates: dict[str, TemplateConfig] = {}
        raw = data.get("templates")
        for name, spec in (raw if isinstance(raw, dict) else {}).items():
            try:
                templates[name] = TemplateConfig.model_validate(spec)
            except ValidationError:
                continue  # the schema pass reports these, located
        catalog, problems = TemplateCatalog.compile(templates, directory)
        compiled.append(catalog)
        return problems

    loaded = load_config(path, registry.types(), environ, extra_checks=[compile_templates])
    digests = {
        (key.key_sha256 or digest(key.key.get_secret_value())): key.name  # type: ignore[union-attr]
        for key in loaded.config.api_keys
    }
    server = loaded.config.server
    links = Links(
        server.secret_key.get_secret_value(), server.public_url, loaded.config.preference_center.link_ttl
    )
    tracking = TrackingLinks(server.secret_key.get_secret_value(), server.public_url)
    inbox = loaded.config.inbox
    return Catalog(
        loaded=loaded,
        templates=compiled[0],
        registry=registry,
        api_key_digests=digests,
        links=links,
        tracking=tracking,
        inbox_tokens=RecipientTokens(inbox.secret.get_secret_value()) if inbox else None,
    )


def reread(catalog: Catalog) -> Catalog | None:
    """`catalog`'s file loaded again; None, with every problem logged, if it is not valid now."""
    path = catalog.loaded.path
    try:
        return load_catalog(path, catalog.registry)
    except ConfigError as exc:
        log.error("not reloading: %d problem(s) in %s; keeping the config in force", len(exc.problems), path)
        for problem in exc.problems:
            log.error("  %s", problem)
        return None
