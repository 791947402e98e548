"""DuckDB for real (embedded, SPEC §15): datasource calls, an ingestion run, types, and the
read-only session without file or network access (SPEC §14)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import count, define, raw_source, run
from tests.support import assert_error

pytestmark = pytest.mark.integration

DS = "/_siren/connector/datasource"


def _items(db: Database, rows: int = 3) -> None:
    db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, price DECIMAL(10,2), seen TIMESTAMP)"
    )
    db.execute(
        "INSERT INTO items SELECT i, 'item ' || i, CASE WHEN i % 2 = 0 THEN NULL ELSE i * 1.25 END,"
        " TIMESTAMP '2024-01-02 03:04:05' + to_days(i) FROM range(1, ? + 1) t(i)",
        (rows,),
    )


@pytest.mark.parametrize("body_kind", ["jdbc", "sql"])
def test_put_and_validate(api: testing.TestClient, duckdb_db: Database, body_kind: str) -> None:
    url = duckdb_db.jdbc_url if body_kind == "jdbc" else duckdb_db.sql_url
    assert api.simulate_put(f"{DS}/duck", json={body_kind: {"url": url}}).status_code == 201
    resp = api.simulate_post(f"{DS}/duck/_validate")
    assert resp.status_code == 200, resp.text
    assert resp.json["dialect"] == "duckdb"
    assert resp.json["server_version"][0].isdigit()  # DuckDB's own version, not duckdb_engine's stand-in


def test_in_memory_database_needs_no_root(api: testing.TestClient) -> None:
    assert api.simulate_put(f"{DS}/mem", json={"jdbc": {"url": "jdbc:duckdb:"}}).status_code == 201
    resp = api.simulate_post(f"{DS}/mem/_sample", json={"query": "SELECT range AS n FROM range(3)"})
    assert resp.status_code == 200, resp.text
    assert resp.json["rows"] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_files_outside_the_duckdb_roots_are_refused(api: testing.TestClient, tmp_path: Path) -> None:
    for url in ("jdbc:duckdb:/etc/passwd", "jdbc:duckdb:relative.duckdb"):
        assert_error(
            api.simulate_put(f"{DS}/x", json={"jdbc": {"url": url}}), 400, "validation_exception", "$.jdbc.url"
        )
    assert_error(
        api.simulate_put(f"{DS}/x", json={"sql": {"url": "duckdb:///tmp/../etc/passwd"}}),
        400,
        "validation_exception",
        "$.sql.url",
    )


def test_sample_and_metadata(api: testing.TestClient, duckdb_db: Database) -> None:
    _items(duckdb_db)
    duckdb_db.execute("CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 2")
    api.simulate_put(f"{DS}/duck", json={"jdbc": {"url": duckdb_db.jdbc_url}})
    resp = api.simulate_post(f"{DS}/duck/_sample", json={"query": "SELECT * FROM items ORDER BY id", "size": 2})
    assert resp.status_code == 200, resp.text
    assert [c["db_type"] for c in resp.json["columns"]] == [
        "duckdb:INTEGER",
        "duckdb:VARCHAR",
        "duckdb:DECIMAL",
        "duckdb:TIMESTAMP",
    ]
    assert resp.json["rows"] == [
        {"id": 1, "name": "item 1", "price": 1.25, "seen": "2024-01-03T03:04:05+00:00"},
        {"id": 2, "name": "item 2", "price": None, "seen": "2024-01-04T03:04:05+00:00"},
    ]
    properties = resp.json["mapping"]["properties"]
    assert {k: v["type"] for k, v in properties.items()} == {
        "id": "integer",
        "name": "text",
        "price": "double",
        "seen": "date",
    }
    top = api.simulate_post(f"{DS}/duck/_metadata")
    assert top.status_code == 200, top.text
    catalog = top.json["catalogs"][0]
    assert catalog["name"] == "test"
    schema = next(s["name"] for s in catalog["schemas"] if s["name"].endswith("main") and "test" in s["name"])
    detail = api.simulate_post(f"{DS}/duck/_metadata", params={"schema": schema})
    assert detail.status_code == 200, detail.text
    tables = {t["name"]: t for t in detail.json["catalogs"][0]["schemas"][0]["tables"]}
    assert tables["items"]["type"] == "table"
    assert tables["items"]["primary_key"] == ["id"]
    assert [c["es_type"] for c in tables["items"]["columns"]] == ["integer", "text", "double", "date"]
    assert tables["cheap"]["type"] == "view"


def test_sample_binds_values(api: testing.TestClient, duckdb_db: Database) -> None:
    _items(duckdb_db)
    api.simulate_put(f"{DS}/duck", json={"jdbc": {"url": duckdb_db.jdbc_url}})
    query = "SELECT name FROM items WHERE name = '{{name}}'{{#min}} AND id >= {{min}}{{/min}}"
    hostile = api.simulate_post(f"{DS}/duck/_sample", json={"query": query, "params": {"name": "x' OR '1'='1"}})
    assert hostile.status_code == 200, hostile.text
    assert hostile.json["rows"] == []
    found = api.simulate_post(f"{DS}/duck/_sample", json={"query": query, "params": {"name": "item 3", "min": 2}})
    assert found.json["rows"] == [{"name": "item 3"}]


def test_ingestion_run_counts(
    api: testing.TestClient, worker, duckdb_db: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _items(duckdb_db, 2500)
    target = f"{target_prefix}duck"
    define(api, duckdb_db, "duck", query="SELECT * FROM items", target=target, pk_field="id", batch_size=700)
    final = run(api, "duck")
    assert final["state"] == "successful", final.get("error")
    assert final["count"] == count(es, target) == duckdb_db.scalar("SELECT count(*) FROM items") == 2500
    assert es.get(index=target, id="7")["_source"] == {
        "id": 7,
        "name": "item 7",
        "price": 8.75,
        "seen": "2024-01-09T03:04:05+00:00",
    }
    # resume-style rerun from the checkpointed key keeps the count exact
    again = run(api, "duck")
    assert (again["state"], again["count"]) == ("successful", 2500)


def test_types_round_trip(
    api: testing.TestClient, worker, duckdb_db: Database, es: Elasticsearch, es_url: str, target_prefix: str
) -> None:
    duckdb_db.execute(
        "CREATE TABLE types (id BIGINT PRIMARY KEY, small SMALLINT, big HUGEINT, exact DECIMAL(38,10),"
        " ratio DOUBLE, flag BOOLEAN, label VARCHAR, day DATE, local_ts TIMESTAMP, zoned TIMESTAMPTZ,"
        " clock TIME, span INTERVAL, ident UUID, raw BLOB, tags VARCHAR[], point STRUCT(x INTEGER, y INTEGER),"
        " doc JSON)"
    )
    duckdb_db.execute(
        "INSERT INTO types VALUES (1, -3, 170141183460469231731687303715884105727, 12345678901234567890.0123456789,"
        " 0.5, true, 'héllo \"quoted\"', DATE '2024-02-29', TIMESTAMP '2024-03-31 01:30:00.123456',"
        " TIMESTAMPTZ '2024-06-01 12:00:00+02', TIME '23:59:58.5', INTERVAL 1 DAY + INTERVAL 2 HOUR,"
        " '6f1c2d4e-0000-4000-8000-000000000001', '\\x00\\xFF'::BLOB, ['a', NULL, 'c'], {'x': 1, 'y': -2},"
        " '{\"k\": [1, 2]}'),"
        " (2, NULL, NULL, NULL, 'nan'::DOUBLE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, [], NULL, NULL)"
    )
    target = f"{target_prefix}types"
    define(api, duckdb_db, "types", query="SELECT * FROM types", target=target, pk_field="id")
    api.simulate_put(f"{DS}/db?overwrite=true", json={"jdbc": {"url": duckdb_db.jdbc_url, "timezone": "Europe/Paris"}})
    final = run(api, "types")
    assert final["state"] == "successful", final.get("error")
    assert final["count"] == count(es, target) == 2
    first = raw_source(es_url, target, "1")
    assert first == {
        "id": 1,
        "small": -3,
        "big": Decimal("170141183460469231731687303715884105727"),
        "exact": Decimal("12345678901234567890.0123456789"),
        "ratio": Decimal("0.5"),
        "flag": True,
        "label": 'héllo "quoted"',
        "day": "2024-02-29",
        "local_ts": "2024-03-31T01:30:00.123456+01:00",  # read in the datasource's zone (before the DST switch)
        "zoned": first["zoned"],
        "clock": "23:59:58.500000",
        "span": "P1DT2H",
        "ident": "6f1c2d4e-0000-4000-8000-000000000001",
        "raw": "AP8=",
        "tags": ["a", None, "c"],
        "point": {"x": 1, "y": -2},
        "doc": {"k": [1, 2]},
    }
    assert dt.datetime.fromisoformat(first["zoned"]) == dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC)
    second = raw_source(es_url, target, "2")
    assert second["ratio"] is None and second["tags"] == [] and second["big"] is None


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM 'https://example.com/data.csv'",
        "COPY items TO '{out}/copied.csv'",
        "ATTACH '{out}/attached.duckdb' AS other",
        "EXPORT DATABASE '{out}/exported'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allow_unsigned_extensions = true",
        "INSERT INTO items VALUES (99, 'x', 1, NULL)",
        "DROP TABLE items",
        "CREATE TABLE other (a INTEGER)",
        "SELECT 1; COMMIT; DROP TABLE items",
    ],
)
def test_no_file_network_or_write_access(
    api: testing.TestClient, duckdb_db: Database, tmp_path: Path, statement: str
) -> None:
    _items(duckdb_db)
    out = tmp_path / "out"
    out.mkdir()
    api.simulate_put(f"{DS}/duck", json={"jdbc": {"url": duckdb_db.jdbc_url}})
    resp = api.simulate_post(f"{DS}/duck/_sample", json={"query": statement.format(out=out)})
    assert_error(resp, 400, "sql_exception")
    assert list(out.iterdir()) == []
    assert duckdb_db.scalar("SELECT count(*) FROM items") == 3


def test_in_memory_database_has_no_file_access_either(api: testing.TestClient, tmp_path: Path) -> None:
    api.simulate_put(f"{DS}/mem", json={"jdbc": {"url": "jdbc:duckdb:"}})
    for statement in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"COPY (SELECT 1) TO '{tmp_path}/x.csv'",
        f"ATTACH '{tmp_path}/y.duckdb'",
    ):
        assert_error(api.simulate_post(f"{DS}/mem/_sample", json={"query": statement}), 400, "sql_exception")
    assert list(tmp_path.iterdir()) == []


def test_statement_timeout_interrupts(settings_env: dict[str, str], es: Elasticsearch) -> None:
    from api.app import create_app
    from api.runtime import Runtime
    from connector.settings import load_settings

    settings = load_settings(environ={**settings_env, "CONNECTOR_SQL_STATEMENT_TIMEOUT_S": "0.5"})
    runtime = Runtime.build(settings)
    client = testing.TestClient(create_app(settings, runtime.services()))
    client.simulate_put(f"{DS}/mem", json={"jdbc": {"url": "jdbc:duckdb:"}})
    slow = "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"
    resp = client.simulate_post(f"{DS}/mem/_sample", json={"query": slow})
    runtime.close()
    assert_error(resp, 400, "query_timeout_exception")
