"""View models of the template pages: the list, and one template previewed with a test-send form.

Built from the catalog alone (no database), so every choice a picker offers is one the config has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ...catalog import Catalog
from ...config.schema import Channel
from ...errors import RequestRejected
from .template_preview import Preview, default_sample, parse_sample, preview
from .views import CHANNEL_LABELS, Layout, Option

#: Where the sample data came from: typed in the form, declared in the config, or derived from the template.
SampleOrigin = Literal["typed", "declared", "derived"]


@dataclass(frozen=True)
class TemplateRow:
    name: str
    url: str
    description: str
    channels: list[str]
    locales: list[str]
    variants: list[str]


@dataclass(frozen=True)
class TemplatesPage:
    layout: Layout
    rows: list[TemplateRow]


@dataclass(frozen=True)
class Choice:
    """What the pickers chose; an empty value is the default (every channel, no locale, no variant)."""

    channel: str = ""
    locale: str = ""
    variant: str = ""


@dataclass(frozen=True)
class Picker:
    name: str
    label: str
    options: list[Option]
    selected: str


@dataclass(frozen=True)
class TestSend:
    """The send-a-test form: shown only to a role that may send."""

    categories: list[Option]
    values: Mapping[str, str]
    error: str = ""
    error_field: str = ""


@dataclass(frozen=True)
class TemplatePage:
    layout: Layout
    name: str
    description: str
    channels: list[str]
    choice: Choice
    pickers: list[Picker]
    sample_json: str
    sample_origin: SampleOrigin
    sample_error: str
    previews: list[Preview]
    test_send: TestSend | None  # None for a role that may not send


def _channels(catalog: Catalog, template: str) -> list[Channel]:
    usable = catalog.templates.channels(template)
    return [channel for channel in Channel if channel in usable]


def template_row(catalog: Catalog, name: str) -> TemplateRow:
    config = catalog.config.templates[name]
    return TemplateRow(
        name=name,
        url=f"/ui/templates/{name}",
        description=config.description,
        channels=[CHANNEL_LABELS[channel.value] for channel in _channels(catalog, name)],
        locales=list(config.locales),
        variants=list(config.variants),
    )


def templates_page(layout: Layout, catalog: Catalog) -> TemplatesPage:
    return TemplatesPage(layout, [template_row(catalog, name) for name in catalog.config.templates])


def choice(catalog: Catalog, template: str, wanted: Choice) -> Choice:
    """`wanted`, with anything the template does not have reset to its default."""
    config = catalog.config.templates[template]
    channels = {channel.value for channel in _channels(catalog, template)}
    return Choice(
        channel=wanted.channel if wanted.channel in channels else "",
        locale=wanted.locale if wanted.locale in config.locales else "",
        variant=wanted.variant if wanted.variant in config.variants else "",
    )


def pickers(catalog: Catalog, template: str, chosen: Choice) -> list[Picker]:
    config = catalog.config.templates[template]
    channels = [Option(c.value, CHANNEL_LABELS[c.value]) for c in _channels(catalog, template)]
    variants = [Option(name, f"{name} (weight {spec.weight})") for name, spec in config.variants.items()]
    return [
        Picker("channel", "Channel", [Option("", "Every channel"), *channels], chosen.channel),
        Picker(
            "locale",
            "Locale",
            [Option("", "Default"), *(Option(k, k) for k in config.locales)],
            chosen.locale,
        ),
        Picker("variant", "A/B variant", [Option("", "As written"), *variants], chosen.variant),
    ]


def sending_categories(catalog: Catalog, template: str) -> list[Option]:
    """Categories the template can be sent in, those reaching most of its channels first."""
    usable = catalog.templates.channels(template)
    reach = {name: len(usable & set(c.channels)) for name, c in catalog.config.categories.items()}
    ranked = sorted((name for name in reach if reach[name]), key=lambda name: -reach[name])
    return [Option(name, name) for name in ranked]


def _previews(catalog: Catalog, template: str, chosen: Choice, sample: dict[str, Any]) -> list[Preview]:
    shown = [c for c in _channels(catalog, template) if chosen.channel in ("", c.value)]
    return [
        preview(catalog, template, c, locale=chosen.locale, variant=chosen.variant, sample=sample)
        for c in shown
    ]


def template_page(
    layout: Layout,
    catalog: Catalog,
    template: str,
    wanted: Choice,
    sample_text: str,
    *,
    test_send: TestSend | None,
) -> TemplatePage:
    chosen = choice(catalog, template, wanted)
    config = catalog.config.templates[template]
    origin: SampleOrigin = "typed" if sample_text.strip() else "declared" if config.sample_data else "derived"
    if origin != "typed":
        sample_text = json.dumps(default_sample(catalog, template), indent=2, ensure_ascii=False)
    try:
        previews = _previews(catalog, template, chosen, parse_sample(sample_text))
        sample_error = ""
    except RequestRejected as exc:
        previews, sample_error = [], exc.message
    return TemplatePage(
        layout=layout,
        name=template,
        description=config.description,
        channels=[CHANNEL_LABELS[c.value] for c in _channels(catalog, template)],
        choice=chosen,
        pickers=pickers(catalog, template, chosen),
        sample_json=sample_text,
        sample_origin=origin,
        sample_error=sample_error,
        previews=previews,
        test_send=test_send,
    )
