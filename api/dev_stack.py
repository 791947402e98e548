"""Own `connector dev`: an embedded stack on one machine with nothing else installed.

An osmem-server (Elasticsearch-API, in memory, loaded from the state saved by
``api.dev_state``), a SQLite demo database with sample rows registered as
datasource ``demo``, a secret key kept in the dev directory, then the normal
`serve` path. Ports are checked before anything starts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import selectors
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.dev_state import DevState, Snapshotter
from api.runtime import Runtime
from api.server import port_problem, preflight, run_api
from connector.crypto import SecretBox
from connector.errors import ConnectorError, NotFound
from connector.es_client import create_client
from connector.indices import IndexNames
from connector.log_setup import configure_logging
from connector.settings import Settings, load_settings, parse_bind

DEMO_ROWS = 5000
DEMO_DATASOURCE = "demo"
DEMO_INGESTION = "demo-events"
DEFAULT_DEV_DIR = ".connector-dev"
# What the embedded server can hold without taking the machine down (it went to
# 6.4 GB RSS for ~405k documents); runs above need allow_large.
DEV_MAX_ROWS_PER_RUN = 100_000
CATEGORIES = ("music", "sport", "theatre", "cinema", "science")
CITIES = (
    ("Paris", 48.8566, 2.3522),
    ("Galway", 53.2707, -9.0568),
    ("Berlin", 52.52, 13.405),
    ("Lisbon", 38.7223, -9.1393),
    ("Oslo", 59.9139, 10.7522),
)


def demo_ingestion_body() -> dict[str, Any]:
    """A REPLACE ingestion of the demo table into the ``events`` alias, with a geo_point."""
    return {
        "ingest": {
            "datasource": DEMO_DATASOURCE,
            "query": "SELECT * FROM events",
            "target": "events",
            "strategy": "REPLACE",
            "pk_field": "id",
            "batch_size": 1000,
            "count_total": True,  # an exact count(*) first: SQLite gives no estimate, and the demo shows progress
            "transforms": [
                {"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"},
                {
                    "input": [{"source": "starts_at"}],
                    "output": "starts",
                    "transform": "date",
                    "params": {"format": "yyyy-MM-dd HH:mm:ss"},
                },
            ],
            "description": "connector dev demo: 5000 events with a location",
        }
    }


def dev_directory(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CONNECTOR_DEV_DIR", DEFAULT_DEV_DIR)).resolve()


def load_or_create_key(directory: Path) -> str:
    """Return the dev secret key, generating it (mode 0600) on first use."""
    path = directory / "secret.key"
    if path.is_file():
        return path.read_text(encoding="ascii").strip()
    key = SecretBox.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def create_demo_database(path: Path, *, rows: int = DEMO_ROWS, seed: int = 7) -> None:
    """(Re)create the SQLite demo table ``events`` with ``rows`` deterministic rows."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,"
            " city TEXT NOT NULL, lat REAL, lon REAL, price NUMERIC, starts_at TEXT NOT NULL,"
            " sold_out INTEGER NOT NULL)"
        )
        data = []
        for i in range(1, rows + 1):
            city, lat, lon = rng.choice(CITIES)
            category = rng.choice(CATEGORIES)
            when = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
            data.append(
                (
                    i,
                    f"{category.title()} night #{i}",
                    category,
                    city,
                    round(lat + rng.uniform(-0.05, 0.05), 5),
                    round(lon + rng.uniform(-0.05, 0.05), 5),
                    round(rng.uniform(5, 120), 2),
                    when.strftime("%Y-%m-%d %H:%M:%S"),
                    int(rng.random() < 0.1),
                )
            )
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
    conn.close()
    tmp.replace(path)


