"""Ingest pipelines: registered under a derived id and applied to the bulk requests."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from connector.index_rules import pipeline_id
from tests.conftest import Database
from tests.integration.ingest_support import define, run

pytestmark = pytest.mark.integration

PIPELINE = {"description": "tag the source", "processors": [{"set": {"field": "source_system", "value": "warehouse"}}]}


@pytest.mark.needs_pipelines
def test_pipeline_is_applied(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    sqlite_db.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    target = f"{target_prefix}piped"
    define(api, sqlite_db, "piped", query="SELECT * FROM t", target=target, pk_field="id", pipeline=PIPELINE)
    final = run(api, "piped")
    assert (final["state"], final["count"]) == ("successful", 2), final
    assert es.get(index=target, id="1")["_source"] == {"id": 1, "v": "a", "source_system": "warehouse"}
    assert es.ingest.get_pipeline(id=pipeline_id(index_prefix, "piped"))


def test_without_pipeline_support_the_run_fails_clearly(
    api: testing.TestClient,
    worker,
    sqlite_db: Database,
    es: Elasticsearch,
    index_prefix: str,
    pipelines_supported: bool,
    target_prefix: str,
) -> None:
    if pipelines_supported:
        pytest.skip("this cluster has ingest pipelines; test_pipeline_is_applied covers it")
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    sqlite_db.execute("INSERT INTO t VALUES (1)")
    target = f"{target_prefix}nopipe"
    define(api, sqlite_db, "nopipe", query="SELECT * FROM t", target=target, pk_field="id", pipeline=PIPELINE)
    final = run(api, "nopipe")
    assert final["state"] == "error"
    assert f"cannot register ingest pipeline [{pipeline_id(index_prefix, 'nopipe')}]" in final["error"][1]
    assert not es.indices.exists(index=target)
