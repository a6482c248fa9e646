"""Provider types an operator adds without touching Clarion: plugin files and installed packages.

Two sources, both read when the config is loaded:

- every `*.py` file in the plugins directory (`plugins/` beside the package, or
  `CLARION_PLUGINS_DIR`), imported by path; it names its classes in `PROVIDERS = [...]`.
  Files whose names start with `_` or `test_`, and `conftest.py`, are not plugins (helpers, tests);
- every entry point in the group `clarion.providers` of an installed distribution; each one
  loads one Provider subclass.

A plugin that cannot be imported, or whose class is not a usable provider type, is reported as a
ConfigError naming the file (or entry point) and the reason, with every other problem found, so
`clarion config check` prints it instead of a traceback.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

from ..config.schema import Channel
from ..errors import ConfigError, ConfigProblem
from ..paths import PLUGINS_DIR
from .base import Provider, ProviderOptions

ENTRY_POINT_GROUP = "clarion.providers"
DIRECTORY_VARIABLE = "CLARION_PLUGINS_DIR"
CHANNELS = frozenset(channel.value for channel in Channel)
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Plugin:
    """A provider type and where it came from, for error messages."""

    cls: type[Provider]
    source: str  # a file path, or "entry point clarion.providers: name = module:Class"


def plugins_directory(environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The directory to scan, and whether the operator chose it (then it must exist)."""
    chosen = environ.get(DIRECTORY_VARIABLE)
    return (Path(chosen), True) if chosen else (PLUGINS_DIR, False)


def discover(
    directory: Path,
    *,
    required: bool = False,
    entry_points: Iterable[EntryPoint] | None = None,
    taken: Mapping[str, str] | None = None,
) -> list[Plugin]:
    """Every plugin provider type, checked; raises ConfigError listing every problem found.

    `taken` maps the type names already in use (the built-ins) to where they come from.
    `entry_points` defaults to the installed distributions' `clarion.providers` group.
    """
    problems: list[ConfigProblem] = []
    found: list[Plugin] = []
    if directory.is_dir():
        for path in plugin_files(directory):
            found.extend(_from_file(path, problems))
    elif required:
        problems.append(
            ConfigProblem(
                str(directory), None, "", f"{DIRECTORY_VARIABLE} names a directory that does not exist"
            )
        )
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry_point in entry_points:
        found.extend(_from_entry_point(entry_point, problems))
    accepted = _without_clashes(found, dict(taken or {}), problems)
    if problems:
        raise ConfigError(problems)
    return accepted


def plugin_files(directory: Path) -> list[Path]:
    return [
        path
        for path in sorted(directory.glob("*.py"))
        if not path.name.startswith(("_", "test_")) and path.name != "conftest.py"
    ]


def _from_file(path: Path, problems: list[ConfigProblem]) -> list[Plugin]:
    try:
        module = _import_file(path)
    except BaseException as exc:  # a plugin may raise anything, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        problems.append(ConfigProblem(str(path), _line_in(path, exc), "", _import_failure(exc)))
        return []
    listed = getattr(module, "PROVIDERS", None)
    if not isinstance(listed, list | tuple):
        problems.append(
            ConfigProblem(
                str(path),
                None,
                "",
                "a plugin module must list its provider classes in PROVIDERS = [MyProvider] "
                "(name helper modules with a leading underscore so they are not loaded as plugins)",
            )
        )
        return []
    plugins: list[Plugin] = []
    for item in listed:
        if (message := provider_class_problem(item)) is not None:
            problems.append(ConfigProblem(str(path), _line_of_class(item), "PROVIDERS", message))
        else:
            plugins.append(Plugin(item, str(path)))
    return plugins


def _import_file(path: Path) -> ModuleType:
    """Import a file under a name no other module has, so `email.py` cannot shadow the stdlib."""
    digest = hashlib.sha256(str(path.resolve().parent).encode()).hexdigest()[:8]
    name = f"clarion_plugin_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot make an import spec for {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as `import` does: pydantic resolves annotations through sys.modules.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _from_entry_point(entry_point: EntryPoint, problems: list[ConfigProblem]) -> list[Plugin]:
    distribution = getattr(entry_point, "dist", None)
    source = f"entry point {ENTRY_POINT_GROUP}: {entry_point.name} = {entry_point.value}"
    if distribution is not None:
        source += f" (from {distribution.name} {distribution.version})"
    try:
        loaded = entry_point.load()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        problems.append(ConfigProblem(source, None, "", _import_failure(exc)))
        return []
    if (message := provider_class_problem(loaded)) is not None:
        problems.append(ConfigProblem(source, None, "", message))
        return []
    return [Plugin(loaded, source)]


def provider_class_problem(obj: object) -> str | None:
    """Why `obj` cannot be a provider type, or None if it can."""
    if not (isinstance(obj, type) and issubclass(obj, Provider)):
        return (
            f"{obj!r} is not a Provider subclass "
            "(subclass appliance.providers.base.Provider, or HttpProvider from appliance.providers.http)"
        )
    label = obj.__name__
    type_name = getattr(obj, "type_name", None)
    if not isinstance(type_name, str) or not _TYPE_NAME.fullmatch(type_name):
        return (
            f"{label}.type_name must be a string like 'pager' (lower case, starting with a letter, "
            f"letters, digits, _ and -), got {type_name!r}"
        )
    channels = getattr(obj, "channels", None)
    if not isinstance(channels, frozenset | set) or not channels or not channels <= CHANNELS:
        return (
            f"{label}.channels must be a non-empty frozenset of {', '.join(sorted(CHANNELS))}, "
            f"got {channels!r}"
        )
    options = getattr(obj, "Options", None)
    if not (isinstance(options, type) and issubclass(options, ProviderOptions)):
        return (
            f"{label}.Options must be a ProviderOptions subclass (an empty one if it has no options), "
            f"got {options!r}"
        )
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        return f"{label} does not implement {missing}"
    return None


def _without_clashes(
    found: list[Plugin], taken: dict[str, str], problems: list[ConfigProblem]
) -> list[Plugin]:
    accepted: list[Plugin] = []
    for plugin in found:
        type_name = plugin.cls.type_name
        if type_name in taken:
            problems.append(
                ConfigProblem(
                    plugin.source,
                    _line_of_class(plugin.cls),
                    "",
                    f"{plugin.cls.__name__}.type_name {type_name!r} is already taken by {taken[type_name]}; "
                    "choose another type_name",
                )
            )
            continue
        taken[type_name] = plugin.source
        accepted.append(plugin)
    return accepted


def builtin_sources(type_names: Iterable[str]) -> dict[str, str]:
    return {name: f"the built-in provider {name!r}" for name in type_names}


def _import_failure(exc: BaseException) -> str:
    return f"cannot import the plugin: {type(exc).__name__}: {exc}"


def _line_in(path: Path, exc: BaseException) -> int | None:
    """The line of the plugin file where the import failed, if the failure was in that file."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path:
        return exc.lineno
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if Path(frame.filename) == path]
    return frames[-1].lineno if frames else None


def _line_of_class(obj: object) -> int | None:
    try:
        return inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    except (TypeError, OSError):
        return None
