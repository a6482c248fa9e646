"""Load an operator YAML file into a validated ClarionConfig, or report every mistake at once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, ConfigProblem
from .interpolation import interpolate
from .references import check_references
from .schema import ClarionConfig
from .yamlnodes import LocatedDocument, Path, load_located

#: provider type name -> (options model, channels it can serve); supplied by the provider registry.
ProviderTypes = Mapping[str, "ProviderType"]
ExtraCheck = Callable[[dict[str, Any]], Iterable[tuple[Path, str]]]


@dataclass(frozen=True)
class ProviderType:
    options: type[BaseModel]
    channels: frozenset[str]


@dataclass(frozen=True)
class LoadedConfig:
    config: ClarionConfig
    path: FsPath
    provider_options: dict[str, BaseModel]
    document: LocatedDocument
    text: str = ""  # the file as it was read, for showing (masked) what is in force
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def directory(self) -> FsPath:
        return self.path.resolve().parent

    def problem(self, path: Path, message: str) -> ConfigProblem:
        """A problem found after loading (e.g. while compiling templates), located in the file."""
        return ConfigProblem(str(self.path), self.document.line_of(path), ".".join(map(str, path)), message)


class _Collector:
    """Turns problems found anywhere into ConfigProblems located in the file."""

    def __init__(self, file: str, document: LocatedDocument) -> None:
        self.file = file
        self.document = document
        self.problems: list[ConfigProblem] = []

    def add(self, path: Path, message: str) -> None:
        line = self.document.line_of(path)
        dotted = ".".join(str(part) for part in path)
        self.problems.append(ConfigProblem(self.file, line, dotted, message))

    def add_validation(self, error: ValidationError, prefix: Path = ()) -> None:
        for item in error.errors():
            loc = (*prefix, *item["loc"])
            if item["type"] == "missing":
                path = (*_data_path(self.document.data, loc[:-1]), loc[-1])
            else:
                path = _data_path(self.document.data, loc)
            self.add(path, _message(item))


def load_config(
    path: str | os.PathLike[str],
    provider_types: ProviderTypes,
    environ: Mapping[str, str] | None = None,
    extra_checks: Sequence[ExtraCheck] = (),
) -> LoadedConfig:
    """`extra_checks` see the interpolated document even when parts of it are invalid and
    return (key path, message) pairs; the catalog uses one to compile templates in the same pass."""
    file = FsPath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(str(file), None, "", f"cannot read the file: {exc.strerror}")]
        ) from exc
    try:
        document = load_located(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError([ConfigProblem(str(file), line, "", f"invalid YAML: {exc}")]) from exc
    collector = _Collector(str(file), document)
    environ = os.environ if environ is None else environ
    config, options = _validate(document, collector, provider_types, environ, extra_checks)
    if collector.problems or config is None:
        raise ConfigError(sorted(collector.problems, key=lambda p: (p.line or 0, p.path)))
    return LoadedConfig(config=config, path=file, provider_options=options, document=document, text=text)


def _validate(
    document: LocatedDocument,
    collector: _Collector,
    provider_types: ProviderTypes,
    environ: Mapping[str, str],
    extra_checks: Sequence[ExtraCheck],
) -> tuple[ClarionConfig | None, dict[str, BaseModel]]:
    for path, _line in document.duplicate_keys:
        collector.add(path, "key appears twice; YAML would silently keep only the last one")
    if not isinstance(document.data, dict):
        collector.add((), "the file must be a mapping of top-level keys (server, channels, providers, ...)")
        return None, {}
    data, missing = interpolate(document.data, environ)
    for problem in missing:
        collector.add(problem.path, str(problem))
    document.data = data
    try:
        config = ClarionConfig.model_validate(data)
    except ValidationError as exc:
        collector.add_validation(exc)
        config = None
    options = _validate_provider_options(data.get("providers"), collector, provider_types)
    for ref_path, message in check_references(data, provider_types):
        collector.add(ref_path, message)
    for check in extra_checks:
        for ref_path, message in check(data):
            collector.add(ref_path, message)
    return config, options


def _validate_provider_options(
    providers: Any, collector: _Collector, provider_types: ProviderTypes
) -> dict[str, BaseModel]:
    if not isinstance(providers, dict):
        return {}
    options: dict[str, BaseModel] = {}
    for name, raw in providers.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            continue
        kind = provider_types.get(raw["type"])
        if kind is None:
            known = ", ".join(sorted(provider_types))
            collector.add(
                ("providers", name, "type"), f'unknown provider type "{raw["type"]}" (known: {known})'
            )
            continue
        own = {key: value for key, value in raw.items() if key not in _COMMON_PROVIDER_KEYS}
        try:
            options[name] = kind.options.model_validate(own)
        except ValidationError as exc:
            collector.add_validation(exc, prefix=("providers", name))
    return options


_COMMON_PROVIDER_KEYS = {"type", "rate_limit", "timeout", "circuit"}


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """Drop pydantic's internal loc parts (union tags, "[key]") so the path matches the YAML."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            break
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        ):
            node = node[part]
        else:
            continue
        path.append(part)
    return tuple(path)


def _message(item: Any) -> str:
    kind, message = item["type"], item["msg"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see docs/configuration.md)"
    if kind == "enum":
        return f"expected one of {item['ctx']['expected']}, got {item['input']!r}"
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
