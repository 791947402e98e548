"""Runs whose batches are cut by bytes (``ingestion.batch_max_bytes``) lose and repeat no row."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import count, define, run

pytestmark = pytest.mark.integration


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "CONNECTOR_INGESTION_BATCH_MAX_BYTES": "5000"}  # about 2 wide rows, 100 narrow ones


def _rows(db: Database, first: int, last: int) -> None:
    """Narrow rows, except every fifth of about 2 kB."""
    values = ", ".join(f"({i}, '{('w' * 2000) if i % 5 == 0 else 'n'}')" for i in range(first, last + 1))
    db.execute(f"INSERT INTO wide VALUES {values}")


@pytest.mark.parametrize("strategy", ["REPLACE", "INCREMENTAL"])
def test_batches_cut_by_bytes_keep_every_row_once(
    api: testing.TestClient,
    worker,
    any_db: Database,
    es: Elasticsearch,
    index_prefix: str,
    strategy: str,
    target_prefix: str,
) -> None:
    any_db.execute("CREATE TABLE wide (id INTEGER PRIMARY KEY, body TEXT)")
    _rows(any_db, 1, 300)
    target = f"{target_prefix}wide"
    query = "SELECT * FROM wide"
    if strategy == "INCREMENTAL":
        query += " {{#max_primary_key}}WHERE id > {{max_primary_key}}{{/max_primary_key}}"
    define(api, any_db, "wide", query=query, target=target, strategy=strategy, pk_field="id", batch_size=100)
    first = run(api, "wide")
    assert (first["state"], first["count"], first["error_count"], first["last_id"]) == ("successful", 300, 0, "300")
    assert count(es, target) == 300
    _rows(any_db, 301, 340)
    second = run(api, "wide")
    expected = 40 if strategy == "INCREMENTAL" else 340
    assert (second["state"], second["count"], second["last_id"]) == ("successful", expected, "340")
    assert count(es, target) == 340
    assert es.get(index=target, id="300")["_source"]["body"] == "w" * 2000
