"""The new dialects at driver level (SPEC §15): what reaches each driver, and that it accepts it.

Each case runs where its extra is installed (`pip install -e '.[all-dialects]'`) and is skipped
otherwise; DuckDB, in the test extras, always runs. No server of these databases exists here: a
connection to a closed local port must end in the service's own 400 errors, never in a driver's
TypeError about an argument it does not know (a 500).
"""

from __future__ import annotations

import importlib.util

import pytest

from connector.crypto import SecretBox
from connector.datasource import ConnectionTarget, Datasource, DatasourceBody
from connector.driver_options import DriverPolicy
from connector.errors import DatasourceUnavailable, QueryFailed
from ingestion.source import dialects
from ingestion.source.sql_source import create_sql_engine, target_session

pytestmark = pytest.mark.unit

BOX = SecretBox(SecretBox.generate_key())
CLOSED = "127.0.0.1:1"


def _target(url: str, *, password: str | None = None) -> ConnectionTarget:
    body = DatasourceBody.model_validate({"jdbc": {"url": url, "username": "reader", "password": password}})
    datasource = Datasource.from_body("d", body, BOX, now_ms=0, policy=DriverPolicy())
    return datasource.connection_target(BOX, DriverPolicy())


def _needs(module: str) -> None:
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # the parent package is missing
        found = None
    if found is None:
        pytest.skip(f"{module} is not installed (its extra is optional)")


@pytest.mark.parametrize(
    ("module", "url", "dialect", "expected"),
    [
        (
            "oracledb",
            f"jdbc:oracle:thin:@//{CLOSED}/SALES?oracle.net.CONNECT_TIMEOUT=2000",
            "oracle",
            {"host": "127.0.0.1", "port": 1, "service_name": "SALES", "tcp_connect_timeout": 2.0},
        ),
        ("oracledb", f"jdbc:oracle:thin:@{CLOSED}:ORCL", "oracle", {"sid": "ORCL", "host": "127.0.0.1", "port": 1}),
        ("pymssql", f"jdbc:sqlserver://{CLOSED};databaseName=dw;loginTimeout=2", "mssql", {"login_timeout": 2}),
        ("trino", f"jdbc:trino://{CLOSED}/hive/web?source=siren", "trino", {"catalog": "hive", "schema": "web"}),
        ("pyhive", f"jdbc:presto://{CLOSED}/hive/default", "presto", {"catalog": "hive", "schema": "default"}),
        (
            "redshift_connector",
            f"jdbc:redshift://{CLOSED}/dev?loginTimeout=2",
            "redshift",
            {"database": "dev", "timeout": 2, "ssl": True},
        ),
        (
            "clickhouse_connect",
            f"jdbc:clickhouse://{CLOSED}/logs?connect_timeout=2000",
            "clickhousedb",
            {"database": "logs"},
        ),
        ("ibm_db_sa", f"jdbc:db2://{CLOSED}/SAMPLE:currentSchema=SALES;", "ibm_db_sa", {}),
    ],
)
def test_the_driver_accepts_the_translated_arguments(
    module: str, url: str, dialect: str, expected: dict[str, object]
) -> None:
    _needs(module)
    # Trino and Presto take a password over HTTPS only (test_a_password_over_plain_http_is_refused).
    target = _target(url, password=None if dialect in ("trino", "presto") else "Pw-1")
    engine = create_sql_engine(target, connect_timeout_s=2)
    assert engine.dialect.name == dialect
    engine_url, connect_args = dialects.engine_arguments(target.url, dict(target.connect_args))
    _, params = engine.dialect.create_connect_args(engine_url)
    merged = {**params, **connect_args}
    assert expected.items() <= merged.items()
    with (
        pytest.raises((DatasourceUnavailable, QueryFailed)) as caught,
        target_session(target, connect_timeout_s=2, statement_timeout_s=2) as conn,
    ):
        conn.exec_driver_sql(dialects.trivial_query(conn.dialect.name))
    assert "Pw-1" not in str(caught.value)


def test_db2_keys_reach_its_connection_string_without_extra_keys() -> None:
    _needs("ibm_db_sa")
    target = _target(f"jdbc:db2://{CLOSED}/SAMPLE:currentSchema=SALES;sslConnection=true;")
    engine = create_sql_engine(target, connect_timeout_s=2)
    engine_url, _ = dialects.engine_arguments(target.url, dict(target.connect_args))
    args, _ = engine.dialect.create_connect_args(engine_url)
    assert args[0].split(";")[:6] == [
        "DATABASE=SAMPLE",
        "HOSTNAME=127.0.0.1",
        "PROTOCOL=TCPIP",
        "PORT=1",
        "UID=reader",
        "Security=SSL",
    ]
    assert "CurrentSchema=SALES" in args[0]


def test_snowflake_account_database_and_warehouse() -> None:
    _needs("snowflake.sqlalchemy")
    target = _target("jdbc:snowflake://xy12345.eu-west-1.snowflakecomputing.com/?db=SALES&schema=PUBLIC&warehouse=WH")
    engine = create_sql_engine(target, connect_timeout_s=2)
    _, params = engine.dialect.create_connect_args(target.url)
    assert {k: params[k] for k in ("account", "host", "database", "schema", "user")} == {
        "account": "xy12345",
        "host": "xy12345.eu-west-1.snowflakecomputing.com",
        "database": "SALES",
        "schema": "PUBLIC",
        "user": "reader",
    }
    assert target.connect_args == {"warehouse": "WH"}


@pytest.mark.parametrize("module", ["trino", "pyhive"])
def test_a_password_over_plain_http_is_refused(module: str) -> None:
    _needs(module)
    kind = "trino" if module == "trino" else "presto"
    with pytest.raises(DatasourceUnavailable) as caught:
        create_sql_engine(_target(f"jdbc:{kind}://{CLOSED}/hive", password="Pw-2"), connect_timeout_s=2)
    assert "HTTPS" in str(caught.value)


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ("PUT file:///etc/passwd @~/staged", True),
        ("  get @~/staged file:///tmp/", True),
        ("/* copy */ PUT file:///etc/passwd @~", True),
        ("-- note\nPUT file:///etc/passwd @~", True),
        ("// note\n put file:///etc/passwd @~", True),
        ("(GET @~/x file:///tmp)", True),
        ("SELECT 'PUT' AS verb", False),
        ("SELECT put FROM t", False),
        ("WITH g AS (SELECT 1) SELECT * FROM g", False),
    ],
)
def test_snowflake_file_transfers_are_refused_before_the_driver(statement: str, refused: bool) -> None:
    if refused:
        with pytest.raises(QueryFailed):
            dialects._refuse_file_transfer(None, None, statement, None, None, False)  # type: ignore[arg-type]
    else:
        dialects._refuse_file_transfer(None, None, statement, None, None, False)  # type: ignore[arg-type]


def test_duckdb_settings_cannot_be_loosened_by_options() -> None:
    url, args = dialects.engine_arguments(
        _target("jdbc:duckdb:?threads=2&memory_limit=1GB").url, {"threads": "2", "memory_limit": "1GB"}
    )
    assert (url.drivername, url.database) == ("duckdb", ":memory:")
    assert args == {
        "read_only": False,
        "config": {"threads": "2", "memory_limit": "1GB", **dialects.DUCKDB_FIXED_CONFIG},
    }
    _, forced = dialects.engine_arguments(url.set(database="/data/x.duckdb"), {"enable_external_access": True})
    assert forced["read_only"] is True
    assert forced["config"]["enable_external_access"] is False
