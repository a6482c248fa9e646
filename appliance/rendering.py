"""Templates: compiled once per config load in a sandbox, rendered per delivery.

Every field (email subject, SMS text, push title, ...) is its own Jinja2 template. HTML
bodies autoescape; text fields do not. Undefined variables are errors, so a message never
goes out with a hole in it; the delivery fails permanently with the reason instead.

A/B variants are compiled alongside, as the fields they override only, and laid over the
template's content at render time: field by field, the most specific source wins —
the variant in the recipient's locale, the variant itself, then the template in that locale.
Variant text is language-neutral unless the variant translates it under its own `locales`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .config.schema import Channel, ChannelOverrides, ChannelParts, Source, TemplateConfig
from .errors import RenderError
from .template_uses import Uses

_HTML_FIELDS = frozenset({"html"})
FieldTemplates = dict[str, jinja2.Template | dict[str, jinja2.Template]]
KeyPath = tuple[str | int, ...]
KeyedProblem = tuple[KeyPath, str]


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=autoescape, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )


class TemplateCatalog:
    """Every template × locale × channel field, and every variant's overrides, compiled."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str | None, Channel], FieldTemplates] = {}
        # (template, variant, locale, channel) -> only the fields that variant overrides
        self._overrides: dict[tuple[str, str, str | None, Channel], FieldTemplates] = {}
        self._weights: dict[str, dict[str, int]] = {}
        # Indexes of _compiled, asked on every request: name -> its default-locale channels.
        self._names: set[str] = set()
        self._channels: dict[str, frozenset[Channel]] = {}
        self._uses: dict[str, Uses] = {}
        self._text_env = _environment(autoescape=False)
        self._html_env = _environment(autoescape=True)

    @classmethod
    def compile(
        cls, templates: Mapping[str, TemplateConfig], base_dir: Path
    ) -> tuple[TemplateCatalog, list[KeyedProblem]]:
        """Compile everything; return the catalog and the problems found, with their key paths."""
        catalog = cls()
        problems: list[KeyedProblem] = []
        for name, template in templates.items():
            for locale, parts, prefix in _part_sets(name, template):
                for channel, compiled in catalog._compile_parts(parts, base_dir, prefix, problems):
                    catalog._compiled[(name, locale, channel)] = compiled
            for variant, locale, overrides, prefix in _variant_part_sets(name, template):
                for channel, compiled in catalog._compile_parts(overrides, base_dir, prefix, problems):
                    catalog._overrides[(name, variant, locale, channel)] = compiled
            if template.variants:
                catalog._weights[name] = {variant: spec.weight for variant, spec in template.variants.items()}
        catalog._index()
        return catalog, problems

    def _index(self) -> None:
        self._names = {name for (name, _, _) in self._compiled}
        self._channels = {
            name: frozenset(c for (n, locale, c) in self._compiled if n == name and locale is None)
            for name in self._names
        }

    def _compile_parts(
        self,
        parts: ChannelParts | ChannelOverrides,
        base_dir: Path,
        prefix: KeyPath,
        problems: list[KeyedProblem],
    ) -> Iterator[tuple[Channel, FieldTemplates]]:
        for channel in Channel:
            part = parts.part(channel)
            if part is not None:
                yield channel, self._compile_part(part, base_dir, (*prefix, channel.value), problems)

    def _compile_part(
        self, part: Any, base_dir: Path, path: tuple[str | int, ...], problems: list[KeyedProblem]
    ) -> FieldTemplates:
        compiled: FieldTemplates = {}
        for field in type(part).model_fields:
            value = getattr(part, field)
            if value is None:
                continue
            if isinstance(value, dict):
                compiled[field] = {
                    key: self._compile_source(src, field, base_dir, (*path, field, key), problems)
                    for key, src in value.items()
                }
            else:
                compiled[field] = self._compile_source(value, field, base_dir, (*path, field), problems)
        return compiled

    def _compile_source(
        self,
        source: Source,
        field: str,
        base_dir: Path,
        path: tuple[str | int, ...],
        problems: list[KeyedProblem],
    ) -> jinja2.Template:
        environment = self._html_env if field in _HTML_FIELDS else self._text_env
        try:
            text = (
                source.inline if source.file is None else (base_dir / source.file).read_text(encoding="utf-8")
            )
            ast = environment.parse(text or "")
            self._uses.setdefault(str(path[1]), Uses()).add(ast)  # path: ("templates", name, ...)
            return environment.from_string(ast)
        except OSError as exc:
            problems.append((path, f"cannot read template file {source.file!r}: {exc.strerror}"))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(
                (path, f"template syntax error on line {exc.lineno} of the template: {exc.message}")
            )
        return environment.from_string("")

    def channels(self, template: str) -> frozenset[Channel]:
        return self._channels.get(template, frozenset())

    def has(self, template: str) -> bool:
        return template in self._names

    def variants(self, template: str) -> dict[str, int]:
        """Variant name -> weight (0 included); empty when the template runs no A/B test."""
        return dict(self._weights.get(template, {}))

    def uses(self, template: str) -> Uses:
        """What the template reads, over all its locales, variants and channels."""
        return self._uses.get(template, Uses())

    def render(
        self,
        template: str,
        channel: Channel,
        locale: str | None,
        context: Mapping[str, Any],
        variant: str | None = None,
    ) -> dict[str, Any]:
        """Render one channel's fields in the best locale available, with the variant's
        overrides laid over them; raises RenderError."""
        compiled = self._pick(template, channel, locale)
        if compiled is None:
            raise RenderError(f"template {template!r} has no {channel.value} content")
        if variant is not None:
            compiled = {**compiled, **self._variant_fields(template, variant, channel, locale)}
        where = channel.value if variant is None else f"{channel.value}, variant {variant}"
        rendered: dict[str, Any] = {}
        for field, value in compiled.items():
            try:
                rendered[field] = (
                    {key: part.render(context) for key, part in value.items()}
                    if isinstance(value, dict)
                    else value.render(context)
                )
            except Exception as exc:  # an undefined name, a sandbox refusal, a filter failing on this data
                raise _render_error(f"template {template!r} ({where}, {field}{_line(exc)})", exc) from exc
        return rendered

    def _pick(self, template: str, channel: Channel, locale: str | None) -> FieldTemplates | None:
        for candidate in locale_candidates(locale):
            compiled = self._compiled.get((template, candidate, channel))
            if compiled is not None:
                return compiled
        return None

    def _variant_fields(
        self, template: str, variant: str, channel: Channel, locale: str | None
    ) -> FieldTemplates:
        """The fields the variant overrides, laid least specific first so the most specific wins.

        A variant the config no longer has (renamed or removed since the notification was
        planned) overrides nothing: the delivery goes out with the template's own content
        rather than failing for a change the recipient has no part in.
        """
        fields: FieldTemplates = {}
        for candidate in reversed(list(locale_candidates(locale))):
            fields.update(self._overrides.get((template, variant, candidate, channel), {}))
        return fields