def free_port(preferred: int) -> int:
    """Return ``preferred`` if nothing listens there, else a free ephemeral port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


class EmbeddedSearchError(RuntimeError):
    """The embedded server did not start (bad seed, port taken, binary missing)."""


class EmbeddedSearch:
    """An osmem-server process (in-memory Elasticsearch API) owned by this process.

    It runs in its own session so that a Ctrl-C or SIGTERM sent to our process
    group does not stop it before the API workers that use it; it exits when
    we close its stdin or when this process dies (``--parent-pid``).
    """

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    @classmethod
    def start(
        cls, *, port: int = 0, seed: Sequence[Path] = (), log_path: Path | None = None, timeout_s: float = 30.0
    ) -> EmbeddedSearch:
        """Start the server on ``port`` (0: any), loading each ``seed`` directory first.

        Its diagnostics go to ``log_path`` when given (else to our stderr);
        EmbeddedSearchError says why it did not start.
        """
        try:
            from osmem_server import resolve_binary
        except ImportError:
            raise EmbeddedSearchError(
                "the embedded Elasticsearch-API server is not installed: pip install -e '.[dev]'"
            ) from None
        args = [resolve_binary(), "--addr", f"127.0.0.1:{port}", "--parent-pid", str(os.getpid()), "--no-ja"]
        for path in seed:
            args += ["--seed", str(path)]
        log_file = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115 - closed below
        try:
            process = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, start_new_session=True
            )
        finally:
            if log_file is not None:
                log_file.close()  # the child has its own descriptor
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout_s)
        line = process.stdout.readline() if ready else b""
        try:
            url = str(json.loads(line)["url"])
        except (ValueError, KeyError, TypeError):
            process.kill()
            code = process.wait()
            process.stdout.close()
            if process.stdin is not None:
                process.stdin.close()
            said = _last_line(log_path) if log_path is not None else ""
            why = f": {said}" if said else f" (exit code {code})" if ready else f" within {timeout_s}s"
            raise EmbeddedSearchError(f"osmem-server did not start{why}") from None
        return cls(process, url)

    def stop(self, *, grace_s: float = 5.0) -> None:
        if self.process.poll() is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def prepare_directory(directory: Path) -> tuple[str, Path]:
    """Create the dev directory with its secret key and demo database; return both."""
    directory.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(directory)
    demo = directory / "demo.db"
    if not demo.is_file():
        create_demo_database(demo)
    return key, demo


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


class DevStackError(Exception):
    """`connector dev` cannot start; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class DevPlan:
    """Where the stack will listen and keep its files, decided before anything starts."""

    bind: str
    api_url: str
    es_port: int
    directory: Path


def plan(bind: str, es_port: int | None, preferred_es_port: int, directory: Path) -> DevPlan:
    """Check both ports (and the bind address) before anything starts; DevStackError names the option.

    Without ``es_port``, the embedded server takes ``preferred_es_port``, or a free port when that is taken.
    """
    try:
        host, port = parse_bind(bind)
    except ValueError as ex:
        raise DevStackError(f"--bind: {ex}") from None
    problem = port_problem(host, port)
    if problem:
        raise DevStackError(f"--bind {bind}: {problem}; stop what listens there, or choose another with --bind")
    if es_port is None:
        es_port = free_port(preferred_es_port)
    else:
        problem = port_problem("127.0.0.1", es_port)
        if problem:
            raise DevStackError(
                f"--es-port {es_port}: {problem}; choose another, or leave --es-port out to use a free one"
            )
    shown = f"[{host}]" if ":" in host else host
    return DevPlan(bind, f"http://{shown}:{port}", es_port, directory)


