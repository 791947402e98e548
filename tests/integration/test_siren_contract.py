"""SPEC §4-§6 as Siren clients use them: truthful SQL errors, typed template variables, status shape.

Real PostgreSQL, MariaDB and SQLite through the HTTP API into the Elasticsearch-API server.
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import BASE, define, ids, run
from tests.support import assert_error

pytestmark = pytest.mark.integration

BOOKKEEPING = {"checkpoint", "server_rendering", "staging_kept", "last_record_types"}


# ---------------------------------------------------------------- the database's own message


def test_a_query_that_broke_since_put_reports_the_databases_message(
    api: testing.TestClient, worker, pg: Database, target_prefix: str
) -> None:
    """The planner estimate used to swallow it and report "current transaction is aborted"."""
    pg.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    pg.execute("INSERT INTO t VALUES (1, 1)")
    define(api, pg, "broke", query="SELECT * FROM t WHERE v > 0", target=f"{target_prefix}broke", pk_field="id")
    pg.execute("ALTER TABLE t ALTER COLUMN v TYPE timestamptz USING now()")
    dry = api.simulate_post(f"{BASE}/ingestion/broke/_validate")
    error = assert_error(dry, 400, "sql_exception")
    assert "operator does not exist: timestamp with time zone > integer" in error["reason"]
    final = run(api, "broke")
    assert final["state"] == "error"
    assert any("operator does not exist: timestamp with time zone > integer" in m for m in final["error"])
    assert not any("current transaction is aborted" in m for m in final["error"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT * FROM missing_table",
            {"postgresql": "missing_table", "mariadb": "missing_table", "sqlite": "missing_table"},
        ),
        ("SELECT FROM WHERE", {"postgresql": "syntax error", "mariadb": "syntax", "sqlite": "syntax error"}),
    ],
)
def test_sample_reports_the_databases_message(
    api: testing.TestClient, any_db: Database, query: str, message: dict[str, str]
) -> None:
    api.simulate_put(f"{BASE}/datasource/db", json={"jdbc": {"url": any_db.jdbc_url}})
    error = assert_error(
        api.simulate_post(f"{BASE}/datasource/db/_sample", json={"query": query}), 400, "sql_exception"
    )
    assert message[any_db.kind] in error["reason"]


def test_a_batch_that_fails_midway_reports_the_databases_message(
    api: testing.TestClient, worker, pg: Database, target_prefix: str
) -> None:
    # Big enough, with a key and statistics, for PostgreSQL to stream it in key order (no sort first).
    pg.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g")
    pg.execute("ALTER TABLE t ADD PRIMARY KEY (id)")
    pg.execute("ANALYZE t")
    define(
        api,
        pg,
        "midway",
        query="SELECT id, 10 / (4000 - id) AS x FROM t",
        target=f"{target_prefix}midway",
        pk_field="id",
        batch_size=500,
    )
    final = run(api, "midway")
    assert final["state"] == "error"
    assert "division by zero" in final["error"][1]
    # The batches before the failing one are accounted for (the read-ahead may hold one back).
    assert 0 < final["count"] < 4000 and final["count"] % 500 == 0, final


def test_datasource_validate_checks_a_form_before_it_is_saved(api: testing.TestClient, pg: Database) -> None:
    api.simulate_put(f"{BASE}/datasource/ok", json={"jdbc": {"url": pg.jdbc_url}})
    bad_form = {"jdbc": {"url": pg.jdbc_url.replace("/postgres?", "/no_such_db?")}}
    error = assert_error(
        api.simulate_post(f"{BASE}/datasource/ok/_validate", json=bad_form), 400, "datasource_connection_exception"
    )
    assert "no_such_db" in error["reason"]
    unsaved = api.simulate_post(f"{BASE}/datasource/not-saved-yet/_validate", json={"jdbc": {"url": pg.jdbc_url}})
    assert unsaved.status_code == 200, unsaved.text
    assert unsaved.json["valid"] is True
    assert api.simulate_get(f"{BASE}/datasource/not-saved-yet").status_code == 404
    assert_error(
        api.simulate_post(f"{BASE}/datasource/x/_validate", json={"jdbc": {"url": "jdbc:nope:"}}),
        400,
        "validation_exception",
        "$.jdbc.url",
    )
    assert api.simulate_post(f"{BASE}/datasource/ok/_validate").json["valid"] is True  # without a body: as stored


# ---------------------------------------------------------------- typed template variables


def test_last_record_follows_the_query_columns_when_a_transform_writes_the_key(
    api: testing.TestClient, worker, any_db: Database, es: Elasticsearch, target_prefix: str
) -> None:
    any_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20), loc VARCHAR(20))")
    any_db.execute("INSERT INTO t VALUES (41, 'v41', 'loc1'), (42, 'v42', 'loc5')")
    define(
        api,
        any_db,
        "lr",
        query="SELECT id, name, loc FROM t",
        target=f"{target_prefix}lr",
        pk_field="id",
        transforms=[{"input": [{"source": "id"}], "output": "id", "mapping": {"type": "long"}}],
    )
    final = run(api, "lr")
    assert final["state"] == "successful", final
    assert final["last_record"] == [42, "v42", "loc5"]
    assert final["last_id"] == "42"


@pytest.mark.parametrize("kind", ["timestamptz", "timestamp"])
def test_last_record_timestamp_and_last_record_bind_as_timestamps_on_postgresql(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str, kind: str
) -> None:
    pg.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, updated_at {kind})")
    pg.execute("INSERT INTO t VALUES (1, now() - interval '1 day'), (2, now() - interval '1 hour')")
    query = (
        "SELECT id, updated_at FROM t "
        "{{#last_record_timestamp}}WHERE updated_at > {{last_record_timestamp}} - interval '2 days'{{/last_record_timestamp}}"
    )
    define(api, pg, "ts", query=query, target=f"{target_prefix}ts", pk_field="id", strategy="INCREMENTAL")
    assert run(api, "ts")["state"] == "successful"
    second = run(api, "ts")
    assert second["state"] == "successful", second
    assert second["count"] == 2
    by_value = "SELECT id, updated_at FROM t {{#last_record}}WHERE updated_at >= {{last_record.1}}{{/last_record}}"
    define(api, pg, "ts", query=by_value, target=f"{target_prefix}ts", pk_field="id", strategy="INCREMENTAL")
    third = run(api, "ts")
    assert (third["state"], third["count"]) == ("successful", 1), third  # only the newest row


def test_last_record_timestamp_binds_on_mariadb_and_sqlite(
    api: testing.TestClient, worker, mariadb: Database, sqlite_db: Database, target_prefix: str
) -> None:
    for db, name in ((mariadb, "my"), (sqlite_db, "lite")):
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, updated_at DATETIME)")
        db.execute("INSERT INTO t VALUES (1, '2020-01-01 00:00:00'), (2, '2999-01-01 00:00:00')")
        query = "SELECT id, updated_at FROM t {{#last_record_timestamp}}WHERE updated_at > {{last_record_timestamp}}{{/last_record_timestamp}}"
        define(
            api,
            db,
            name,
            datasource=name,
            query=query,
            target=f"{target_prefix}{name}",
            pk_field="id",
            strategy="INCREMENTAL",
        )
        assert run(api, name)["count"] == 2
        second = run(api, name)
        assert (second["state"], second["count"]) == ("successful", 1), second  # only the row in the future


def test_max_primary_key_on_a_text_key(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    pg.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    pg.execute("INSERT INTO t VALUES ('a'), ('b')")
    query = 'SELECT k FROM t {{#max_primary_key}}WHERE k COLLATE "C" > {{max_primary_key}}{{/max_primary_key}}'
    target = f"{target_prefix}textkey"
    define(api, pg, "textkey", query=query, target=target, pk_field="k", strategy="INCREMENTAL")
    assert run(api, "textkey")["count"] == 2
    pg.execute("INSERT INTO t VALUES ('c')")
    dry = api.simulate_post(f"{BASE}/ingestion/textkey/_validate")
    assert dry.status_code == 200, dry.text
    assert list(dry.json["query"]["params"].values()) == ["b"]
    second = run(api, "textkey")
    assert (second["state"], second["count"]) == ("successful", 1), second
    assert ids(es, target) == ["a", "b", "c"]


# ---------------------------------------------------------------- the status


def test_the_status_holds_no_bookkeeping_and_an_ended_run_no_eta(
    api: testing.TestClient, worker, pg: Database, target_prefix: str
) -> None:
    pg.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50) g")
    define(api, pg, "shape", query="SELECT id FROM t", target=f"{target_prefix}shape", pk_field="id")
    final = run(api, "shape")
    assert not BOOKKEEPING & set(final)
    assert "eta" not in final
    assert final["estimated_time_remaining"] == 0
    assert final["last_record"] == [50] and final["last_id"] == "50" and final["count"] == 50
    hits = api.simulate_get(f"{BASE}/jobs/_search", params={"id": "shape"}).json["hits"]["hits"]
    assert list(hits[0]["_source"]) == ["ingestion"]
    assert not BOOKKEEPING & set(hits[0]["_source"]["ingestion"])


# ---------------------------------------------------------------- searching the history


def test_search_by_what_went_wrong_and_sorted(
    api: testing.TestClient, worker, pg: Database, target_prefix: str
) -> None:
    pg.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 30) g")
    define(api, pg, "good", query="SELECT id FROM t", target=f"{target_prefix}good", pk_field="id")
    define(api, pg, "zero", query="SELECT id, 10 / (id - 15) AS x FROM t", target=f"{target_prefix}zero", pk_field="id")
    define(api, pg, "gone", query="SELECT id FROM t", target=f"{target_prefix}gone", pk_field="id")
    assert run(api, "good")["state"] == "successful"
    assert run(api, "zero")["state"] == "error"
    pg.execute("ALTER TABLE t RENAME TO t2")
    assert run(api, "gone")["state"] == "error"

    def search(**params: str) -> list[str]:
        resp = api.simulate_get(f"{BASE}/jobs/_search", params=params)
        assert resp.status_code == 200, resp.text
        return [hit["_source"]["ingestion"]["id"] for hit in resp.json["hits"]["hits"]]

    assert search(q="division") == ["zero"]
    assert search(q="relation -division") == ["gone"]
    assert sorted(search(q="failed")) == ["gone", "zero"]  # infos: "The job has failed."
    assert search(sort="count:desc")[0] == "good"
    assert search(sort="count:asc")[-1] == "good"
    body = api.simulate_post(f"{BASE}/jobs/_search", json={"q": "division", "sort": "end_time:desc"})
    assert [h["_source"]["ingestion"]["id"] for h in body.json["hits"]["hits"]] == ["zero"]
    assert_error(
        api.simulate_get(f"{BASE}/jobs/_search", params={"sort": "infos"}), 400, "validation_exception", "sort"
    )
