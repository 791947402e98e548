"""ingestion.max_rows_per_run: a run too large for the cluster is refused unless allowed."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import BASE, bookkeeping, count, define, run, wait_final

pytestmark = pytest.mark.integration

LIMIT = 50


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "CONNECTOR_INGESTION_MAX_ROWS_PER_RUN": str(LIMIT)}


def _rows(db: Database, rows: int) -> None:
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL)")
    db.execute("INSERT INTO items VALUES " + ", ".join(f"({i}, 'item {i}')" for i in range(1, rows + 1)))


def _leftovers(es: Elasticsearch, target_prefix: str) -> list[str]:
    pattern = f"{target_prefix}*"
    return sorted(es.indices.get(index=pattern, expand_wildcards="all", allow_no_indices=True))


def test_estimate_over_the_limit_fails_before_writing_and_allow_large_lets_it_through(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str, runtime
) -> None:
    _rows(pg, 200)
    pg.execute("ANALYZE items")  # the planner's estimate is what the limit is checked against
    target = f"{target_prefix}big"
    define(api, pg, "big", query="SELECT * FROM items", target=target, pk_field="id", batch_size=20)

    refused = run(api, "big")

    assert refused["state"] == "error"
    assert refused["count"] == 0
    reason = " ".join(refused["error"])
    assert f"more than ingestion.max_rows_per_run ({LIMIT}); nothing was written" in reason
    assert "_run?allow_large=true" in reason and "--allow-large" in reason
    assert _leftovers(es, target_prefix) == []  # no staging index was created

    resp = api.simulate_post(f"{BASE}/ingestion/big/_run", params={"allow_large": "true"})
    assert resp.status_code == 202, resp.text
    assert bookkeeping(runtime, resp.json["status"]).allow_large is True  # a flag of the run, not in its status
    allowed = wait_final(api, "big")
    assert allowed["state"] == "successful", allowed.get("error")
    assert allowed["count"] == 200 == count(es, target)


def test_without_an_estimate_the_run_stops_before_the_batch_that_passes_the_limit(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _rows(sqlite_db, 200)  # SQLite gives no estimate: the limit is checked batch by batch
    target = f"{target_prefix}nolimit"
    define(api, sqlite_db, "stream", query="SELECT * FROM items", target=target, pk_field="id", batch_size=20)

    refused = run(api, "stream")

    assert refused["state"] == "error"
    assert refused["count"] == 40  # two batches of 20; the third would pass 50
    assert "stopped after 40 rows" in " ".join(refused["error"])
    assert _leftovers(es, target_prefix) == []  # the staging index was dropped, not kept for resume
    assert not refused.get("staging_kept")
    assert refused["resumable"] is False  # a resume would start over: the status says so
