"""Loading the operator YAML: every mistake reported at once, with file, line and key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appliance.catalog import load_catalog
from appliance.errors import ConfigError
from tests.conftest import EXAMPLE_CONFIG, ROOT

BROKEN = """\
server:
  secret_key: short
channels:
  email: {providers: [mail, missing_one]}
  fax: {providers: [mail]}
providers:
  mail: {type: sandbox, rate_limit: fast, colour: blue}
  hook: {type: webhok}
categories:
  otp: {priority: urgent, channels: [sms]}
api_keys:
  - name: a
    key: ${NOPE}
"""


def write(tmp_path: Path, text: str, name: str = "clarion.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_catalog(path, environ=environ or {})
    return [str(problem) for problem in caught.value.problems]


def test_the_example_config_is_valid() -> None:
    catalog = load_catalog(EXAMPLE_CONFIG, environ={})
    assert set(catalog.config.channels) == {"email", "sms", "push", "in_app", "webhook"}
    assert {c.priority for c in catalog.config.categories.values()} == {"high", "normal", "bulk"}


def test_every_mistake_is_reported_with_its_line_and_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    found = problems(path)
    assert f"{path}:2: server.secret_key: must be at least 16 characters" in found
    assert any(p.startswith(f"{path}:5: channels.fax: expected one of") for p in found)
    assert f'{path}:7: providers.mail.rate_limit: expected "<n>/<s|m|h|d|w>" with n > 0, got "fast"' in found
    assert any(p.startswith(f"{path}:7: providers.mail.colour: unknown key") for p in found)
    assert any(p.startswith(f'{path}:8: providers.hook.type: unknown provider type "webhok"') for p in found)
    assert any(p.startswith(f"{path}:10: categories.otp.priority: expected one of") for p in found)
    assert any(
        p.startswith(f"{path}:13: api_keys.0.key: environment variable NOPE is not set") for p in found
    )


def test_references_to_undeclared_names_are_reported(tmp_path: Path) -> None:
    text = """\
server: {secret_key: a-long-enough-secret}
channels:
  email: {providers: [mail, ghost]}
  sms: {providers: [mail]}
providers:
  mail: {type: smtp, host: localhost, from: "a@example.com"}
categories:
  news: {channels: [email, push]}
templates:
  hi: {push: {title: t, body: b}}
"""
    found = problems(write(tmp_path, text))
    assert any(':3: channels.email.providers.1: provider "ghost" is not declared' in p for p in found)
    assert any(
        ':4: channels.sms.providers.0: provider "mail" cannot send sms; its type serves: email' in p
        for p in found
    )
    assert any(':8: categories.news.channels.1: channel "push" has no providers' in p for p in found)
    assert any(
        ":10: templates.hi: a template needs content for at least one declared channel" in p for p in found
    )


def test_policy_and_preference_center_mistakes_are_located(tmp_path: Path) -> None:
    text = """\
server: {secret_key: a-long-enough-secret}
channels: {email: {providers: [box]}}
providers: {box: {type: sandbox}}
categories:
  otp: {channels: [email], opt_out: false, default: opted_out}
  news: {channels: [email], frequency_cap: [2/day, 0/week], quiet_hours: "21:00-21:00"}
policy: {timezone: Mars/Olympus}
preference_center:
  accent_color: blue
  translations:
    de:
      text: {intro: "Was {produkt} schickt", title: "{product}: Einstellungen", nope: x}
      categories: {ghost: {title: G}}
"""
    found = "\n".join(problems(write(tmp_path, text)))
    assert ":5: categories.otp: " in found and "cannot default to opted_out" in found
    assert ':6: categories.news.frequency_cap: expected "<n>/<hour|day|week|month>" with n > 0' in found
    assert ":6: categories.news.quiet_hours: quiet hours must not start and end at the same time" in found
    assert ':7: policy.timezone: unknown time zone "Mars/Olympus"' in found
    assert ":9: preference_center.accent_color: " in found
    assert ":12: preference_center.translations.de.text.intro: unknown placeholder {produkt}" in found
    assert "text.title" not in found  # {product} is offered to every text
    assert ':12: preference_center.translations.de.text.nope: unknown text key "nope"' in found
    assert (
        ':13: preference_center.translations.de.categories.ghost: category "ghost" is not declared' in found
    )


def test_template_syntax_errors_and_missing_files_name_the_field(tmp_path: Path) -> None:
    text = """\
server: {secret_key: a-long-enough-secret}
channels: {email: {providers: [box]}}
providers: {box: {type: sandbox}}
categories: {news: {channels: [email]}}
templates:
  hi:
    email:
      subject: "{{ unclosed "
      text: {file: nowhere.txt}
"""
    found = problems(write(tmp_path, text))
    assert any(":8: templates.hi.email.subject: template syntax error" in p for p in found)
    assert any(":9: templates.hi.email.text: cannot read template file 'nowhere.txt'" in p for p in found)


def test_environment_references_are_substituted_with_defaults(tmp_path: Path) -> None:
    text = """\
server: {secret_key: "${SECRET}", public_url: "${URL:-http://localhost:9000}", product_name: "$${LITERAL}"}
channels: {email: {providers: [box]}}
providers: {box: {type: sandbox}}
categories: {news: {channels: [email]}}
"""
    catalog = load_catalog(write(tmp_path, text), environ={"SECRET": "from-the-environment"})
    assert catalog.config.server.secret_key.get_secret_value() == "from-the-environment"
    assert catalog.config.server.public_url == "http://localhost:9000"
    assert catalog.config.server.product_name == "${LITERAL}"


def test_secrets_do_not_appear_in_the_loaded_config_repr(tmp_path: Path) -> None:
    catalog = load_catalog(EXAMPLE_CONFIG, environ={"CLARION_SECRET_KEY": "super-secret-value-123"})
    assert "super-secret-value-123" not in repr(catalog.config)
    assert "clarion-demo-key" not in repr(catalog.config)


def test_duplicate_keys_and_yaml_syntax_errors_are_located(tmp_path: Path) -> None:
    dup = "server: {secret_key: a-long-enough-secret}\nchannels: {}\nchannels: {}\n"
    assert any(":3: channels: key appears twice" in p for p in problems(write(tmp_path, dup)))
    bad = write(tmp_path, "server: [unclosed\n", "bad.yaml")
    assert any(p.startswith(f"{bad}:") and "invalid YAML" in p for p in problems(bad))


def test_config_check_command_exits_1_and_prints_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "config", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert result.stderr.count(f"{path}:") >= 7
    ok = subprocess.run(
        [sys.executable, "-m", "appliance", "config", "check", str(EXAMPLE_CONFIG)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout


def test_schema_reference_and_template_mistakes_come_in_one_report(tmp_path: Path) -> None:
    text = """\
server: {secret_key: short}
channels: {email: {providers: [ghost]}}
providers: {}
categories: {news: {channels: [email, sms]}}
templates:
  hi: {email: {subject: "{{ oops ", text: hi}}
"""
    found = problems(write(tmp_path, text))
    expected = [
        ":1: server.secret_key:",  # schema
        ':2: channels.email.providers.0: provider "ghost" is not declared',  # reference
        ':4: categories.news.channels.1: channel "sms" has no providers',  # reference
        ":6: templates.hi.email.subject: template syntax error",  # template
    ]
    for text in expected:
        assert any(text in p for p in found), text
