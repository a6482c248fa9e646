"""Provider plugins: found in a directory or through entry points, checked, and reported when broken."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.errors import ConfigError
from appliance.paths import PLUGINS_DIR
from appliance.providers.plugins import discover, plugin_files
from appliance.providers.registry import BUILTIN, ProviderRegistry

GOOD_PLUGIN = """
from typing import ClassVar

from appliance.providers.base import Outcome, Provider, ProviderOptions


class EchoOptions(ProviderOptions):
    prefix: str = ""


class EchoProvider(Provider):
    type_name: ClassVar[str] = "{type_name}"
    channels: ClassVar[frozenset[str]] = frozenset({{"webhook", "sms"}})
    Options: ClassVar[type[ProviderOptions]] = EchoOptions

    async def send(self, message):
        return Outcome.sent(self.options.prefix + message.envelope.delivery_id)


PROVIDERS = [EchoProvider]
"""

CONFIG = """
server: {secret_key: plugin-test-secret-key}
api_keys: [{name: test, key: clarion-demo-key}]
channels:
  webhook: {providers: [echo]}
providers:
  echo: {type: echo, prefix: "e-"}
categories:
  alerts: {priority: high, channels: [webhook]}
templates:
  alert:
    webhook: {text: "hello"}
"""


def plugin(directory: Path, name: str, source: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def problems(directory: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        ProviderRegistry.with_plugins(directory, entry_points=(), **kwargs)  # type: ignore[arg-type]
    return [str(problem) for problem in raised.value.problems]


# --- Found and registered ----------------------------------------------------------------


def test_a_plugin_file_adds_its_provider_type_to_the_builtins(tmp_path: Path) -> None:
    plugin(tmp_path, "echo.py", GOOD_PLUGIN.format(type_name="echo"))

    registry = ProviderRegistry.with_plugins(tmp_path, entry_points=())

    assert registry["echo"].__name__ == "EchoProvider"
    assert registry.types()["echo"].channels == frozenset({"webhook", "sms"})
    assert set(registry.names()) == {*BUILTIN, "echo"}


def test_helpers_and_tests_in_the_directory_are_not_plugins(tmp_path: Path) -> None:
    for name in ("_shared.py", "test_echo.py", "conftest.py", "echo.py", "notes.txt"):
        plugin(tmp_path, name, "raise RuntimeError('must not be imported')\n")

    assert [path.name for path in plugin_files(tmp_path)] == ["echo.py"]


def test_a_plugin_named_like_a_stdlib_module_does_not_shadow_it(tmp_path: Path) -> None:
    plugin(tmp_path, "json.py", GOOD_PLUGIN.format(type_name="echo"))

    registry = ProviderRegistry.with_plugins(tmp_path, entry_points=())

    import json

    assert registry["echo"].__module__.startswith("clarion_plugin_")
    assert json.__file__ != str(tmp_path / "json.py")
    assert json.dumps({"a": 1}) == '{"a": 1}'


def test_the_directory_comes_from_clarion_plugins_dir(tmp_path: Path) -> None:
    plugin(tmp_path, "echo.py", GOOD_PLUGIN.format(type_name="echo"))

    registry = ProviderRegistry.with_plugins(environ={"CLARION_PLUGINS_DIR": str(tmp_path)}, entry_points=())

    assert "echo" in registry.names()


def test_a_config_loads_with_a_plugin_type(tmp_path: Path) -> None:
    from appliance.catalog import load_catalog

    plugin(tmp_path / "plugins", "echo.py", GOOD_PLUGIN.format(type_name="echo"))
    config = tmp_path / "clarion.yaml"
    config.write_text(CONFIG)

    catalog = load_catalog(config, environ={"CLARION_PLUGINS_DIR": str(tmp_path / "plugins")})

    assert catalog.loaded.provider_options["echo"].prefix == "e-"  # type: ignore[attr-defined]


def test_an_installed_package_adds_a_type_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real distribution on sys.path, as `pip install` would leave it."""
    site = tmp_path / "site"
    plugin(site, "acme_clarion.py", GOOD_PLUGIN.format(type_name="acme"))
    dist_info = site / "acme_clarion-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-clarion\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[clarion.providers]\nacme = acme_clarion:EchoProvider\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "acme_clarion", raising=False)
    empty = tmp_path / "plugins"
    empty.mkdir()

    registry = ProviderRegistry.with_plugins(empty)

    assert registry["acme"].__name__ == "EchoProvider"
    assert registry["acme"].__module__ == "acme_clarion"


# --- Broken plugins are reported, not raised ---------------------------------------------


def test_a_plugin_that_fails_to_import_names_its_file_line_and_exception(tmp_path: Path) -> None:
    broken = plugin(tmp_path, "broken.py", "import os\n\nSETTING = os.environ['PAGER_REGION_NOT_SET']\n")

    [problem] = problems(tmp_path)

    assert problem == (f"{broken}:3: cannot import the plugin: KeyError: 'PAGER_REGION_NOT_SET'")


