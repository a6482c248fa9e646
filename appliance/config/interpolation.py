"""`${VAR}` and `${VAR:-default}` substitution in YAML string values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .yamlnodes import Path

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$")


class MissingVariable(Exception):
    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        super().__init__(
            f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
        )


def interpolate(data: Any, environ: Mapping[str, str], path: Path = ()) -> tuple[Any, list[MissingVariable]]:
    """Return `data` with every reference replaced, and every reference that could not be."""
    missing: list[MissingVariable] = []
    return _walk(data, environ, path, missing), missing


def _walk(value: Any, environ: Mapping[str, str], path: Path, missing: list[MissingVariable]) -> Any:
    if isinstance(value, dict):
        return {key: _walk(item, environ, (*path, key), missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, environ, (*path, index), missing) for index, item in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        return _substitute(value, environ, path, missing)
    return value


def _substitute(text: str, environ: Mapping[str, str], path: Path, missing: list[MissingVariable]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in environ and (environ[name] != "" or default is None):
            return environ[name]
        if default is not None:
            return default
        missing.append(MissingVariable(path, name))
        return ""

    return _REFERENCE.sub(replace, text)
