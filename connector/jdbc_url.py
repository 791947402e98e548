"""Own the translation of JDBC URLs into SQLAlchemy URLs and driver arguments.

Only the JDBC properties listed per database are understood; any other one is
refused rather than ignored, because silently dropping something like
``ssl=true`` would weaken a connection without anyone noticing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from sqlalchemy.engine import URL

from connector.jdbc_oracle import oracle
from connector.jdbc_properties import (
    JdbcUrlError,
    Translated,
    apply_properties,
    arg,
    as_bool,
    as_number,
    host_port,
    ignore,
    set_password,
    set_timezone,
    set_user,
    split_hosts,
)
from connector.jdbc_sqlserver import jtds, sqlserver
from connector.jdbc_warehouses import clickhouse, db2, duckdb, presto, redshift, snowflake, trino

__all__ = ["SUPPORTED_PREFIXES", "JdbcUrlError", "Translated", "translate"]

SUPPORTED_PREFIXES = (
    "jdbc:postgresql:",
    "jdbc:mysql:",
    "jdbc:mariadb:",
    "jdbc:sqlite:",
    "jdbc:sqlserver:",
    "jdbc:jtds:sqlserver:",
    "jdbc:oracle:thin:",
    "jdbc:trino:",
    "jdbc:presto:",
    "jdbc:redshift:",
    "jdbc:snowflake:",
    "jdbc:clickhouse:",
    "jdbc:ch:",
    "jdbc:db2:",
    "jdbc:duckdb:",
)


def translate(jdbc_url: str, properties: Mapping[str, Any] | None = None) -> Translated:
    """Translate a JDBC URL (and JDBC ``properties``) into a :class:`Translated`."""
    for prefix, handler in _HANDLERS.items():
        if jdbc_url.startswith(prefix):
            return handler(jdbc_url[len(prefix) :], dict(properties or {}))
    if jdbc_url.startswith("jdbc:"):
        kind = jdbc_url.split(":", 2)[1]
        raise JdbcUrlError(f"unsupported JDBC URL for [{kind}]; supported: {', '.join(SUPPORTED_PREFIXES)}")
    raise JdbcUrlError("must start with jdbc:")


def _pg_ssl(value: Any, out: Translated) -> None:
    if as_bool(value, "ssl"):
        out.connect_args.setdefault("sslmode", "require")


def _pg_schema(value: Any, out: Translated) -> None:
    schema = str(value)
    if not schema.replace("_", "").replace(",", "").isalnum():
        raise JdbcUrlError(f"currentSchema must be schema names separated by commas, got {schema!r}")
    out.connect_args["options"] = f"-c search_path={schema}"


def _pg_seconds(value: Any, out: Translated) -> None:
    out.connect_args["connect_timeout"] = max(1, int(as_number(value, "connectTimeout")))


def _pg_ssl_factory(value: Any, out: Translated) -> None:
    # The JDBC driver's NonValidatingFactory: encrypted, not verified (libpq's "require").
    if str(value).rsplit(".", 1)[-1] != "NonValidatingFactory":
        raise JdbcUrlError("only org.postgresql.ssl.NonValidatingFactory has a libpq equivalent (sslmode=require)")
    out.connect_args["sslmode"] = "require"


_PG_PROPS: dict[str, Callable[[Any, Translated], None]] = {
    "user": set_user,
    "password": set_password,
    "ssl": _pg_ssl,
    "sslmode": arg("sslmode"),
    "sslrootcert": arg("sslrootcert"),
    "sslcert": arg("sslcert"),
    "sslkey": arg("sslkey"),
    "connectTimeout": _pg_seconds,
    "loginTimeout": _pg_seconds,
    "ApplicationName": arg("application_name"),
    "applicationName": arg("application_name"),
    "currentSchema": _pg_schema,
    "options": arg("options"),
    "targetServerType": arg(
        "target_session_attrs", lambda v: {"primary": "read-write", "master": "read-write"}.get(str(v), str(v))
    ),
    "socketTimeout": arg("tcp_user_timeout", lambda v: int(as_number(v, "socketTimeout") * 1000)),  # s -> ms
    "sslfactory": _pg_ssl_factory,
    "gssEncMode": arg("gssencmode"),
    "readOnly": ignore,
    "defaultRowFetchSize": ignore,
    "prepareThreshold": ignore,
    "preparedStatementCacheQueries": ignore,
    "binaryTransfer": ignore,
    "stringtype": ignore,
    "reWriteBatchedInserts": ignore,
    "assumeMinServerVersion": ignore,
    "logUnclosedConnections": ignore,
    "preferQueryMode": ignore,
    "cancelSignalTimeout": ignore,
    "tcpKeepAlive": arg("keepalives", lambda v: 1 if as_bool(v, "tcpKeepAlive") else 0),
}


def _postgresql(rest: str, props: dict[str, Any]) -> Translated:
    if rest.startswith("//"):
        hosts, database, query = split_hosts(rest)
        host, port = host_port(hosts, 5432)
    else:
        database, _, query = rest.partition("?")
        host, port = "localhost", 5432
    out = Translated(URL.create("postgresql+psycopg", host=host, port=port, database=unquote(database) or None))
    apply_properties(dict(parse_qsl(query, keep_blank_values=True)), props, _PG_PROPS, out, "PostgreSQL")
    return out


def _my_ssl_mode(value: Any, out: Translated) -> None:
    mode = str(value).upper()
    for key in ("ssl", "ssl_disabled", "ssl_verify_cert", "ssl_verify_identity"):
        out.connect_args.pop(key, None)
    if mode == "DISABLED":
        out.connect_args["ssl_disabled"] = True
    elif mode == "PREFERRED":
        pass  # PyMySQL's default: TLS when the server offers it
    elif mode == "REQUIRED":
        out.connect_args["ssl"] = {"check_hostname": False, "verify_mode": False}
    elif mode in ("VERIFY_CA", "VERIFY_IDENTITY"):
        out.connect_args["ssl_verify_cert"] = True
        out.connect_args["ssl_verify_identity"] = mode == "VERIFY_IDENTITY"
    else:
        raise JdbcUrlError(
            f"sslMode must be DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY, got {value!r}"
        )


def _my_socket_timeout_ms(value: Any, out: Translated) -> None:
    seconds = max(1, int(as_number(value, "socketTimeout") / 1000))
    out.connect_args["read_timeout"] = seconds
    out.connect_args["write_timeout"] = seconds


def _my_verify(value: Any, out: Translated) -> None:
    out.connect_args["ssl_verify_cert"] = as_bool(value, "verifyServerCertificate")


def _my_refused(value: Any, out: Translated) -> None:
    """Properties that loosen the session (several statements, local files, deserialisation): SPEC §14."""
    raise JdbcUrlError("is not allowed: it would loosen the read-only session or reach local files")


def _my_use_ssl(value: Any, out: Translated) -> None:
    _my_ssl_mode("REQUIRED" if as_bool(value, "useSSL") else "DISABLED", out)


def _my_charset(value: Any, out: Translated) -> None:
    charset = str(value).lower().replace("-", "")
    out.connect_args["charset"] = "utf8mb4" if charset in ("utf8", "utf8mb4") else charset


def _my_timeout_ms(value: Any, out: Translated) -> None:
    out.connect_args["connect_timeout"] = max(1, int(as_number(value, "connectTimeout") / 1000))


_MY_PROPS: dict[str, Callable[[Any, Translated], None]] = {
    "user": set_user,
    "password": set_password,
    "useSSL": _my_use_ssl,
    "sslMode": _my_ssl_mode,
    "requireSSL": _my_use_ssl,
    "characterEncoding": _my_charset,
    "connectTimeout": _my_timeout_ms,
    "serverTimezone": set_timezone,
    "connectionTimeZone": set_timezone,
    "useUnicode": ignore,
    "zeroDateTimeBehavior": ignore,
    "useLegacyDatetimeCode": ignore,
    "allowPublicKeyRetrieval": ignore,
    "useCursorFetch": ignore,
    "defaultFetchSize": ignore,
    "socketTimeout": _my_socket_timeout_ms,
    "verifyServerCertificate": _my_verify,
    "trustServerCertificate": lambda v, out: _my_verify(not as_bool(v, "trustServerCertificate"), out),
    "tcpKeepAlive": ignore,  # PyMySQL has no switch; the OS default applies
    "autoReconnect": ignore,
    "useServerPrepStmts": ignore,
    "cachePrepStmts": ignore,
    "prepStmtCacheSize": ignore,
    "prepStmtCacheSqlLimit": ignore,
    "rewriteBatchedStatements": ignore,
    "useAffectedRows": ignore,
    "tinyInt1isBit": ignore,
    "useInformationSchema": ignore,
    "sessionVariables": _my_refused,
    "allowMultiQueries": _my_refused,
    "allowLoadLocalInfile": _my_refused,
    "allowUrlInLocalInfile": _my_refused,
    "autoDeserialize": _my_refused,
}


def _mysql(rest: str, props: dict[str, Any]) -> Translated:
    hosts, database, query = split_hosts(rest)
    host, port = host_port(hosts, 3306)
    out = Translated(URL.create("mysql+pymysql", host=host, port=port, database=unquote(database) or None))
    out.connect_args["charset"] = "utf8mb4"
    apply_properties(dict(parse_qsl(query, keep_blank_values=True)), props, _MY_PROPS, out, "MySQL/MariaDB")
    return out


def _sqlite(rest: str, props: dict[str, Any]) -> Translated:
    if props:
        raise JdbcUrlError("SQLite JDBC URLs take no properties")
    path = rest.split("?", 1)[0]
    if path.startswith("file:"):
        path = path[len("file:") :]
    if path in ("", ":memory:"):
        return Translated(URL.create("sqlite", database=":memory:"))
    return Translated(URL.create("sqlite", database=unquote(path)))


_HANDLERS: dict[str, Callable[[str, dict[str, Any]], Translated]] = {
    "jdbc:postgresql:": _postgresql,
    "jdbc:mysql:": _mysql,
    "jdbc:mariadb:": _mysql,
    "jdbc:sqlite:": _sqlite,
    "jdbc:sqlserver:": sqlserver,
    "jdbc:jtds:": jtds,
    "jdbc:oracle:": oracle,
    "jdbc:trino:": trino,
    "jdbc:presto:": presto,
    "jdbc:redshift:": redshift,
    "jdbc:snowflake:": snowflake,
    "jdbc:clickhouse:": clickhouse,
    "jdbc:ch:": clickhouse,
    "jdbc:db2:": db2,
    "jdbc:duckdb:": duckdb,
}
