"""Own the `connector` command: server processes, dev stack, admin and client commands."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from api.client import DEFAULT_URL, ClientError, ConnectorClient
from api.dev_stack import DEMO_DATASOURCE, DEMO_INGESTION, demo_ingestion_body, dev_directory, start_dev_stack
from api.metrics_setup import prepare_serve_metrics
from api.runtime import Runtime
from api.server import preflight, run_api, run_worker
from connector.crypto import SecretBox
from connector.doc_store import DocumentStore
from connector.errors import ConnectorError
from connector.key_rotation import SECRET_FIELDS, rotate_index
from connector.log_setup import configure_logging
from connector.security import hash_password, new_token
from connector.settings import Settings, load_settings, parse_bind

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConnectorError as ex:
        _fail(ex.reason)
        raise  # unreachable; keeps type checkers content


def _print(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Siren Federate connector service: SQL datasources into Elasticsearch."""


@main.command()
@click.option("--bind", help="HOST:PORT to listen on (default: CONNECTOR_BIND or 127.0.0.1:8080).")
def serve(bind: str | None) -> None:
    """Run the API (gunicorn) against the configured Elasticsearch."""
    prepare_serve_metrics()  # may restart this process (same pid and arguments) in multiprocess mode
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
def worker() -> None:
    """Run a worker: claim queued runs and execute them (any number, on any host)."""
    settings = _settings()
    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        run_worker(settings)
    except ConnectorError as ex:
        _fail(ex.reason)


@main.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="API address.")
@click.option(
    "--es-port", default=9200, show_default=True, help="Preferred port of the embedded Elasticsearch-API server."
)
def dev(bind: str, es_port: int) -> None:
    """Start the embedded development stack: osmem-server, SQLite demo data, the API."""
    prepare_serve_metrics()  # before anything starts: it may restart this process
    stack = start_dev_stack(dev_directory(), es_port=es_port)
    os.environ["CONNECTOR_ES_URL"] = stack.es_url
    os.environ.setdefault("CONNECTOR_SECRET_KEY", stack.secret_key)
    os.environ["CONNECTOR_BIND"] = bind
    # The demo database lives in the dev directory: SQLite files may be read from there.
    os.environ.setdefault("CONNECTOR_SQL_SQLITE_ROOTS", orjson.dumps([str(stack.directory)]).decode())
    settings = _settings()
    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        preflight(settings)
        runtime = Runtime.build(settings)
        runtime.datasources.put(
            DEMO_DATASOURCE,
            {"jdbc": {"url": f"jdbc:sqlite:{stack.demo_db}"}, "description": "connector dev demo data"},
            overwrite=True,
        )
        runtime.ingestions.put(DEMO_INGESTION, demo_ingestion_body())
        runtime.close()
    except ConnectorError as ex:
        stack.server.stop()
        _fail(ex.reason)
    host, port = parse_bind(bind)
    base = f"http://{host}:{port}/_siren/connector"
    click.echo(
        f"\nconnector dev stack\n"
        f"  API                 {base}\n"
        f"  web page            {base}/_ui/\n"
        f"  Elasticsearch API   {stack.es_url} (osmem-server, in memory)\n"
        f"  demo datasource     {DEMO_DATASOURCE} -> {stack.demo_db} (table events)\n"
        f"  secret key          {stack.directory / 'secret.key'}\n\n"
        f"  demo ingestion      {DEMO_INGESTION} -> index events\n\n"
        f"  try: curl -s {base}/datasource/{DEMO_DATASOURCE}/_validate -XPOST\n"
        f"       curl -s {base}/datasource/{DEMO_DATASOURCE}/_sample -XPOST "
        f'-H \'Content-Type: application/json\' -d \'{{"query": "SELECT * FROM events", "size": 3}}\'\n'
        f"       connector ingestion run {DEMO_INGESTION} --watch   (CONNECTOR_URL=http://{host}:{port})\n"
        f"       curl -s {base}/jobs/ingestion/{DEMO_INGESTION}\n"
    )
    try:
        run_api(settings)
    finally:
        stack.server.stop()


