"""Own `connector dev`: an embedded stack on one machine with nothing else installed.

An osmem-server (Elasticsearch-API, in memory), a SQLite demo database with
sample rows registered as datasource ``demo``, a secret key kept in the dev
directory, then the normal `serve` path.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import selectors
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.crypto import SecretBox

DEMO_ROWS = 5000
DEMO_DATASOURCE = "demo"
DEMO_INGESTION = "demo-events"
DEFAULT_DEV_DIR = ".connector-dev"
CATEGORIES = ("music", "sport", "theatre", "cinema", "science")
CITIES = (
    ("Paris", 48.8566, 2.3522),
    ("Galway", 53.2707, -9.0568),
    ("Berlin", 52.52, 13.405),
    ("Lisbon", 38.7223, -9.1393),
    ("Oslo", 59.9139, 10.7522),
)


@dataclass(frozen=True, slots=True)
class DevStack:
    directory: Path
    es_url: str
    secret_key: str
    demo_db: Path
    server: EmbeddedSearch


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
    def start(cls, *, port: int = 0, timeout_s: float = 30.0) -> EmbeddedSearch:
        try:
            from osmem_server import resolve_binary
        except ImportError:
            raise SystemExit(
                "the embedded Elasticsearch-API server is not installed: pip install -e '.[dev]'"
            ) from None
        args = [resolve_binary(), "--addr", f"127.0.0.1:{port}", "--parent-pid", str(os.getpid()), "--no-ja"]
        process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout_s)
        line = process.stdout.readline() if ready else b""
        try:
            url = str(json.loads(line)["url"])
        except (ValueError, KeyError, TypeError):
            process.kill()
            process.wait()
            process.stdout.close()
            raise RuntimeError(f"osmem-server did not start within {timeout_s}s") from None
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


def start_dev_stack(directory: Path, *, es_port: int) -> DevStack:
    """Start osmem-server and prepare the demo database and the secret key."""
    directory.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(directory)
    demo = directory / "demo.db"
    if not demo.is_file():
        create_demo_database(demo)
    server = EmbeddedSearch.start(port=free_port(es_port))
    return DevStack(directory, server.url, key, demo, server)
