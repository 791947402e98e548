"""Engine metrics recorded by real runs, scraped through /metrics (single process: the test's own worker)."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import Elasticsearch
from falcon import testing
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from connector.metrics import OTHER_INGESTIONS
from tests.conftest import Database
from tests.integration.ingest_support import BASE, count, define, run

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(api: testing.TestClient) -> Samples:
    resp = api.simulate_get("/metrics")
    assert resp.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def ingestion_values(samples: Samples, ingestion: str) -> dict[str, float]:
    return {
        name: v
        for (name, labels), v in samples.items()
        if dict(labels).get("ingestion") == ingestion and not name.endswith("_created")
    }


def test_rows_documents_rejections_and_runs_are_counted_per_ingestion(
    api: testing.TestClient,
    worker: Any,
    sqlite_db: Database,
    es: Elasticsearch,
    test_tag: str,
    target_prefix: str,
    runtime: Any,
    settings: Any,
) -> None:
    sqlite_db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, n TEXT)")
    sqlite_db.execute(
        "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1000) "
        "INSERT INTO m SELECT i, CASE WHEN i % 100 = 0 THEN 'x' || i ELSE i END FROM g"
    )
    job, other = f"{test_tag}-m", f"{test_tag}-gone"
    for ingestion in (job, other):
        define(
            api,
            sqlite_db,
            ingestion,
            query="SELECT * FROM m",
            target=f"{target_prefix}{ingestion}",
            pk_field="id",
            mapping={"properties": {"n": {"type": "integer"}}},
            max_error_ratio=0.05,
            batch_size=128,
        )
    before = scrape(api)
    final = run(api, job)
    assert (final["state"], final["count"], final["error_count"]) == ("successful", 990, 10), final
    assert run(api, other)["state"] == "successful"

    after = scrape(testing.TestClient(create_app(settings, runtime.services())))  # job-log gauges are cached 5 s
    mine = ingestion_values(after, job)
    assert mine == {
        "connector_rows_read_total": 1000,
        "connector_documents_indexed_total": final["count"],
        "connector_documents_rejected_total": final["error_count"],
        "connector_runs_started_total": 1,
        "connector_runs_ended_total": 1,
    }
    assert value(after, "connector_runs_ended_total", ingestion=job, outcome="successful") == 1
    assert count(es, f"{target_prefix}{job}") == final["count"]
    bulk = value(after, "connector_bulk_requests_total") - value(before, "connector_bulk_requests_total")
    assert bulk >= 2 * 8  # two runs of 8 batches, one request each
    assert value(after, "connector_bulk_sent_bytes_total") > value(before, "connector_bulk_sent_bytes_total")
    latency = "connector_bulk_request_duration_seconds_count"
    assert value(after, latency) - value(before, latency) == bulk
    assert value(after, "connector_runs_active") == 0
    assert value(after, "connector_job_log_up") == 1
    assert value(after, "connector_job_log_runs", state="successful") >= 2

    # A deleted ingestion keeps no series of its own: its counts move to _other, totals are kept.
    others_before = value(after, "connector_rows_read_total", ingestion=OTHER_INGESTIONS)
    assert api.simulate_delete(f"{BASE}/ingestion/{other}").status_code == 200
    fresh = testing.TestClient(create_app(settings, runtime.services()))  # a new scrape cache
    folded = scrape(fresh)
    assert ingestion_values(folded, other) == {}
    assert value(folded, "connector_rows_read_total", ingestion=OTHER_INGESTIONS) == others_before + 1000
    assert ingestion_values(folded, job) == mine
    labels = {dict(labels).get("ingestion") for (_, labels) in folded}
    defined = set(runtime.ingestion_store.ids(limit=10_000, timeout_s=5))
    assert labels <= defined | {OTHER_INGESTIONS, None}
