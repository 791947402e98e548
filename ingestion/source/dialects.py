"""Own what differs per SQL dialect beyond PostgreSQL, MySQL/MariaDB and SQLite.

- which optional extra installs a dialect's driver (the hint of DriverMissing);
- engine arguments the service fixes whatever the datasource says: DuckDB
  read-only with external access, extensions and configuration changes off;
  Oracle and Db2 arguments placed where their SQLAlchemy dialects read them;
- the read-only session and statement timeout each database supports
  (Oracle ``SET TRANSACTION READ ONLY`` and ``call_timeout``; DuckDB a
  read-only transaction and an interrupt); where a database has none
  (SQL Server, Trino, Presto, Redshift, Snowflake, ClickHouse, Db2) the
  datasource's account must be read-only (README, Security);
- statements no session may run: Snowflake ``PUT``/``GET`` move local files;
- the trivial query, current catalog and version of each database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL

from connector.errors import DatasourceUnavailable, QueryFailed
from ingestion.source.sql_lexer import GENERIC, Kind, regions

PACKAGE = "siren-connector-service"
# SQLAlchemy backend name -> the optional extra of pyproject.toml that installs its dialect and driver.
EXTRAS = {
    "mssql": "mssql",
    "oracle": "oracle",
    "trino": "trino",
    "presto": "presto",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "clickhousedb": "clickhouse",
    "db2": "db2",
    "duckdb": "duckdb",
}
# DuckDB settings every session gets, that no datasource option or query can change (lock_configuration):
# no file or network access from SQL (read_csv, COPY, ATTACH, httpfs), no extension installed or loaded.
DUCKDB_FIXED_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "lock_configuration": True,
}
_DUCKDB_OPTIONS = ("threads", "memory_limit")  # the only ones a datasource may set (driver_options)
_DB2_URL_KEYS = ("CurrentSchema", "Security", "SSLServerCertificate")  # ibm_db_sa reads them from the URL query
_TRIVIAL = {"oracle": "SELECT 1 FROM DUAL", "db2": "SELECT 1 FROM SYSIBM.SYSDUMMY1"}
_CURRENT_CATALOG = {
    "postgresql": "SELECT current_database()",
    "redshift": "SELECT current_database()",
    "mysql": "SELECT DATABASE()",
    "mariadb": "SELECT DATABASE()",
    "mssql": "SELECT DB_NAME()",
    "duckdb": "SELECT current_database()",
    "oracle": "SELECT SYS_CONTEXT('USERENV', 'DB_NAME') FROM DUAL",
    "trino": "SELECT current_catalog",
    "snowflake": "SELECT CURRENT_DATABASE()",
    "clickhousedb": "SELECT currentDatabase()",
}
_SNOWFLAKE_FILE_COMMANDS = frozenset({"PUT", "GET"})
_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")


def install_hint(backend: str, driver: str) -> str:
    """What to install for a dialect whose driver is missing."""
    extra = EXTRAS.get(backend)
    if extra is not None:
        return f"pip install '{PACKAGE}[{extra}]'"
    return f"install the Python driver {driver}"


def engine_arguments(url: URL, connect_args: dict[str, Any]) -> tuple[URL, dict[str, Any]]:
    """The URL and connect arguments to create an engine with, the service's fixed settings applied."""
    backend = url.get_backend_name()
    if backend == "duckdb":
        path = url.database or ":memory:"
        config = {k: v for k, v in connect_args.items() if k in _DUCKDB_OPTIONS} | DUCKDB_FIXED_CONFIG
        # An in-memory database cannot be opened read-only; it starts empty and is dropped on close.
        return URL.create("duckdb", database=path), {"read_only": path != ":memory:", "config": config}
    if backend == "oracle":
        # host, port and service_name/sid as oracledb.connect() keywords: no descriptor is built from text.
        args = {**connect_args, "host": url.host, "port": url.port or 1521}
        return URL.create(url.drivername, username=url.username, password=url.password), args
    if backend == "db2":
        query = {k: str(v) for k, v in connect_args.items() if k in _DB2_URL_KEYS}
        return url.update_query_dict(query), {k: v for k, v in connect_args.items() if k not in _DB2_URL_KEYS}
    if backend in ("trino", "presto") and url.password:
        scheme = connect_args.get("http_scheme") or connect_args.get("protocol")
        if scheme != "https":
            raise DatasourceUnavailable(f"{backend} sends passwords only over HTTPS: set the SSL property to true")
    return url, connect_args


def harden(engine: Engine) -> None:
    """Refuse, before the driver sees them, statements that would reach local files."""
    if engine.dialect.name == "snowflake":
        event.listen(engine, "before_cursor_execute", _refuse_file_transfer)
    if engine.dialect.name == "presto":
        event.listen(engine, "handle_error", _presto_transport_error)


def _presto_transport_error(context: Any) -> BaseException | None:
    # PyHive lets the HTTP client's errors through unwrapped: they would otherwise be a 500.
    orig = context.original_exception
    if type(orig).__module__.split(".")[0] in ("requests", "urllib3"):
        return DatasourceUnavailable(f"cannot reach the Presto server ({type(orig).__name__})")
    return None


