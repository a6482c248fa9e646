"""What a scaled API replica carries: it checks every provider's options and builds the app, but it
never sends, so no provider's client library (nor Alembic, under --no-migrate) is imported; nor
cryptography before a page or a signed provider event needs it, nor argon2 before a sign-in, nor
websockets (no route is one).

Each of these is megabytes of resident memory for the life of the process (docs/benchmarks.md, G6);
a provider module imports its library where it first sends. Checked in a fresh interpreter, since
this one has imported everything the other tests needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

#: Module names: "google.auth" is google-auth (with "requests" under it), "jwt" PyJWT, "dkim" dkimpy;
#: "cryptography.hazmat" its Rust bindings, where the weight is (redis imports the bare package,
#: a few kB, to learn whether it is installed).
LAZY = (
    *("aiohttp", "aiosmtplib", "alembic", "argon2", "botocore", "cryptography.hazmat", "dkim"),
    *("google.auth", "httpx", "jwt", "requests", "websockets"),
)

# Every built-in provider type but apprise, an optional extra whose options are checked by Apprise
# itself (so it loads with a config that uses it, by design). The repository's plugins/ (the example
# pager) load too, as they do in `clarion serve`.
CONFIG = """\
server: {secret_key: import-weight-secret-key-0123456789}
api_keys: [{name: test, key: import-weight-key}]
inbox: {secret: import-weight-inbox-secret}
channels:
  email: {providers: [smtp, sendgrid, mailgun, postmark, ses, captured]}
  sms: {providers: [twilio, vonage]}
  push: {providers: [fcm, apns]}
  in_app: {providers: [inbox]}
  webhook: {providers: [slack, hook]}
providers:
  smtp: {type: smtp, host: localhost, from: "a@example.com"}
  sendgrid: {type: sendgrid, api_key: sg-key, from: "a@example.com"}
  mailgun: {type: mailgun, api_key: mg-key, domain: mg.example.com, from: "a@example.com"}
  postmark: {type: postmark, server_token: pm-token, from: "a@example.com"}
  ses:
    type: ses
    region: us-east-1
    access_key_id: AKIDEXAMPLE
    secret_access_key: ses-secret
    from: "a@example.com"
    sns_topic_arns: ["arn:aws:sns:us-east-1:123456789012:clarion-events"]
  captured: {type: sandbox}
  twilio:
    type: twilio
    account_sid: AC00000000000000000000000000000000
    auth_token: tw-token
    from: "+15005550006"
  vonage: {type: vonage, api_key: vn-key, api_secret: vn-secret, from: Clarion}
  fcm:
    type: fcm
    service_account_json: >-
      {"type": "service_account", "project_id": "p", "client_email": "c@p.iam.gserviceaccount.com",
       "private_key": "not checked before the first send", "token_uri": "https://oauth2.googleapis.com/token"}
  apns:
    type: apns
    team_id: ABCDE12345
    key_id: KEY1234567
    key_file: /nonexistent/AuthKey.p8  # read at the first send
    topic: com.example.app
  inbox: {type: inbox}
  slack: {type: slack, webhook_url: "https://hooks.slack.com/services/T000/B000/XXXX"}
  hook: {type: webhook, url: "https://example.com/hooks", secret: hook-secret}
categories:
  updates: {priority: normal, channels: [email]}
templates:
  hello:
    email: {subject: "Hello", text: "Hello {{ recipient.id }}"}
"""

# The API's start-up up to serving: the catalog as `clarion serve` loads it, the app, uvicorn's setup.
SCRIPT = """\
import json, sys
from appliance.catalog import load_catalog
from appliance.providers.registry import BUILTIN
from appliance.settings import Settings
from appliance.web.app import create_app
from appliance.web.serving import server_config

config, lazy = sys.argv[1], sys.argv[2:]
catalog = load_catalog(config, environ={})
used = {provider.type for provider in catalog.config.providers.values()}
untested = set(BUILTIN) - {"apprise"} - used
assert not untested, f"add a provider of each type to CONFIG: {sorted(untested)}"
settings = Settings(
    config_path=config,
    database_url="postgresql+psycopg://clarion@127.0.0.1:1/unused",  # nothing connects before start-up
    broker_url="redis://127.0.0.1:1/0",
    migrate_on_start=False,
)
server_config(create_app(settings, catalog), settings).load()
print(json.dumps(sorted(name for name in lazy if name in sys.modules)))
"""


def test_a_scaled_api_replica_imports_no_provider_client_library(tmp_path: Path) -> None:
    config = tmp_path / "clarion.yaml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config), *LAZY],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