def run(dev: DevPlan, *, echo: Callable[[str], None]) -> None:
    """Start the stack, print the banner, serve until stopped, then save the state and stop."""
    key, demo = prepare_directory(dev.directory)
    # The environment is how the API and worker processes get their settings.
    os.environ["CONNECTOR_ES_URL"] = f"http://127.0.0.1:{dev.es_port}"
    os.environ["CONNECTOR_BIND"] = dev.bind
    os.environ.setdefault("CONNECTOR_SECRET_KEY", key)
    os.environ.setdefault("CONNECTOR_INGESTION_MAX_ROWS_PER_RUN", str(DEV_MAX_ROWS_PER_RUN))
    # The demo database lives in the dev directory: SQLite files may be read from there.
    os.environ.setdefault("CONNECTOR_SQL_SQLITE_ROOTS", json.dumps([str(dev.directory)]))
    try:
        settings = load_settings()
    except ConnectorError as ex:
        raise DevStackError(ex.reason) from None
    configure_logging(settings.log_level, log_format=settings.log_format)
    state = DevState(dev.directory)
    saved = state.recover()
    try:
        server = EmbeddedSearch.start(
            port=dev.es_port, seed=[saved] if saved else [], log_path=dev.directory / "osmem-server.log"
        )
    except EmbeddedSearchError as ex:
        hint = f" (loading the saved state {saved}; move it away to start empty)" if saved else ""
        raise DevStackError(f"{ex}{hint}") from None
    try:
        _prepare_service(settings, demo)
        es, _ = create_client(settings.elasticsearch)
    except ConnectorError as ex:
        server.stop()
        raise DevStackError(ex.reason) from None
    snapshots = Snapshotter(state, es, IndexNames(settings.index_prefix))
    echo(banner(dev, server.url, demo, restored=saved is not None, max_rows=settings.ingestion.max_rows_per_run))
    snapshots.start()
    owner = os.getpid()
    try:
        run_api(settings)  # returns (or raises SystemExit) once the API and its workers have stopped
    finally:
        # gunicorn's forked API workers leave through here too (SystemExit unwinds their copy of
        # this stack): only the process that started the stack saves and stops it.
        if os.getpid() == owner:
            if snapshots.stop():
                echo(f"connector dev stopped; state saved in {state.current}")
            es.close()
            server.stop()


def _prepare_service(settings: Settings, demo: Path) -> None:
    """Bootstrap the indices; register the demo datasource and ingestion unless they exist."""
    preflight(settings)
    runtime = Runtime.build(settings)
    try:
        try:
            runtime.datasources.get(DEMO_DATASOURCE)
        except NotFound:
            runtime.datasources.put(
                DEMO_DATASOURCE,
                {"jdbc": {"url": f"jdbc:sqlite:{demo}"}, "description": "connector dev demo data"},
                overwrite=False,
            )
        try:
            runtime.ingestions.get(DEMO_INGESTION)
        except NotFound:
            runtime.ingestions.put(DEMO_INGESTION, demo_ingestion_body())
    finally:
        runtime.close()


def shell_command(argv0: str | None = None) -> str:
    """How the user's shell calls this ``connector``: its name when PATH finds this one, else its path."""
    argv0 = argv0 if argv0 is not None else sys.argv[0]
    if os.path.basename(argv0) != "connector":  # python -m api.cli, a test harness: say the usual name
        return "connector"
    found = shutil.which("connector")
    if found and os.path.realpath(found) == os.path.realpath(argv0):
        return "connector"
    relative = os.path.relpath(argv0)
    return shlex.quote(relative if not relative.startswith("..") and os.sep in relative else os.path.abspath(argv0))


def banner(dev: DevPlan, es_url: str, demo: Path, *, restored: bool, max_rows: int) -> str:
    base = f"{dev.api_url}/_siren/connector"
    cli = shell_command()
    state = "reloaded from" if restored else "saved in"
    limit = f"runs above {max_rows:,} rows need --allow-large" if max_rows else "no row limit per run"
    return (
        f"\nconnector dev: a stack for trying the service on this machine, not for production\n"
        f"  API                 {base}\n"
        f"  web page            {base}/_ui/\n"
        f"  Elasticsearch API   {es_url}\n"
        f"                      osmem-server, an in-memory test server: it indexes a few thousand\n"
        f"                      documents per second and holds every document in memory ({limit})\n"
        f"  state               {state} {dev.directory / 'state'}: datasources, ingestions, job log\n"
        f"                      (indexed documents are not kept across restarts)\n"
        f"  demo datasource     {DEMO_DATASOURCE} -> {demo} (table events)\n"
        f"  demo ingestion      {DEMO_INGESTION} -> index events\n"
        f"  secret key          {dev.directory / 'secret.key'}\n\n"
        f"  try: export CONNECTOR_URL={dev.api_url}\n"
        f"       {cli} ingestion run {DEMO_INGESTION} --watch\n"
        f"       {cli} jobs history {DEMO_INGESTION}\n"
        f"       {cli} datasource sample {DEMO_DATASOURCE} --query 'SELECT * FROM events' --size 3\n"
        f"       curl -s {base}/jobs/ingestion/{DEMO_INGESTION}\n"
    )
