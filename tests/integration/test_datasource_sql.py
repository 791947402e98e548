"""Datasource _validate, _metadata and _sample against real PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

import importlib.util

import pytest
import sqlalchemy as sa
from falcon import testing

from tests.conftest import Database
from tests.support import assert_error

pytestmark = pytest.mark.integration

DS = "/_siren/connector/datasource"


def _create_items(db: Database) -> None:
    db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2), seen TIMESTAMP NULL)"
    )
    db.execute(
        "INSERT INTO items VALUES (1, 'apple', 1.50, '2024-01-02 03:04:05'), (2, 'pear', NULL, NULL), (3, 'fig', 2.25, NULL)"
    )


@pytest.mark.parametrize("body_kind", ["jdbc", "sql"])
def test_validate(api: testing.TestClient, any_db: Database, body_kind: str) -> None:
    url = any_db.jdbc_url if body_kind == "jdbc" else any_db.sql_url
    assert api.simulate_put(f"{DS}/db", json={body_kind: {"url": url}}).status_code == 201
    resp = api.simulate_post(f"{DS}/db/_validate")
    assert resp.status_code == 200, resp.text
    assert resp.json["valid"] is True
    assert resp.json["dialect"] in ("postgresql", "mysql", "mariadb", "sqlite")
    assert resp.json["server_version"]


def test_sample_rows_and_mapping(api: testing.TestClient, any_db: Database) -> None:
    _create_items(any_db)
    api.simulate_put(f"{DS}/db", json={"jdbc": {"url": any_db.jdbc_url}})
    resp = api.simulate_post(
        f"{DS}/db/_sample", json={"query": "SELECT id, name, price, seen FROM items ORDER BY id", "size": 2}
    )
    assert resp.status_code == 200, resp.text
    assert [c["name"] for c in resp.json["columns"]] == ["id", "name", "price", "seen"]
    rows = resp.json["rows"]
    assert len(rows) == 2
    assert rows[0]["id"] == 1 and rows[0]["name"] == "apple"
    assert rows[1]["price"] is None
    properties = resp.json["mapping"]["properties"]
    assert properties["id"]["type"] in ("integer", "long")
    assert properties["name"]["type"] == "text"
    if any_db.kind != "sqlite":  # SQLite has no declared types in results
        assert rows[0]["price"] == 1.5
        assert properties["price"]["type"] == "double"
        assert rows[0]["seen"] == "2024-01-02T03:04:05+00:00"
        assert properties["seen"]["type"] == "date"


def test_sample_with_params_binds_values(api: testing.TestClient, any_db: Database) -> None:
    _create_items(any_db)
    api.simulate_put(f"{DS}/db", json={"jdbc": {"url": any_db.jdbc_url}})
    query = "SELECT name FROM items WHERE name = '{{name}}'{{#min}} AND id >= {{min}}{{/min}}"
    hostile = api.simulate_post(f"{DS}/db/_sample", json={"query": query, "params": {"name": "x' OR '1'='1"}})
    assert hostile.json["rows"] == []
    found = api.simulate_post(f"{DS}/db/_sample", json={"query": query, "params": {"name": "fig", "min": 2}})
    assert found.json["rows"] == [{"name": "fig"}]


def test_sample_is_read_only(api: testing.TestClient, any_db: Database) -> None:
    _create_items(any_db)
    api.simulate_put(f"{DS}/db", json={"jdbc": {"url": any_db.jdbc_url}})
    statements = (
        "DELETE FROM items",
        "UPDATE items SET name = 'x'",
        "DROP TABLE items",
        "CREATE TABLE other (a INTEGER)",
        "SELECT 1; COMMIT; DROP TABLE items",
    )
    for statement in statements:
        resp = api.simulate_post(f"{DS}/db/_sample", json={"query": statement})
        assert_error(resp, 400, "sql_exception")
    assert any_db.scalar("SELECT count(*) FROM items") == 3
    with any_db.engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["items"]


def test_sample_bad_sql_and_bad_body(api: testing.TestClient, any_db: Database) -> None:
    api.simulate_put(f"{DS}/db", json={"jdbc": {"url": any_db.jdbc_url}})
    error = assert_error(api.simulate_post(f"{DS}/db/_sample", json={"query": "SELEC nonsense"}), 400, "sql_exception")
    assert "syntax" in error["reason"].lower()
    assert_error(
        api.simulate_post(f"{DS}/db/_sample", json={"query": "SELECT 1", "size": 100000}),
        400,
        "validation_exception",
        "$.size",
    )
    assert_error(api.simulate_post(f"{DS}/db/_sample", json={"size": 1}), 400, "validation_exception", "$.query")
    assert_error(
        api.simulate_post(f"{DS}/db/_sample", json={"query": "SELECT 1", "limit": 1}),
        400,
        "validation_exception",
        "$.limit",
    )
    assert_error(
        api.simulate_post(f"{DS}/db/_sample", json={"query": "SELECT {{x}}"}), 400, "validation_exception", "$.query"
    )
    dup = api.simulate_post(f"{DS}/db/_sample", json={"query": "SELECT 1 AS a, 2 AS a"})
    assert_error(dup, 400, "validation_exception", "$.query")
    unbound = api.simulate_post(f"{DS}/db/_sample", json={"query": "SELECT 1 AS a WHERE 1 = :x"})
    assert_error(unbound, 400, "sql_exception")  # the database's own message; once a 500


def test_statement_timeout(api: testing.TestClient, any_db: Database, settings_env: dict[str, str], es) -> None:
    from api.app import create_app
    from api.runtime import Runtime
    from connector.settings import load_settings

    settings = load_settings(environ={**settings_env, "CONNECTOR_SQL_STATEMENT_TIMEOUT_S": "0.5"})
    runtime = Runtime.build(settings)
    client = testing.TestClient(create_app(settings, runtime.services()))
    slow = {
        "postgresql": "SELECT pg_sleep(5)",
        "mariadb": "SELECT SLEEP(5) FROM (SELECT 1) t",
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    }[any_db.kind]
    client.simulate_put(f"{DS}/db", json={"jdbc": {"url": any_db.jdbc_url}})
    resp = client.simulate_post(f"{DS}/db/_sample", json={"query": slow})
    runtime.close()
    if any_db.kind == "mariadb" and resp.status_code == 200:
        # MariaDB's SLEEP() returns 1 when interrupted by max_statement_time instead of failing.
        assert resp.json["rows"][0] != {"SLEEP(5)": 0}
        return
    assert_error(resp, 400, "query_timeout_exception")


def test_metadata_levels(api: testing.TestClient, any_db: Database) -> None:
    _create_items(any_db)
    any_db.execute("CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 2")
    api.simulate_put(f"{DS}/db", json={"jdbc": {"url": any_db.jdbc_url}})
    top = api.simulate_post(f"{DS}/db/_metadata")
    assert top.status_code == 200, top.text
    catalog = top.json["catalogs"][0]
    schema = (
        any_db.scalar("SELECT current_schema()")
        if any_db.kind == "postgresql"
        else (any_db.scalar("SELECT DATABASE()") if any_db.kind == "mariadb" else "main")
    )
    assert schema in [s["name"] for s in catalog["schemas"]]
    detail = api.simulate_post(f"{DS}/db/_metadata", params={"catalog": catalog["name"], "schema": schema})
    tables = {t["name"]: t for t in detail.json["catalogs"][0]["schemas"][0]["tables"]}
    assert tables["items"]["type"] == "table"
    assert tables["items"]["primary_key"] == ["id"]
    assert [c["name"] for c in tables["items"]["columns"]] == ["id", "name", "price", "seen"]
    assert [c["es_type"] for c in tables["items"]["columns"]] == ["integer", "text", "double", "date"]
    assert tables["cheap"]["type"] == "view"
    one = api.simulate_post(f"{DS}/db/_metadata", params={"schema": schema, "table": "cheap"})
    assert [t["name"] for t in one.json["catalogs"][0]["schemas"][0]["tables"]] == ["cheap"]
    assert_error(
        api.simulate_post(f"{DS}/db/_metadata", params={"schema": "nope_schema"}), 400, "validation_exception", "schema"
    )
    assert_error(
        api.simulate_post(f"{DS}/db/_metadata", params={"catalog": "other_catalog"}),
        400,
        "validation_exception",
        "catalog",
    )
    assert_error(
        api.simulate_post(f"{DS}/db/_metadata", params={"schema": schema, "table": "zz"}),
        400,
        "validation_exception",
        "table",
    )


def test_unreachable_database(api: testing.TestClient) -> None:
    api.simulate_put(f"{DS}/down", json={"jdbc": {"url": "jdbc:postgresql://127.0.0.1:1/none?connectTimeout=2"}})
    error = assert_error(api.simulate_post(f"{DS}/down/_validate"), 400, "datasource_connection_exception")
    assert "127.0.0.1" in error["reason"]
    assert_error(
        api.simulate_post(f"{DS}/down/_sample", json={"query": "SELECT 1"}), 400, "datasource_connection_exception"
    )


MISSING_DRIVER_URLS = [
    ("mssql", "pymssql", "jdbc:sqlserver://127.0.0.1:1;databaseName=x"),
    ("oracle", "oracledb", "jdbc:oracle:thin:@//127.0.0.1:1/svc"),
    ("trino", "trino", "jdbc:trino://127.0.0.1:1/hive"),
    ("presto", "pyhive", "jdbc:presto://127.0.0.1:1/hive"),
    ("redshift", "sqlalchemy_redshift", "jdbc:redshift://127.0.0.1:1/dev"),
    ("snowflake", "snowflake.sqlalchemy", "jdbc:snowflake://acct.snowflakecomputing.com/?db=x"),
    ("clickhouse", "clickhouse_connect", "jdbc:clickhouse://127.0.0.1:1/db"),
    ("db2", "ibm_db_sa", "jdbc:db2://127.0.0.1:1/SAMPLE"),
]


@pytest.mark.parametrize(("extra", "module", "url"), MISSING_DRIVER_URLS)
def test_missing_driver_names_the_extra(api: testing.TestClient, extra: str, module: str, url: str) -> None:
    """SPEC §15: PUT stores the definition (drivers may be installed later, or only on the workers);
    every call that connects answers 400 naming the extra to install."""
    if importlib.util.find_spec(module.split(".")[0]) is not None:
        pytest.skip(
            f"the [{extra}] extra is installed here; its driver is exercised in tests/unit/test_dialect_drivers.py"
        )
    assert api.simulate_put(f"{DS}/ds", json={"jdbc": {"url": url}}).status_code == 201
    assert api.simulate_get(f"{DS}/ds").json["found"] is True
    calls = (
        api.simulate_post(f"{DS}/ds/_validate"),
        api.simulate_post(f"{DS}/ds/_sample", json={"query": "SELECT 1"}),
        api.simulate_post(f"{DS}/ds/_metadata"),
    )
    for resp in calls:
        error = assert_error(resp, 400, "driver_missing_exception")
        assert f"pip install 'siren-connector-service[{extra}]'" in error["reason"]


def test_wrong_password_message_has_no_password(
    api: testing.TestClient, mariadb: Database, mariadb_user: tuple[str, str]
) -> None:
    user, password = mariadb_user
    wrong = "Wrong-Pass-Zz9"
    api.simulate_put(f"{DS}/ok", json={"jdbc": {"url": mariadb.jdbc_url, "username": user, "password": password}})
    assert api.simulate_post(f"{DS}/ok/_validate").json["valid"] is True
    api.simulate_put(f"{DS}/bad", json={"jdbc": {"url": mariadb.jdbc_url + f"?user={user}&password={wrong}"}})
    resp = api.simulate_post(f"{DS}/bad/_validate")
    error = assert_error(resp, 400, "datasource_connection_exception")
    assert "Access denied" in error["reason"]
    assert wrong not in resp.text and password not in resp.text