def _render_error(place: str, exc: Exception) -> RenderError:
    if isinstance(exc, jinja2.UndefinedError):
        return RenderError(f"{place}: {exc.message}")
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return RenderError(f"{place} did something unsafe: {exc}")
    return RenderError(f"{place}: {type(exc).__name__}: {exc}")


def _line(exc: Exception) -> str:
    """`, line N` of the template: Jinja2 rewrites tracebacks so its frames carry template lines."""
    line, frame = None, exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return f", line {line}" if line else ""


def locale_candidates(locale: str | None) -> Iterator[str | None]:
    """`fr-CA` -> `fr-CA`, `fr`, then the default (None). Case and `_` are normalised."""
    if locale:
        parts = locale.replace("_", "-").split("-")
        for end in range(len(parts), 0, -1):
            yield "-".join(parts[:end]).lower()
    yield None


def _part_sets(name: str, template: TemplateConfig) -> Iterator[tuple[str | None, ChannelParts, KeyPath]]:
    yield None, template, ("templates", name)
    for locale, parts in template.locales.items():
        yield _locale_key(locale), parts, ("templates", name, "locales", locale)


def _variant_part_sets(
    name: str, template: TemplateConfig
) -> Iterator[tuple[str, str | None, ChannelOverrides, KeyPath]]:
    for variant, spec in template.variants.items():
        prefix: KeyPath = ("templates", name, "variants", variant)
        yield variant, None, spec, prefix
        for locale, overrides in spec.locales.items():
            yield variant, _locale_key(locale), overrides, (*prefix, "locales", locale)


def _locale_key(locale: str) -> str:
    return locale.replace("_", "-").lower()
