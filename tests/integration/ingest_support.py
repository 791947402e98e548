"""Helpers for ingestion tests driven through the HTTP API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import urllib3
from elasticsearch import Elasticsearch
from falcon import testing

from ingestion.workers.worker import Worker
from tests.conftest import Database
from tests.support import wait_until

BASE = "/_siren/connector"
FINAL = ("successful", "error", "aborted")


def define(api: testing.TestClient, db: Database, ingestion_id: str, *, datasource: str = "db", **ingest: Any) -> None:
    """Register the datasource (once) and the ingestion; assert both are accepted."""
    if api.simulate_get(f"{BASE}/datasource/{datasource}").status_code == 404:
        resp = api.simulate_put(f"{BASE}/datasource/{datasource}", json={"jdbc": {"url": db.jdbc_url}})
        assert resp.status_code == 201, resp.text
    resp = api.simulate_put(f"{BASE}/ingestion/{ingestion_id}", json={"ingest": {"datasource": datasource, **ingest}})
    assert resp.status_code in (200, 201), resp.text


def start(api: testing.TestClient, ingestion_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = api.simulate_post(f"{BASE}/ingestion/{ingestion_id}/_run", json={"params": params} if params else None)
    assert resp.status_code == 202, resp.text
    assert resp.headers["location"] == f"{BASE}/jobs/ingestion/{ingestion_id}"
    return resp.json


def status(api: testing.TestClient, ingestion_id: str) -> dict[str, Any]:
    return api.simulate_get(f"{BASE}/jobs/ingestion/{ingestion_id}").json["status"]


def wait_final(api: testing.TestClient, ingestion_id: str, *, timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        current = status(api, ingestion_id)
        return current if current["state"] in FINAL else None

    return wait_until(ended, timeout=timeout, interval=0.1, what=f"run of {ingestion_id} to end")


def run(api: testing.TestClient, ingestion_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    start(api, ingestion_id, params)
    return wait_final(api, ingestion_id)


def count(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def ids(es: Elasticsearch, index: str) -> list[str]:
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=10_000, source=False)["hits"]["hits"]
    return sorted(hit["_id"] for hit in hits)


def raw_source(es_url: str, index: str, doc_id: str) -> dict[str, Any]:
    """A document's _source parsed with exact decimals (the client would parse floats)."""
    http = urllib3.PoolManager()
    resp = http.request("GET", f"{es_url}/{index}/_doc/{doc_id}", headers={"Accept": "application/json"})
    assert resp.status == 200, resp.data
    return json.loads(resp.data, parse_float=Decimal)["_source"]


def slow_table(db: Database, name: str, rows: int, *, pause_every: int = 100, pause_s: float = 0.2) -> str:
    """A PostgreSQL table with a primary key, analyzed, and a query that pauses every few rows.

    The table is large enough for PostgreSQL to read it through the primary-key
    index in key order, so the pauses happen as the cursor is read instead of
    all before the first row (which a sort would do).
    """
    db.execute(f"CREATE TABLE {name} AS SELECT g AS id, 'row ' || g AS name FROM generate_series(1, {rows}) g")
    db.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
    db.execute(f"ANALYZE {name}")
    return (
        f"SELECT id, name, CASE WHEN id % {pause_every} = 0 THEN pg_sleep({pause_s})::text END AS pause "
        f"FROM {name} ORDER BY id"
    )


def bookkeeping(runtime: Any, run: dict[str, Any]) -> Any:
    """The stored run behind a status, with what the service keeps beside it (checkpoint, flags)."""
    stored = runtime.jobs.get_run(run["run_id"])
    assert stored is not None, run
    return stored.status


@contextmanager
def worker_rendering(runtime: Any, *, server_rendering: bool) -> Iterator[None]:
    """A worker (a thread) whose ``ingestion.server_rendering`` is as given: the switch of the Python path."""
    base = runtime.run_context()
    limits = base.settings.ingestion.model_copy(update={"server_rendering": server_rendering})
    ctx = replace(base, settings=base.settings.model_copy(update={"ingestion": limits}))
    stop = threading.Event()
    worker = Worker(ctx, name=f"worker-rendering-{server_rendering}")
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