def _refuse_file_transfer(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    # The Snowflake driver itself reads (PUT) or writes (GET) local files for these commands.
    code = "".join(statement[r.start : r.end] if r.kind == Kind.CODE else " " for r in regions(statement, GENERIC))
    first = _FIRST_WORD.match(code)
    if first is not None and first.group(1).upper() in _SNOWFLAKE_FILE_COMMANDS:
        raise QueryFailed("PUT and GET are not allowed: they transfer files of the service's host")


def begin_session(conn: Connection, timeout_s: float | None) -> Callable[[], None] | None:
    """Make a fresh session read-only and bound its statements by ``timeout_s`` where the database can.

    Returns what to call when the session ends (None when nothing is needed).
    """
    backend = conn.dialect.name
    if backend == "oracle":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")  # must be the transaction's first statement
        if timeout_s is not None:
            conn.connection.dbapi_connection.call_timeout = int(timeout_s * 1000)  # type: ignore[union-attr]
        return None
    if backend == "duckdb":
        # duckdb_engine begins a read-write transaction with the first statement: replace it.
        conn.exec_driver_sql("SELECT 1")
        raw: Any = conn.connection.dbapi_connection
        raw.execute("ROLLBACK")
        raw.execute("BEGIN TRANSACTION READ ONLY")
        if timeout_s is None:
            return None
        # DuckDB has no statement timeout: interrupt the connection when the session's time is up.
        timer = threading.Timer(timeout_s, _interrupt, args=(raw,))
        timer.daemon = True
        timer.start()
        return timer.cancel
    return None


def _interrupt(raw: Any) -> None:
    try:
        raw.interrupt()
    except Exception:  # noqa: BLE001 - a connection closed meanwhile has nothing left to interrupt
        return


def is_timeout(orig: BaseException | None) -> bool:
    """Whether a driver error of these dialects means the statement timeout stopped the query."""
    name = type(orig).__name__
    if name == "InterruptException" and type(orig).__module__.lstrip("_").startswith("duckdb"):
        return True
    return str(orig).startswith(("DPY-4024", "ORA-01013"))  # oracledb: call timeout exceeded / call cancelled


def trivial_query(dialect_name: str) -> str:
    """A query that returns one row on this database (``_validate``)."""
    return _TRIVIAL.get(dialect_name, "SELECT 1")


def current_catalog(conn: Connection) -> str:
    """The catalog (database) the session is connected to; ``main`` where the database has one only."""
    sql = _CURRENT_CATALOG.get(conn.dialect.name)
    if sql is None:
        return "main"
    return str(conn.execute(text(sql)).scalar_one() or "")


def server_version(conn: Connection) -> str | None:
    """The server's version as the database reports it."""
    if conn.dialect.name == "duckdb":  # duckdb_engine reports a PostgreSQL version for compatibility
        return str(conn.execute(text("SELECT version()")).scalar_one()).lstrip("v")
    version = conn.dialect.server_version_info
    return ".".join(str(p) for p in version) if version else None


_DUCKDB_ARRAY = re.compile(r"(\[\d*\])+$")


def duckdb_type_name(type_code: Any) -> str:
    """``duckdb:<TYPE>`` for a result column: parameters dropped, arrays named by their element type
    (as PostgreSQL arrays are), ``[]`` kept so that converters know a list is coming."""
    name = str(type_code)
    element = _DUCKDB_ARRAY.sub("", name)
    base = element.split("(", 1)[0].strip()
    return f"duckdb:{base}{'[]' if element != name else ''}"


_DUCKDB_COLUMNS = """
SELECT c.table_name, c.column_name, c.data_type, c.is_nullable,
       CASE WHEN v.view_name IS NULL THEN 'table' ELSE 'view' END AS kind
FROM duckdb_columns() c
LEFT JOIN duckdb_views() v
  ON v.database_name = c.database_name AND v.schema_name = c.schema_name AND v.view_name = c.table_name
WHERE c.database_name = :catalog AND c.schema_name = :schema
ORDER BY c.table_name, c.column_index
"""
_DUCKDB_KEYS = """
SELECT table_name, constraint_column_names FROM duckdb_constraints()
WHERE database_name = :catalog AND schema_name = :schema AND constraint_type = 'PRIMARY KEY'
"""


def duckdb_tables(conn: Connection, schema: str) -> list[dict[str, Any]]:
    """Tables and views of a DuckDB schema (``catalog.schema`` as the inspector names them).

    From DuckDB's own catalog functions: duckdb_engine reflects columns with
    PostgreSQL catalog queries that DuckDB does not answer under SQLAlchemy 2.1.
    """
    catalog, _, name = schema.rpartition(".")
    catalog = catalog or current_catalog(conn)
    where = {"catalog": catalog, "schema": name}
    keys = {row[0]: list(row[1]) for row in conn.execute(text(_DUCKDB_KEYS), where)}
    tables: dict[str, dict[str, Any]] = {}
    for table, column, data_type, nullable, kind in conn.execute(text(_DUCKDB_COLUMNS), where):
        entry = tables.setdefault(
            table, {"name": table, "type": kind, "columns": [], "primary_key": keys.get(table, [])}
        )
        entry["columns"].append({"name": column, "type": data_type, "nullable": bool(nullable)})
    return list(tables.values())