@main.group()
def secrets() -> None:
    """Secret key management."""


@secrets.command("generate-key")
def generate_key() -> None:
    """Print a new CONNECTOR_SECRET_KEY (32 random bytes, urlsafe base64)."""
    click.echo(SecretBox.generate_key())


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret with CONNECTOR_SECRET_KEY.

    Set the new key as CONNECTOR_SECRET_KEY and the old one(s) in
    CONNECTOR_PREVIOUS_SECRET_KEYS (a JSON list) while this runs and while
    services still run with the old key; afterwards the old keys can go.
    """
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
@click.password_option()
def hash_password_command(password: str) -> None:
    """Print the stored form of a basic-auth password (for auth.users)."""
    click.echo(hash_password(password))


# ---------------------------------------------------------------- client commands


def _client() -> ConnectorClient:
    return ConnectorClient(os.environ.get("CONNECTOR_URL", DEFAULT_URL), token=os.environ.get("CONNECTOR_TOKEN"))


def _call(method: str, path: str, body: Any = None, **params: Any) -> Any:
    try:
        return _client().request(method, path, body, params)
    except ClientError as ex:
        if ex.body is not None:
            _print(ex.body)
        _fail(str(ex))


def _read_body(path: str) -> Any:
    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as ex:
        _fail(f"{path}: not JSON ({ex})")


@main.group()
def datasource() -> None:
    """Datasource client commands (CONNECTOR_URL, CONNECTOR_TOKEN)."""


@datasource.command("put")
@click.argument("ds_id")
@click.option("--file", "file_", required=True, help="JSON body, or - for stdin.")
@click.option("--overwrite", is_flag=True)
def datasource_put(ds_id: str, file_: str, overwrite: bool) -> None:
    _print(_call("PUT", f"/_siren/connector/datasource/{ds_id}", _read_body(file_), overwrite=overwrite or None))


@datasource.command("get")
@click.argument("ds_id")
def datasource_get(ds_id: str) -> None:
    _print(_call("GET", f"/_siren/connector/datasource/{ds_id}"))


@datasource.command("list")
@click.option("--from", "from_", type=int, default=0)
@click.option("--size", type=int, default=100)
def datasource_list(from_: int, size: int) -> None:
    _print(_call("GET", "/_siren/connector/datasource/_search", **{"from": from_, "size": size}))


@datasource.command("delete")
@click.argument("ds_id")
@click.option("--force", is_flag=True)
def datasource_delete(ds_id: str, force: bool) -> None:
    _print(_call("DELETE", f"/_siren/connector/datasource/{ds_id}", force=force or None))


@datasource.command("validate")
@click.argument("ds_id")
def datasource_validate(ds_id: str) -> None:
    _print(_call("POST", f"/_siren/connector/datasource/{ds_id}/_validate"))


@datasource.command("metadata")
@click.argument("ds_id")
@click.option("--catalog")
@click.option("--schema")
@click.option("--table")
def datasource_metadata(ds_id: str, catalog: str | None, schema: str | None, table: str | None) -> None:
    _print(
        _call("POST", f"/_siren/connector/datasource/{ds_id}/_metadata", catalog=catalog, schema=schema, table=table)
    )


@datasource.command("sample")
@click.argument("ds_id")
@click.option("--query", required=True)
@click.option("--size", type=int, default=10)
def datasource_sample(ds_id: str, query: str, size: int) -> None:
    _print(_call("POST", f"/_siren/connector/datasource/{ds_id}/_sample", {"query": query, "size": size}))


def _name_values(_ctx: click.Context, _param: click.Parameter, given: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` options as a dict; anything else is refused, never dropped."""
    values: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE")
        values[name] = value
    return values


@main.group()
def ingestion() -> None:
    """Ingestion client commands (CONNECTOR_URL, CONNECTOR_TOKEN)."""