def test_a_syntax_error_is_located(tmp_path: Path) -> None:
    broken = plugin(tmp_path, "typo.py", "PROVIDERS = [\n")

    [problem] = problems(tmp_path)

    assert problem.startswith(f"{broken}:1: cannot import the plugin: SyntaxError:")


def test_every_broken_plugin_is_reported_at_once_and_good_ones_do_not_hide_them(tmp_path: Path) -> None:
    plugin(tmp_path, "echo.py", GOOD_PLUGIN.format(type_name="echo"))
    plugin(tmp_path, "no_list.py", "class NotListed: ...\n")
    plugin(tmp_path, "wrong.py", "PROVIDERS = [object]\n")
    plugin(tmp_path, "exits.py", "import sys\nsys.exit(3)\n")

    found = problems(tmp_path)

    assert [problem.split(":")[0].rsplit("/", 1)[1] for problem in found] == [
        "exits.py",
        "no_list.py",
        "wrong.py",
    ]
    assert "SystemExit: 3" in found[0]
    assert "PROVIDERS = [MyProvider]" in found[1]
    assert "is not a Provider subclass" in found[2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"{type_name}"', '"Echo Provider"'), "EchoProvider.type_name must be a string like 'pager'"),
        (
            ('{{"webhook", "sms"}}', '{{"webhook", "fax"}}'),
            "EchoProvider.channels must be a non-empty frozenset",
        ),
        (("= EchoOptions", "= dict"), "EchoProvider.Options must be a ProviderOptions subclass"),
        (("    async def send", "    async def sned"), "EchoProvider does not implement send"),
    ],
)
def test_a_class_that_is_not_a_usable_provider_type_is_refused(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = plugin(tmp_path, "echo.py", GOOD_PLUGIN.replace(*change).format(type_name="echo"))

    [problem] = problems(tmp_path)

    assert problem.startswith(f"{path}:")
    assert message in problem


def test_a_plugin_cannot_replace_a_builtin_type(tmp_path: Path) -> None:
    path = plugin(tmp_path, "my_smtp.py", GOOD_PLUGIN.format(type_name="smtp"))

    [problem] = problems(tmp_path)

    assert problem.startswith(f"{path}:")
    assert "type_name 'smtp' is already taken by the built-in provider 'smtp'; choose another" in problem


def test_two_plugins_cannot_share_a_type(tmp_path: Path) -> None:
    first = plugin(tmp_path, "a_echo.py", GOOD_PLUGIN.format(type_name="echo"))
    plugin(tmp_path, "b_echo.py", GOOD_PLUGIN.format(type_name="echo"))

    [problem] = problems(tmp_path)

    assert f"already taken by {first}" in problem


def test_a_chosen_plugins_directory_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope"

    assert problems(missing) == [f"{missing}: CLARION_PLUGINS_DIR names a directory that does not exist"]


def test_an_entry_point_that_cannot_load_is_reported_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import EntryPoint

    entry_point = EntryPoint(name="acme", value="acme_missing_module:Provider", group="clarion.providers")

    with pytest.raises(ConfigError) as raised:
        discover(tmp_path, entry_points=[entry_point])

    [problem] = [str(p) for p in raised.value.problems]
    assert problem.startswith("entry point clarion.providers: acme = acme_missing_module:Provider")
    assert "ModuleNotFoundError: No module named 'acme_missing_module'" in problem


def test_config_check_prints_a_broken_plugin_instead_of_a_traceback(tmp_path: Path) -> None:
    broken = plugin(tmp_path / "plugins", "broken.py", "raise RuntimeError('forgot to set PAGER_URL')\n")
    config = tmp_path / "clarion.yaml"
    config.write_text(CONFIG)

    result = CliRunner().invoke(
        main, ["config", "check", str(config)], env={"CLARION_PLUGINS_DIR": str(tmp_path / "plugins")}
    )

    assert result.exit_code == 1
    assert f"{broken}:1: cannot import the plugin: RuntimeError: forgot to set PAGER_URL" in result.output
    assert "Traceback" not in result.output


# --- Plugins import only the provider interface ------------------------------------------

ALLOWED_FOR_PLUGINS = {"appliance.providers.base", "appliance.providers.http"}


@pytest.mark.parametrize("path", plugin_files(PLUGINS_DIR), ids=lambda path: path.name)
def test_shipped_plugins_import_only_the_provider_interface(path: Path) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert {name for name in imported if name.split(".")[0] == "appliance"} <= ALLOWED_FOR_PLUGINS


def test_each_built_in_name_is_its_class_type_name_and_an_unknown_name_is_not_a_type() -> None:
    types = ProviderRegistry().types()

    for name in BUILTIN:
        assert ProviderRegistry()[name].type_name == name
    assert "pigeon" not in types
    with pytest.raises(KeyError):
        types["pigeon"]
