"""`clarion`: serve, worker, db upgrade, config check, hash-password, new-api-key."""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from .catalog import Catalog, load_catalog
from .errors import ConfigError
from .observability.logs import configure_logging
from .settings import Settings

#: How long `clarion serve` lets open requests finish at shutdown before it closes them.

_config_option = click.option(
    "--config",
    "config_path",
    envvar="CLARION_CONFIG",
    default=Settings.config_path,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="the operator YAML file",
)


def _catalog_or_exit(path: str) -> Catalog:
    try:
        return load_catalog(path)
    except ConfigError as exc:
        click.echo(f"{len(exc.problems)} problem(s) in {path}:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)


def _settings(config_path: str) -> Settings:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    return replace(settings, config_path=config_path)


@click.group()
def main() -> None:
    """Clarion, the self-hosted notification appliance."""


@main.command()
@_config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-migrate", is_flag=True, help="do not upgrade the database schema at start-up")
def serve(config_path: str, host: str, port: int, no_migrate: bool) -> None:
    """Run the API and UI (and, without CLARION_BROKER_URL, the delivery workers too)."""
    from .web.serving import ReloadableServer

    settings = _settings(config_path)
    if no_migrate:
        settings = replace(settings, migrate_on_start=False)
    catalog = _catalog_or_exit(config_path)
    mode = "embedded (SQLite/in-process)" if settings.embedded else "scaled (external broker)"
    click.echo(f"Clarion on http://{host}:{port}  mode: {mode}  config: {config_path}")
    ReloadableServer(settings, catalog, host, port).run()


@main.command()
@_config_option
@click.option("--queues", "-Q", multiple=True, help="only these queues, e.g. -Q email.high -Q sms.high")
@click.option("--threads", type=int, default=None, help="worker threads (default: delivery.worker_threads)")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    envvar="CLARION_WORKER_METRICS_PORT",
    help="serve this process's Prometheus metrics on this port (all interfaces)",
)
def worker(config_path: str, queues: tuple[str, ...], threads: int | None, metrics_port: int | None) -> None:
    """Run delivery workers against CLARION_BROKER_URL until SIGTERM or SIGINT; SIGHUP reloads the config."""
    from .observability.metrics import serve_metrics
    from .queueing.runtime import WorkerRuntime
    from .queueing.service import delivery_workers, serve_workers

    settings = _settings(config_path)
    if settings.embedded:
        raise click.UsageError("`clarion worker` needs CLARION_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    catalog = _catalog_or_exit(config_path)
    known = WorkerRuntime(settings, catalog).actors.queue_names()
    unknown = set(queues) - set(known)
    if unknown:
        raise click.UsageError(f"unknown queue(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    if metrics_port is not None:
        serve_metrics(metrics_port)
        click.echo(f"clarion worker: Prometheus metrics on http://0.0.0.0:{metrics_port}/metrics")
    threads = threads or catalog.config.delivery.worker_threads
    click.echo(f"clarion worker: {threads} threads on {', '.join(sorted(queues) or ['all queues'])}")
    serve_workers(settings, catalog, delivery_workers(settings, set(queues) or None, threads))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to CLARION_DATABASE_URL (SQLite under ./var by default)."""
    from .db.migrate import upgrade

    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo("database is up to date")


@main.group()
def config() -> None:
    """Operator configuration."""


@config.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def config_check(path: str) -> None:
    """Validate PATH; print every problem with its line and key path (exit 1), or say it is valid."""
    catalog = _catalog_or_exit(path)
    cfg = catalog.config
    click.echo(
        f"{path}: valid — {len(cfg.channels)} channels, {len(cfg.providers)} providers, "
        f"{len(cfg.categories)} categories, {len(cfg.templates)} templates"
    )


@main.command("hash-password")
@click.password_option(prompt="Password", help="read from the prompt when not given")
def hash_password(password: str) -> None:
    """Print an argon2 hash to paste into `users[].password_hash`."""
    from .security.passwords import hash_password as make_hash

    click.echo(make_hash(password))


@main.command("new-api-key")
def new_api_key() -> None:
    """Print a fresh random API key and the digest to store as `key_sha256`."""
    from .security.apikeys import digest, new_key

    key = new_key()
    click.echo(f"key:        {key}\nkey_sha256: {digest(key)}")