@ingestion.command("put")
@click.argument("ingestion_id")
@click.option("--file", "file_", required=True, help='JSON body {"ingest": {...}}, or - for stdin.')
def ingestion_put(ingestion_id: str, file_: str) -> None:
    _print(_call("PUT", f"/_siren/connector/ingestion/{ingestion_id}", _read_body(file_)))


@ingestion.command("get")
@click.argument("ingestion_id")
def ingestion_get(ingestion_id: str) -> None:
    _print(_call("GET", f"/_siren/connector/ingestion/{ingestion_id}"))


@ingestion.command("list")
@click.option("--from", "from_", type=int, default=0)
@click.option("--size", type=int, default=100)
def ingestion_list(from_: int, size: int) -> None:
    _print(_call("GET", "/_siren/connector/ingestion/_search", **{"from": from_, "size": size}))


@ingestion.command("delete")
@click.argument("ingestion_id")
def ingestion_delete(ingestion_id: str) -> None:
    _print(_call("DELETE", f"/_siren/connector/ingestion/{ingestion_id}"))


@ingestion.command("validate")
@click.argument("ingestion_id")
@click.option("--size", type=int, default=5)
def ingestion_validate(ingestion_id: str, size: int) -> None:
    _print(_call("POST", f"/_siren/connector/ingestion/{ingestion_id}/_validate", {"size": size}))


@ingestion.command("run")
@click.argument("ingestion_id")
@click.option(
    "--param", "params", multiple=True, callback=_name_values, help="NAME=VALUE passed to the query template."
)
@click.option("--watch", is_flag=True, help="Follow the run with a progress bar until it ends.")
def ingestion_run(ingestion_id: str, params: dict[str, str], watch: bool) -> None:
    queued = _call("POST", f"/_siren/connector/ingestion/{ingestion_id}/_run", {"params": params} if params else None)
    if not watch:
        _print(queued)
        return
    _watch(ingestion_id)


@main.group()
def jobs() -> None:
    """Job client commands (CONNECTOR_URL, CONNECTOR_TOKEN)."""


@jobs.command("status")
@click.argument("job_id")
@click.option("--type", "job_type", default="ingestion", show_default=True)
@click.option("--watch", is_flag=True, help="Follow a running job with a progress bar.")
def jobs_status(job_id: str, job_type: str, watch: bool) -> None:
    if watch:
        _watch(job_id, job_type)
    else:
        _print(_call("GET", f"/_siren/connector/jobs/{job_type}/{job_id}"))


@jobs.command("abort")
@click.argument("job_id")
@click.option("--type", "job_type", default="ingestion", show_default=True)
def jobs_abort(job_id: str, job_type: str) -> None:
    _print(_call("POST", f"/_siren/connector/jobs/{job_type}/{job_id}/_abort"))


def _watch(job_id: str, job_type: str = "ingestion", *, interval_s: float = 1.0) -> None:
    """Poll a job and draw a live progress bar (documents, rate, ETA) until it ends."""
    path = f"/_siren/connector/jobs/{job_type}/{job_id}"
    status = _call("GET", path)["status"]
    with click.progressbar(length=1000, label=f"{job_id} {status['state']}", show_percent=True) as bar:
        shown = 0
        while status["is_running"]:
            progress = status.get("progress")
            eta = status.get("estimated_time_remaining")
            bar.label = f"{job_id} {status['state']} {status.get('count', 0)} docs" + (
                f" ETA {eta / 1000:.0f}s" if eta is not None else ""
            )
            target = int((progress or 0) * 1000)
            bar.update(max(0, target - shown))
            shown = max(shown, target)
            time.sleep(interval_s)
            status = _call("GET", path)["status"]
        bar.update(1000 - shown if status["state"] == "successful" else 0)
    _print(status)
    if status["state"] != "successful":
        sys.exit(1)


if __name__ == "__main__":
    main()
