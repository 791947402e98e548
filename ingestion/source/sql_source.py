"""Own SQL connections: engines per datasource, read-only sessions, timeouts, errors.

Every session this service opens on a datasource is read-only where the
database supports it (PostgreSQL and MySQL/MariaDB read-only transactions,
SQLite ``query_only``; the other dialects in ``dialects``), so a query cannot
write even if its text tries to. Driver errors are turned into domain errors
with secrets scrubbed.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import psycopg
import pymysql
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine.cursor import CursorFetchStrategy
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool

from connector.datasource import ConnectionTarget
from connector.driver_options import sqlite_authorizer
from connector.errors import ConnectionLost, DatasourceUnavailable, DriverMissing, InvalidDefinition, QueryFailed
from connector.ingestion_def import Transform
from connector.redaction import scrub, scrub_for_caller
from ingestion.source import dialects
from ingestion.source.prefetch import Prefetcher
from ingestion.source.query_template import RenderedQuery
from ingestion.source.read_order import ReadOrder
from ingestion.source.sql_json import RenderedSql, prepare_session, render_sql
from ingestion.source.sql_json_mysql import RenderedLines, fields_of, mysql_type_name, render_lines
from ingestion.source.sql_lexer import family

log = logging.getLogger(__name__)

_DRIVER_HINTS = {
    "psycopg": "pip install 'psycopg[binary]'",
    "pymysql": "pip install pymysql",
}
DEFAULT_FETCH_SIZE = 1000
APPLICATION_NAME = "siren-connector"
# SQLSTATE / error numbers meaning "statement timeout" per database.
_PG_QUERY_CANCELED = "57014"
# Class 08 (connection exception) and 57P (operator intervention: backend terminated, server shutting down).
_PG_CONNECTION_GONE = ("08", "57P")
_MYSQL_TIMEOUT_ERRNOS = {1969, 3024}
# Client errors meaning the connection is gone: server gone away, lost during a query, closed.
_MYSQL_LOST_ERRNOS = {0, 2006, 2013, 2055}
_CURSOR_NAME = re.compile(r"\bc_[0-9a-f]{6,}_[0-9a-f]+\b")
RAW_CURSOR_NAME = "connector_rows"
_NO_PASSFILE = "/dev/null/pgpass"
# sqlite3's progress handler is called every N virtual machine instructions.
_SQLITE_PROGRESS_STEPS = 10_000


def create_sql_engine(target: ConnectionTarget, *, connect_timeout_s: int) -> Engine:
    """Create an engine without a pool: each session is one short-lived connection."""
    connect_args = dict(target.connect_args)
    backend = target.url.get_backend_name()
    if backend == "postgresql" or backend in ("mysql", "mariadb"):
        connect_args.setdefault("connect_timeout", connect_timeout_s)
    if backend == "postgresql":
        connect_args.setdefault("application_name", APPLICATION_NAME)  # visible to DBAs in pg_stat_activity
        # libpq would look up the service user's ~/.pgpass for a datasource without a password; a path
        # under /dev/null can never exist (and a missing file is ignored without a warning).
        connect_args["passfile"] = _NO_PASSFILE
    if backend == "sqlite":
        return create_engine(
            "sqlite://",
            creator=partial(
                _sqlite_read_only, target.url.database or ":memory:", connect_args.get("timeout", connect_timeout_s)
            ),
            poolclass=NullPool,
        )
    url, connect_args = dialects.engine_arguments(target.url, connect_args)
    try:
        engine = create_engine(url, connect_args=connect_args, poolclass=NullPool)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as ex:  # NoSuchModuleError is an ArgumentError
        driver = target.url.get_driver_name() if "+" in target.url.drivername else backend
        hint = _DRIVER_HINTS.get(driver) or dialects.install_hint(backend, driver)
        raise DriverMissing(f"the {backend} driver [{driver}] is not installed in this service ({hint})") from ex
    except ArgumentError as ex:
        reason = scrub_for_caller(str(ex).splitlines()[0], target.url.password)
        raise DatasourceUnavailable(f"the connection URL is not usable: {reason}") from None
    dialects.harden(engine)
    return engine


def _sqlite_read_only(path: str, timeout_s: float) -> sqlite3.Connection:
    """Open a SQLite database read-only (``mode=ro``), unable to reach other files (SPEC §14).

    ``path`` was checked against ``sql.sqlite_roots`` by the datasource.
    """
    uri = "file::memory:" if path == ":memory:" else f"file:{quote(path)}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)
    connection.execute("PRAGMA query_only = ON")
    connection.set_authorizer(sqlite_authorizer)
    return connection


@contextmanager
def read_only_session(
    engine: Engine,
    *,
    statement_timeout_s: float | None = None,
    secrets: tuple[str, ...] = (),
    timezone: str | None = None,
) -> Iterator[Connection]:
    """Open a connection in a read-only transaction, rolled back at the end.

    Raises DatasourceUnavailable when the connection fails and QueryFailed for
    errors inside the session; messages are scrubbed of secrets.
    """
    try:
        conn = engine.connect()
    except DBAPIError as ex:
        raise DatasourceUnavailable(f"cannot connect to datasource: {describe_db_error(ex.orig, secrets)}") from None
    except SQLAlchemyError as ex:
        raise DatasourceUnavailable(f"cannot connect to datasource: {scrub_for_caller(str(ex), *secrets)}") from None
    end_session: Callable[[], None] | None = None
    try:
        with sql_errors(secrets):
            end_session = _begin_read_only(conn, statement_timeout_s)
            if timezone is not None and conn.dialect.name == "postgresql":
                # timestamptz values come back (and render) in the datasource's time zone
                conn.exec_driver_sql("SELECT set_config('TimeZone', %(tz)s, true)", {"tz": timezone})
        with sql_errors(secrets):
            yield conn
    finally:
        if end_session is not None:
            end_session()
        try:
            conn.rollback()
            conn.close()
        except SQLAlchemyError as ex:  # a dead connection cannot roll back; nothing to keep
            log.debug("closing datasource connection failed: %s", scrub(str(ex), *secrets))


def _begin_read_only(conn: Connection, timeout_s: float | None) -> Callable[[], None] | None:
    """Start the session read-only with its statement timeout; return what ends it, if anything."""
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        if timeout_s is not None:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
    elif backend in ("mysql", "mariadb"):
        if timeout_s is not None:
            if getattr(conn.dialect, "is_mariadb", False):
                conn.exec_driver_sql(f"SET SESSION max_statement_time = {float(timeout_s)}")
            else:
                conn.exec_driver_sql(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")
        # The session default too: DDL implicitly commits, and the implicit
        # transaction after it must not be read-write (seen on MariaDB 10.11).
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        conn.exec_driver_sql("START TRANSACTION READ ONLY")
    elif backend == "sqlite" and timeout_s is not None:
        deadline = time.monotonic() + timeout_s
        raw = conn.connection.dbapi_connection
        if isinstance(raw, sqlite3.Connection):
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _SQLITE_PROGRESS_STEPS)
    elif backend != "sqlite":
        return dialects.begin_session(conn, timeout_s)
    return None


def stream_query(
    conn: Connection, sql: str, params: dict[str, Any], *, batch_size: int = DEFAULT_FETCH_SIZE
) -> CursorResult[Any]:
    """Execute a user query with a server-side cursor; the only way user SQL is run.

    Server-side cursors go through the extended protocol on PostgreSQL, which
    refuses several statements in one string ("...; COMMIT; DROP ..."), so a
    query cannot end the read-only transaction; PyMySQL and sqlite3 run one
    statement per call anyway. ``yield_per`` makes the driver fetch exactly
    ``batch_size`` rows at a time (no read-ahead beyond the batch in hand).
    """
    # Per statement: Connection.execution_options() would change the connection for good.
    result = conn.execute(text(sql), params, execution_options={"yield_per": batch_size})
    if not result.returns_rows:
        result.close()
        raise QueryFailed("the query returns no rows; give a SELECT (or WITH ... SELECT)")
    return result


def estimate_rows(conn: Connection, query: RenderedQuery, *, exact: bool) -> int | None:
    """Rows the query will return: exact ``count(*)`` if asked, else PostgreSQL's estimate.

    Absent (None) rather than wrong when the database gives no cheap answer.
    """
    sql = query.inner
    if exact:
        statement = f"SELECT count(*) FROM ({sql}) AS connector_count"
    elif conn.dialect.name == "postgresql":
        statement = f"EXPLAIN (FORMAT JSON) {sql}"
    else:
        return None
    # A savepoint keeps a failed estimate from aborting the run's transaction: the query
    # itself then runs and reports the database's own error, not "transaction is aborted".
    savepoint = conn.begin_nested() if conn.dialect.name == "postgresql" else None
    try:
        rows = execute_single(conn, statement, query.params)
        value = rows[0][0] if exact else rows[0][0][0]["Plan"]["Plan Rows"]
    except (DBAPIError, psycopg.Error, KeyError, IndexError, TypeError, ValueError) as ex:
        log.debug("no row estimate: %s", describe_db_error(ex))
        if savepoint is not None:
            savepoint.rollback()
        return None
    if savepoint is not None:
        savepoint.commit()
    return int(value)


@dataclass(slots=True)
class RowStream:
    """An open result read in batches, with what is known about it up front.

    ``rendered`` is set when the database renders the rows: each row is then
    (action, document, key, key text, *inputs) from PostgreSQL (``sql_json``)
    or (bulk item, *inputs) from MariaDB (``sql_json_mysql``).
    """

    columns: list[str]
    db_types: list[str | None]
    total: int | None
    reader: Prefetcher
    rendered: RenderedSql | RenderedLines | None = None

    def fetch(self) -> Sequence[Any]:
        """The next batch of rows (read ahead while the previous one is processed); empty at the end."""
        return self.reader.next()


@dataclass(frozen=True, slots=True)
class RenderRequest:
    """What server-side rendering needs to know about the ingestion."""

    transforms: tuple[Transform, ...]
    soft_column: str | None = None  # delete.soft: read as a value, never in the document


@contextmanager
def open_rows(
    target: ConnectionTarget,
    query: RenderedQuery,
    *,
    connect_timeout_s: int,
    statement_timeout_s: float | None = None,
    exact_total: bool = False,
    order: ReadOrder | None = None,
    batch_size: int = DEFAULT_FETCH_SIZE,
    batch_max_bytes: int | None = None,
    render: RenderRequest | None = None,
) -> Iterator[RowStream]:
    """Stream a rendered query in a read-only session; everything is closed on exit.

    With ``order`` (``read_order``: the key, or the tracking column and the key)
    rows come in that order from where it says, which makes the last position
    read a checkpoint. With ``render``, PostgreSQL renders the bulk lines when
    the column types allow.
    Batches are ``batch_size`` rows, fewer after the first one when that is
    more than about ``batch_max_bytes`` (``prefetch``).
    """
    with target_session(target, connect_timeout_s=connect_timeout_s, statement_timeout_s=statement_timeout_s) as conn:
        ordered = keyset(conn, query, order) if order is not None else query
        total = estimate_rows(conn, ordered, exact=exact_total)
        rendering = None
        lines = None
        if render is not None and conn.dialect.name == "postgresql":
            rendering = _rendering(conn, query, order, render, target.timezone)
        elif render is not None and conn.dialect.name in ("mysql", "mariadb"):
            lines = _mysql_rendering(conn, query, order, render, target.timezone)
        cursor: Any
        sql: RenderedSql | RenderedLines | None
        if rendering is not None:
            columns, db_types, sql = rendering[0], rendering[1], rendering[2]
            prepare_session(conn)
            cursor = raw_server_cursor(conn, sql.query, batch_size)
        elif lines is not None:
            columns, db_types, sql = lines[0], lines[1], lines[2]
            cursor = raw_unbuffered_cursor(conn, sql.query)
        elif conn.dialect.name in ("mysql", "mariadb"):  # PyMySQL's tuples, without SQLAlchemy's Row objects
            cursor = raw_unbuffered_cursor(conn, ordered)
            columns, db_types, sql = _mysql_columns(conn, cursor), column_db_types(cursor), None
        else:
            cursor = stream_query(conn, ordered.sql, ordered.params, batch_size=batch_size)
            columns, db_types, sql = list(cursor.keys()), column_db_types(cursor), None
        ahead = conn.dialect.name != "sqlite"  # in-process: no other process to wait for (prefetch.py)
        reader = Prefetcher(plain_rows(cursor), batch_size, max_bytes=batch_max_bytes, ahead=ahead)
        try:
            yield RowStream(columns, db_types, total, reader, sql)
        finally:
            reader.close()
            if conn.dialect.name in ("mysql", "mariadb"):
                stop_unread_result(conn, cursor)
            close_quietly(cursor)


@contextmanager
def target_session(
    target: ConnectionTarget, *, connect_timeout_s: int, statement_timeout_s: float | None = None
) -> Iterator[Connection]:
    """A read-only session on ``target`` in its time zone, its password scrubbed from errors."""
    secrets = (target.url.password,) if target.url.password else ()
    engine = create_sql_engine(target, connect_timeout_s=connect_timeout_s)
    try:
        with read_only_session(
            engine, statement_timeout_s=statement_timeout_s, secrets=secrets, timezone=target.timezone
        ) as conn:
            yield conn
    finally:
        engine.dispose()


def _rendering(
    conn: Connection, query: RenderedQuery, order: ReadOrder | None, render: RenderRequest, timezone: str
) -> tuple[list[str], list[str | None], RenderedSql] | None:
    probe = stream_query(conn, query.sql, query.params, batch_size=1)
    try:
        columns, db_types, pg_types = list(probe.keys()), column_db_types(probe), pg_column_types(probe)
    finally:
        close_quietly(probe)
    sql = render_sql(
        conn,
        query,
        columns,
        pg_types,
        order=order,
        transforms=render.transforms,
        timezone=timezone,
        soft_column=render.soft_column,
    )
    return (columns, db_types, sql) if sql is not None else None


def _mysql_rendering(
    conn: Connection, query: RenderedQuery, order: ReadOrder | None, render: RenderRequest, timezone: str
) -> tuple[list[str], list[str | None], RenderedLines] | None:
    # An unbuffered result must be read to its end before the connection can be used again: LIMIT 0.
    probe = stream_query(conn, f"SELECT * FROM ({query.inner}) AS connector_probe LIMIT 0", query.params)
    try:
        fields, db_types = fields_of(probe.cursor), column_db_types(probe)
    finally:
        close_quietly(probe)
    if fields is None:
        return None
    transforms, soft = render.transforms, render.soft_column
    lines = render_lines(conn, query, fields, order=order, transforms=transforms, timezone=timezone, soft_column=soft)
    return ([f.name for f in fields], db_types, lines) if lines is not None else None


def plain_rows(result: Any) -> Callable[[int], Sequence[Any]]:
    """The ``fetchmany`` giving the driver's own row tuples: no SQLAlchemy Row object per row.

    A SQLAlchemy result over a driver without server-side cursors (sqlite3)
    buffers nothing before the first fetch, so its DB-API cursor can be read
    directly (SQLAlchemy applies no result processors to ``text()`` queries:
    the values are the driver's). Anything else (a raw cursor, a result with
    rows buffered) is read as it is.
    """
    if not isinstance(result, CursorResult) or result.cursor is None or result.context.dialect.name != "sqlite":
        return result.fetchmany  # type: ignore[no-any-return]
    strategy = result.cursor_strategy
    if type(strategy) is not CursorFetchStrategy and getattr(strategy, "_rowbuffer", True):
        return result.fetchmany
    fetchmany: Callable[[int], Sequence[Any]] = result.cursor.fetchmany
    return fetchmany


def _mysql_columns(conn: Connection, cursor: Any) -> list[str]:
    if not cursor.description:
        stop_unread_result(conn, cursor)
        raise QueryFailed("the query returns no rows; give a SELECT (or WITH ... SELECT)")
    return [column[0] for column in cursor.description]


def keyset(conn: Connection, query: RenderedQuery, order: ReadOrder, *, sort: bool = True) -> RenderedQuery:
    """Wrap ``query`` to return its rows in ``order``, from where it starts (``sort=False``: in no order)."""
    where, order_by, params = order.clause(
        "connector_keyset", conn.dialect.identifier_preparer.quote, family(conn.dialect.name)
    )
    sql = f"SELECT * FROM ({query.inner}) AS connector_keyset{where}{order_by if sort else ''}"
    return RenderedQuery(sql, {**query.params, **params})


def raw_server_cursor(conn: Connection, query: RenderedQuery, batch_size: int) -> Any:
    """A psycopg server-side cursor on the session's connection: plain tuples, no Row objects.

    For the rendered path, where each row is a few strings and the SQLAlchemy
    Row wrapper would cost more than the row itself. Still one statement
    (DECLARE ... CURSOR FOR), in the session's read-only transaction.
    """
    sql, params = _driver_sql(conn, query.sql, query.params)
    raw: Any = conn.connection.dbapi_connection
    cursor = raw.cursor(name=RAW_CURSOR_NAME)  # one per session: the name need not be unique
    cursor.itersize = batch_size
    try:
        cursor.execute(sql, params)
    except BaseException:
        close_quietly(cursor)
        raise
    return cursor


def raw_unbuffered_cursor(conn: Connection, query: RenderedQuery) -> Any:
    """A PyMySQL unbuffered cursor on the session's connection: plain tuples, no Row objects (the rendered path)."""
    sql, params = _driver_sql(conn, query.sql, query.params)
    raw: Any = conn.connection.dbapi_connection
    cursor = raw.cursor(pymysql.cursors.SSCursor)
    try:
        cursor.execute(sql, params)
    except BaseException:
        stop_unread_result(conn, cursor)
        raise
    return cursor


