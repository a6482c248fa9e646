"""Deployment settings from the environment: where the database and broker are.

Everything about *what* Clarion sends lives in the YAML; these say *where* it runs, so the
same config file serves the embedded mode on a laptop and the scaled mode in production.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .observability.logs import LogFormat

DEFAULT_DATABASE_URL = "sqlite:///var/clarion.db"
_NO = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    config_path: str = "config/example.yaml"
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None  # None: the in-process broker and worker threads (embedded mode)
    redis_namespace: str = "clarion"  # key prefix, so installations can share one Redis
    migrate_on_start: bool = True
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT
    metrics_token: str | None = None  # None: GET /metrics is open, like the probes

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            config_path=env.get("CLARION_CONFIG", cls.config_path),
            database_url=env.get("CLARION_DATABASE_URL") or DEFAULT_DATABASE_URL,
            broker_url=env.get("CLARION_BROKER_URL") or None,
            redis_namespace=env.get("CLARION_REDIS_NAMESPACE") or cls.redis_namespace,
            migrate_on_start=env.get("CLARION_MIGRATE", "1").strip().lower() not in _NO,
            log_level=env.get("CLARION_LOG_LEVEL", "INFO").upper(),
            log_format=_log_format(env.get("CLARION_LOG_FORMAT") or LogFormat.TEXT),
            metrics_token=env.get("CLARION_METRICS_TOKEN") or None,
        )


def _log_format(value: str) -> LogFormat:
    try:
        return LogFormat(value.strip().lower())
    except ValueError:
        choices = " or ".join(f.value for f in LogFormat)
        raise ValueError(f"CLARION_LOG_FORMAT must be {choices}, not {value!r}") from None
