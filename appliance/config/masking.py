"""The operator's YAML as it may be shown: every secret masked, every `${VAR}` left to read.

Which values are secret is decided by the validated models (every `SecretStr` field, the
provider types' own options included), so a new provider option marked secret is masked with
no list to keep up to date here. A value that is only a `${VAR}` reference names a variable,
not a secret, and stays readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

from .loader import LoadedConfig
from .yamlnodes import Path

MASK = "••••••••"
_ONLY_A_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def masked_yaml(loaded: LoadedConfig) -> str:
    """The file as it was loaded, with its secrets masked in place, comments and layout kept.

    A secret written where a line edit cannot reach it safely (a block scalar, a flow mapping
    holding the same text twice) makes the whole file shown re-dumped instead, comments lost:
    a secret must never show, whatever the layout.
    """
    secret = set(secret_paths(loaded))
    values = [v for path in secret for v in _plain(_at(loaded.document.data, path))]
    lines = loaded.text.splitlines(keepends=True)
    for path in secret:
        line = loaded.document.lines.get(path)
        for value in _plain(_at(loaded.document.data, path)):
            if line is not None and value in lines[line - 1]:
                lines[line - 1] = lines[line - 1].replace(value, MASK, 1)
    masked = "".join(lines)
    if any(value in masked for value in values):
        data = _mask(loaded.document.data, (), secret)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return masked


def secret_paths(loaded: LoadedConfig) -> Iterator[Path]:
    yield from _secrets_in(loaded.config, ())
    for name, options in loaded.provider_options.items():
        yield from _secrets_in(options, ("providers", name))


def _secrets_in(value: Any, path: Path) -> Iterator[Path]:
    if isinstance(value, SecretStr):
        yield path
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from _secrets_in(getattr(value, field), (*path, field))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets_in(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secrets_in(item, (*path, index))


def _at(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _plain(value: Any) -> list[str]:
    """The secret texts written in the file (not `${VAR}` references) at one secret path."""
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v is not None and v != "" and not _ONLY_A_REFERENCE.match(str(v))]


def _mask(value: Any, path: Path, secret: set[Path]) -> Any:
    if path in secret:
        return _masked_value(value)
    if isinstance(value, dict):
        return {key: _mask(item, (*path, key), secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, (*path, index), secret) for index, item in enumerate(value)]
    return value


def _masked_value(value: Any) -> Any:
    if isinstance(value, str) and _ONLY_A_REFERENCE.match(value):
        return value
    if isinstance(value, list):  # e.g. a list of secret URLs
        return [_masked_value(item) for item in value]
    return MASK