def stop_unread_result(conn: Connection, cursor: Any) -> None:
    """Drop the connection of a MySQL/MariaDB result not read to its end (an abort, an error).

    Closing the cursor would read every remaining row first (the protocol
    has no other way to end an unbuffered result): millions of rows on an
    abort. Closing the socket ends the query on the server instead; the
    session then has nothing left to roll back.
    """
    result = getattr(getattr(cursor, "cursor", cursor), "_result", None)
    if result is not None and getattr(result, "unbuffered_active", False):
        result.unbuffered_active = False  # closing the cursor must not read the rest from a closed socket
        try:
            conn.invalidate()
        except (SQLAlchemyError, pymysql.err.Error, OSError) as ex:
            log.debug("dropping the datasource connection failed: %s", ex)


def _driver_sql(conn: Connection, sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``:name`` SQL and its values as the driver takes them, for a cursor of the raw connection."""
    compiled = text(sql).bindparams(**params).compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled), compiled.params


def close_quietly(result: Any) -> None:
    """Close a result, even in a failed transaction (where closing a server cursor errors)."""
    try:
        result.close()
    except (DBAPIError, SQLAlchemyError, psycopg.Error, pymysql.err.Error, OSError) as ex:
        log.debug("closing a result failed: %s", ex)


def result_columns(conn: Connection, sql: str, params: dict[str, Any]) -> tuple[list[str], list[str | None]]:
    """The names and database types of a query's columns, without reading its rows.

    PostgreSQL and SQLite open the cursor and close it before the first fetch;
    MySQL/MariaDB stream rows as soon as the query runs (and must drain them to
    close), so there the query is wrapped in ``LIMIT 0``.
    """
    if conn.dialect.name in ("mysql", "mariadb"):
        sql = f"SELECT * FROM ({RenderedQuery(sql).inner}) AS connector_probe LIMIT 0"
    result = stream_query(conn, sql, params)
    try:
        return list(result.keys()), column_db_types(result)
    finally:
        result.close()


def check_unique_columns(columns: Sequence[str], *, entry: str) -> None:
    """Refuse a result with several columns of one name: they would be one document field."""
    seen: set[str] = set()
    duplicates = sorted({c for c in columns if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if duplicates:
        raise InvalidDefinition.single(
            entry, "unique_columns", f"the query returns several columns named {duplicates}; give them aliases"
        )


def execute_single(conn: Connection, sql: str, params: dict[str, Any]) -> list[Any]:
    """Run a statement built around user SQL (EXPLAIN, count) and return all its rows.

    On PostgreSQL a plain execute may use the simple query protocol, which runs
    "...; COMMIT; DROP ..." as three statements; a prepared statement cannot
    hold more than one, so psycopg is asked to prepare it.
    """
    if conn.dialect.name != "postgresql":
        return list(conn.execute(text(sql), params).fetchall())
    driver_sql, driver_params = _driver_sql(conn, sql, params)
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(driver_sql, driver_params, prepare=True)
        return list(cursor.fetchall())
    finally:
        cursor.close()


@contextmanager
def sql_errors(secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn driver errors raised inside the block into QueryFailed (or DatasourceUnavailable)."""
    try:
        yield
    except DBAPIError as ex:
        sqlstate = ex.orig.sqlstate if isinstance(ex.orig, psycopg.Error) else None
        lost = ex.connection_invalidated or (sqlstate or "").startswith(_PG_CONNECTION_GONE)
        raise _domain_error(ex.orig, secrets, lost=lost) from None
    except (StatementError, ArgumentError) as ex:  # SQLAlchemy refused the statement before the database saw it
        raise QueryFailed(scrub_for_caller(str(ex).splitlines()[0], *secrets)) from None
    except psycopg.Error as ex:  # from a raw cursor (the rendered path)
        raise _domain_error(ex, secrets, lost=_pg_lost(ex)) from None
    except pymysql.err.Error as ex:  # from a raw cursor (the rendered path)
        lost = isinstance(ex, pymysql.err.OperationalError | pymysql.err.InterfaceError) and (
            not ex.args or ex.args[0] in _MYSQL_LOST_ERRNOS
        )
        raise _domain_error(ex, secrets, lost=lost) from None


def _pg_lost(ex: psycopg.Error) -> bool:
    """Whether an error of a raw psycopg cursor means the connection is gone."""
    # No SQLSTATE at all: the client noticed a closed socket.
    return ex.sqlstate is None or ex.sqlstate.startswith(_PG_CONNECTION_GONE)


def _domain_error(orig: BaseException | None, secrets: tuple[str, ...], *, lost: bool) -> QueryFailed | ConnectionLost:
    """The error of a statement on an open connection: not masked by content (``redaction``), logged scrubbed."""
    log.debug("datasource error: %s", describe_db_error(orig, secrets))  # the log filter masks every secret
    if is_timeout(orig):
        return QueryFailed("the query was cancelled: statement timeout reached", error_type="query_timeout_exception")
    if lost:
        return ConnectionLost(f"lost the datasource connection: {describe_db_error(orig)}")
    return QueryFailed(describe_db_error(orig))


def is_timeout(orig: BaseException | None) -> bool:
    """Whether a driver error means the statement timeout cancelled the query."""
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    if sqlstate == _PG_QUERY_CANCELED:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_TIMEOUT_ERRNOS:
        return True
    if isinstance(orig, sqlite3.OperationalError) and "interrupted" in str(orig):
        return True
    return dialects.is_timeout(orig)


def describe_db_error(orig: BaseException | None, secrets: tuple[str, ...] = ()) -> str:
    """The driver's own message (not SQLAlchemy's wrapper with SQL and links), scrubbed."""
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (errno, message)
        text = f"({args[0]}) {args[1]}"
    else:
        text = str(orig) if orig is not None else "unknown database error"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # Server-side cursor names carry memory addresses (SQLAlchemy's c_<id>_<n>): say "cursor" instead.
    message = _CURSOR_NAME.sub("cursor", "; ".join(lines[:3])) or type(orig).__name__
    return scrub_for_caller(message, *secrets)


def pg_column_types(result: CursorResult[Any]) -> list[tuple[str | None, bool]]:
    """PostgreSQL type name (element type for arrays) and whether it is an array, per column."""
    description = result.cursor.description if result.cursor is not None else None
    if not description or result.context is None or result.context.dialect.name != "postgresql":
        return []
    raw = result.context.root_connection.connection.dbapi_connection
    types = getattr(getattr(raw, "adapters", None), "types", None)
    found: list[tuple[str | None, bool]] = []
    for column in description:
        info = types.get(column[1]) if types is not None else None
        found.append((str(info.name), info.array_oid == column[1]) if info is not None else (None, False))
    return found


def column_db_types(result: CursorResult[Any] | Any) -> list[str | None]:
    """Return the database type name of each result column, when the driver says it (or a raw PyMySQL cursor's)."""
    if not isinstance(result, CursorResult):
        return [mysql_type_name(column[1]) for column in result.description or ()]
    description = result.cursor.description if result.cursor is not None else None
    if not description:
        return []
    dialect = result.context.dialect.name if result.context is not None else ""
    names: list[str | None] = []
    if dialect == "postgresql":
        raw = result.context.root_connection.connection.dbapi_connection
        types = getattr(getattr(raw, "adapters", None), "types", None)
        for column in description:
            info = types.get(column[1]) if types is not None else None
            names.append(str(info.name) if info is not None else None)
    elif dialect in ("mysql", "mariadb"):
        names = [mysql_type_name(column[1]) for column in description]
    elif dialect == "duckdb":
        names = [dialects.duckdb_type_name(column[1]) for column in description]
    else:
        names = [None] * len(description)
    return names
