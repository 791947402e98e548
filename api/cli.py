"""Own the `connector` command: server processes, dev stack, admin and client commands."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from api.commands.datasources import datasource
from api.commands.ingestions import ingestion
from api.commands.jobs import jobs
from api.commands.output import echo
from connector.errors import ConnectorError
from connector.settings import Settings, load_settings, parse_bind

# Server and admin commands import their modules when they run: the client
# commands (and shell completion) then start without loading the service.

F = TypeVar("F", bound=Callable[..., Any])
DEV_BIND = "127.0.0.1:8080"
DEV_ES_PORT = 9200  # preferred; another free port when it is taken and --es-port is not given
PACKAGE = "siren-connector-service"


def _fail(message: str) -> None:
    echo(f"error: {message}", err=True)  # may quote Elasticsearch or a settings file
    sys.exit(1)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConnectorError as ex:
        _fail(ex.reason)
        raise  # unreachable; keeps type checkers content


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=PACKAGE, prog_name="connector", message="%(prog)s %(version)s")
def main() -> None:
    """Siren Federate connector service: SQL datasources into Elasticsearch.

    Shell completion (commands, options and the ids the service knows): add to ~/.bashrc

    \b
        eval "$(_CONNECTOR_COMPLETE=bash_source connector)"

    (zsh_source or fish_source for zsh and fish).
    """


@main.command()
@click.option("--bind", help="HOST:PORT to listen on (default: CONNECTOR_BIND or 127.0.0.1:8080).")
def serve(bind: str | None) -> None:
    """Run the service: the API (gunicorn) and its workers."""
    from api.metrics_setup import prepare_serve_metrics

    prepare_serve_metrics()  # may restart this process (same pid and arguments) in multiprocess mode
    from api.server import preflight, run_api
    from connector.log_setup import configure_logging

    if bind:
        try:
            parse_bind(bind)
        except ValueError as ex:
            _fail(f"--bind: {ex}")
        os.environ["CONNECTOR_BIND"] = bind  # gunicorn workers read settings from the environment
    settings = _settings()
    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        preflight(settings)
    except ConnectorError as ex:
        _fail(ex.reason)
    run_api(settings)


@main.command()
@click.option(
    "--parent-pid",
    type=int,
    help="Stop (as on SIGTERM) when this process is gone; `serve` and `dev` pass their own pid.",
)
def worker(parent_pid: int | None) -> None:
    """Run a worker only: claim and execute queued runs.

    Run any number of them, on any host, against the same Elasticsearch.
    """
    from api.server import run_worker
    from connector.log_setup import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        run_worker(settings, parent_pid=parent_pid)
    except ConnectorError as ex:
        _fail(ex.reason)


@main.command()
@click.option("--bind", default=DEV_BIND, show_default=True, help="HOST:PORT of the API; must be free.")
@click.option(
    "--es-port",
    type=click.IntRange(1, 65535),
    help=f"Port of the embedded Elasticsearch-API server; must be free. [default: {DEV_ES_PORT}, "
    "or a free port when it is taken]",
)
def dev(bind: str, es_port: int | None) -> None:
    """Try the service here: everything in one command, in memory.

    An in-memory Elasticsearch-API server (osmem-server), a SQLite demo
    datasource and ingestion, the API and a worker.

    State (datasources, ingestions, job log) is kept in CONNECTOR_DEV_DIR
    (default .connector-dev) across restarts; indexed documents are not.
    """
    from api.metrics_setup import prepare_serve_metrics

    prepare_serve_metrics()  # before anything starts: it may restart this process
    from api import dev_stack

    try:
        dev_stack.run(dev_stack.plan(bind, es_port, DEV_ES_PORT, dev_stack.dev_directory()), echo=click.echo)
    except dev_stack.DevStackError as ex:
        _fail(str(ex))


@main.group()
def secrets() -> None:
    """Secret key management."""


@secrets.command("generate-key")
def generate_key() -> None:
    """Print a new CONNECTOR_SECRET_KEY (32 random bytes, urlsafe base64)."""
    from connector.crypto import SecretBox

    click.echo(SecretBox.generate_key())


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret with CONNECTOR_SECRET_KEY.

    Set the new key as CONNECTOR_SECRET_KEY and the old one(s) in
    CONNECTOR_PREVIOUS_SECRET_KEYS (a JSON list) while this runs and while
    services still run with the old key; afterwards the old keys can go.
    """
    from api.runtime import Runtime
    from connector.doc_store import DocumentStore
    from connector.key_rotation import SECRET_FIELDS, rotate_index
    from connector.log_setup import configure_logging

    settings = _settings()
    configure_logging("WARNING")
    try:
        runtime = Runtime.build(settings)
        try:
            for name, fields in SECRET_FIELDS.items():
                docs = DocumentStore(runtime.es, getattr(runtime.names, name))
                report = rotate_index(docs, fields, runtime.box)
                click.echo(f"{name}: {report.secrets} secrets in {report.documents} documents re-encrypted")
        finally:
            runtime.close()
    except ConnectorError as ex:
        _fail(ex.reason)


@main.group()
def token() -> None:
    """API token management."""


@token.command("create")
@click.option("--name", required=True, help="Who or what uses the token.")
@click.option("--scopes", required=True, help="Comma list of job:read, job:write, admin.")
@click.option("--expires-in-days", type=click.IntRange(min=1), help="Refuse the token after this many days.")
def token_create(name: str, scopes: str, expires_in_days: int | None) -> None:
    """Print a new token once, and the hashed entry to add to auth.tokens."""
    from connector.security import new_token

    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    bad = [s for s in wanted if s not in ("job:read", "job:write", "admin")]
    if bad or not wanted:
        _fail(f"--scopes: unknown scope(s) {bad}; use job:read, job:write, admin")
    secret, hashed = new_token()
    click.echo(f"token (shown once): {secret}")
    click.echo("add to config/connector.toml:")
    entry = f'[[auth.tokens]]\nname = "{name}"\nhash = "{hashed}"\nscopes = {orjson.dumps(wanted).decode()}'
    if expires_in_days:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days)
        entry += f"\nexpires = {expires.isoformat(timespec='seconds')}"
    click.echo(entry)


@main.command("hash-password")
@click.password_option(help="The password (prompted for, twice, when not given).")
def hash_password_command(password: str) -> None:
    """Print a basic-auth password hash (for auth.users)."""
    from connector.security import hash_password

    click.echo(hash_password(password))


for _group in (datasource, ingestion, jobs):
    main.add_command(_group)


if __name__ == "__main__":
    main(prog_name="connector")
