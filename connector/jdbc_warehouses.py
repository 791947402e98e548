"""Own the translation of JDBC URLs of query engines and warehouses.

Trino, Presto, Amazon Redshift, Snowflake, ClickHouse, IBM Db2 and DuckDB,
each to the SQLAlchemy dialect of its optional extra. Properties that
authenticate through something other than a user and password (Kerberos,
IAM profiles, private key files, browser logins, access tokens that would
be stored unencrypted) are refused by omission: only the listed ones pass.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL

from connector.jdbc_properties import (
    Handler,
    JdbcUrlError,
    Translated,
    apply_properties,
    arg,
    as_bool,
    as_number,
    ignore,
    plain_host,
    port_number,
    query_pairs,
    refuse,
    set_password,
    set_user,
)


def _authority(rest: str, default_port: int | None, example: str) -> tuple[str, int | None, list[str], str]:
    """``//host[:port][/a[/b]][?query]`` → host, port, path parts, query."""
    if not rest.startswith("//"):
        raise JdbcUrlError(f"expected {example}")
    rest, _, query = rest[2:].partition("?")
    address, _, path = rest.partition("/")
    if "@" in address:  # user:password@ was taken out before translation; never echo what is left
        raise JdbcUrlError("credentials in the URL before the host are not supported; use username and password")
    if address.startswith("["):
        end = address.find("]")
        host, port = address[: end + 1], address[end + 2 :]
    else:
        host, _, port = address.partition(":")
    parts = [p for p in path.split("/") if p]
    return plain_host(host or "localhost"), port_number(port, default_port), parts, query


def _seconds_from_ms(name: str, key: str) -> Handler:
    return arg(key, lambda v: max(1, int(as_number(v, name) / 1000)))


def _flag(name: str, key: str) -> Handler:
    return arg(key, lambda v: as_bool(v, name))


# ---------------------------------------------------------------- Trino and Presto


def _trino_ssl(value: Any, out: Translated) -> None:
    out.connect_args["http_scheme"] = "https" if as_bool(value, "SSL") else "http"


def _trino_verification(value: Any, out: Translated) -> None:
    mode = str(value).upper()
    if mode not in ("FULL", "CA", "NONE"):
        raise JdbcUrlError(f"SSLVerification must be FULL, CA or NONE, got {value!r}")
    out.connect_args["verify"] = mode != "NONE"


def _trino_trust(value: Any, out: Translated) -> None:
    path = str(value)
    if not path.lower().endswith((".pem", ".crt")):
        raise JdbcUrlError("only PEM trust stores (.pem, .crt) are supported, under sql.tls_roots")
    out.connect_args["verify"] = path


def _tags(value: Any, out: Translated) -> None:
    out.connect_args["client_tags"] = [tag.strip() for tag in str(value).split(",") if tag.strip()]


def _presto_ssl(value: Any, out: Translated) -> None:
    out.connect_args["protocol"] = "https" if as_bool(value, "SSL") else "http"


_NOT_STORED = "is not supported: give a password (stored encrypted) or a user without one"
TRINO_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "SSL": _trino_ssl,
    "SSLVerification": _trino_verification,
    "SSLTrustStorePath": _trino_trust,
    "source": arg("source"),
    "applicationNamePrefix": arg("source"),
    "clientTags": _tags,
    "clientInfo": ignore,
    "traceToken": ignore,
    "disableCompression": ignore,
    "explicitPrepare": ignore,
    "accessToken": refuse(f"accessToken {_NOT_STORED}"),
    "externalAuthentication": refuse("externalAuthentication opens a browser; it cannot work in a service"),
}
PRESTO_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "SSL": _presto_ssl,
    "source": arg("source"),
    "applicationNamePrefix": arg("source"),
    "clientTags": ignore,
    "clientInfo": ignore,
    "traceToken": ignore,
    "disableCompression": ignore,
}


def _catalog_schema(parts: list[str]) -> str | None:
    if len(parts) > 2:
        raise JdbcUrlError("expected at most /catalog/schema after the host")
    return "/".join(parts) or None


def trino(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:trino://host[:port][/catalog[/schema]][?property=value&...]``."""
    host, port, parts, query = _authority(rest, None, "jdbc:trino://host:port[/catalog[/schema]]")
    out = Translated(URL.create("trino", host=host, database=_catalog_schema(parts)))
    apply_properties(query_pairs(query), props, TRINO_PROPS, out, "Trino")
    https = out.connect_args.get("http_scheme") == "https"
    out.url = out.url.set(port=port or (443 if https else 80))  # the JDBC driver's defaults
    return out


def presto(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:presto://host[:port][/catalog[/schema]][?property=value&...]``."""
    host, port, parts, query = _authority(rest, None, "jdbc:presto://host:port[/catalog[/schema]]")
    out = Translated(URL.create("presto", host=host, database=_catalog_schema(parts)))
    apply_properties(query_pairs(query), props, PRESTO_PROPS, out, "Presto")
    https = out.connect_args.get("protocol") == "https"
    out.url = out.url.set(port=port or (443 if https else 80))
    return out


# ---------------------------------------------------------------- Amazon Redshift

_IAM = "IAM and identity-provider logins read AWS credentials from the service's environment; use a password"
REDSHIFT_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "ssl": _flag("ssl", "ssl"),
    "sslmode": arg("sslmode", lambda v: str(v).lower()),
    "loginTimeout": arg("timeout", lambda v: max(1, int(as_number(v, "loginTimeout")))),
    "connectTimeout": arg("timeout", lambda v: max(1, int(as_number(v, "connectTimeout")))),
    "socketTimeout": ignore,  # no read timeout in redshift_connector; interactive calls have the statement timeout
    "ApplicationName": arg("application_name"),
    "tcpKeepAlive": _flag("tcpKeepAlive", "tcp_keepalive"),
    "DbUser": refuse(_IAM),
    "AccessKeyID": refuse(_IAM),
    "SecretAccessKey": refuse(_IAM),
    "Profile": refuse(_IAM),
    "plugin_name": refuse(_IAM),
}


def redshift(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:redshift://host[:port]/database[?property=value&...]``."""
    if rest.startswith("iam:"):
        raise JdbcUrlError(_IAM)
    host, port, parts, query = _authority(rest, 5439, "jdbc:redshift://host:5439/database")
    if len(parts) != 1:
        raise JdbcUrlError("expected one database name after the host")
    out = Translated(URL.create("redshift+redshift_connector", host=host, port=port, database=parts[0]))
    apply_properties(query_pairs(query), props, REDSHIFT_PROPS, out, "Redshift")
    return out


# ---------------------------------------------------------------- Snowflake

_SNOWFLAKE_HOSTS = (".snowflakecomputing.com", ".snowflakecomputing.cn")


def _authenticator(value: Any, out: Translated) -> None:
    if str(value).lower() != "snowflake":
        raise JdbcUrlError("only authenticator=snowflake (user and password) is supported")


SNOWFLAKE_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "warehouse": arg("warehouse"),
    "role": arg("role"),
    "authenticator": _authenticator,
    "loginTimeout": arg("login_timeout", lambda v: int(as_number(v, "loginTimeout"))),
    "networkTimeout": arg("network_timeout", lambda v: int(as_number(v, "networkTimeout"))),
    "application": arg("application"),
    "CLIENT_SESSION_KEEP_ALIVE": _flag("CLIENT_SESSION_KEEP_ALIVE", "client_session_keep_alive"),
    "ocspFailOpen": _flag("ocspFailOpen", "ocsp_fail_open"),
    "tracing": ignore,
    "JDBC_QUERY_RESULT_FORMAT": ignore,
    "private_key_file": refuse("key-pair logins read a key file; use a password"),
    "token": refuse(f"token {_NOT_STORED}"),
}


def snowflake(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:snowflake://<account>.snowflakecomputing.com/?db=..&schema=..&warehouse=..&role=..``."""
    host, port, parts, query = _authority(rest, None, "jdbc:snowflake://<account>.snowflakecomputing.com/?db=...")
    suffix = next((s for s in _SNOWFLAKE_HOSTS if host.lower().endswith(s)), None)
    if suffix is None or parts:
        raise JdbcUrlError("expected jdbc:snowflake://<account>.snowflakecomputing.com/?db=...&warehouse=...")
    if port not in (None, 443):
        raise JdbcUrlError("Snowflake listens on port 443 only")
    in_url, given = query_pairs(query), dict(props)
    names: dict[str, str] = {}
    for source in (in_url, given):
        for key in ("db", "schema"):
            if key in source:
                names[key] = str(source.pop(key))
    if "schema" in names and "db" not in names:
        raise JdbcUrlError("a schema needs its database (db=...)")
    database = "/".join(names[k] for k in ("db", "schema") if k in names) or None
    out = Translated(URL.create("snowflake", host=host[: -len(suffix)], database=database))
    apply_properties(in_url, given, SNOWFLAKE_PROPS, out, "Snowflake")
    return out


# ---------------------------------------------------------------- ClickHouse


def _ch_ssl(value: Any, out: Translated) -> None:
    out.connect_args["secure"] = as_bool(value, "ssl")


def _ch_sslmode(value: Any, out: Translated) -> None:
    mode = str(value).lower()
    if mode not in ("strict", "none"):
        raise JdbcUrlError(f"sslmode must be strict or none, got {value!r}")
    out.connect_args["verify"] = mode == "strict"


CLICKHOUSE_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "ssl": _ch_ssl,
    "sslmode": _ch_sslmode,
    "sslrootcert": arg("ca_cert"),
    "socket_timeout": _seconds_from_ms("socket_timeout", "send_receive_timeout"),
    "connect_timeout": _seconds_from_ms("connect_timeout", "connect_timeout"),
    "compress": _flag("compress", "compress"),
    "client_name": arg("client_name"),
    "http_connection_provider": ignore,
}


def clickhouse(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:clickhouse:[http:|https:]//host[:port][/database][?...]`` (also ``jdbc:ch:``)."""
    protocol = "http"
    for name in ("http:", "https:"):
        if rest.startswith(name):
            protocol, rest = name[:-1], rest[len(name) :]
    if not rest.startswith("//"):
        raise JdbcUrlError("only the HTTP interface is supported: jdbc:clickhouse://host:8123/database")
    host, port, parts, query = _authority(rest, None, "jdbc:clickhouse://host:8123/database")
    in_url, given = query_pairs(query), dict(props)
    database = parts[0] if len(parts) == 1 else None
    if len(parts) > 1:
        raise JdbcUrlError("expected one database name after the host")
    for source in (in_url, given):
        if "database" in source:
            database = str(source.pop("database"))
    out = Translated(URL.create("clickhousedb", host=host, database=database))
    if protocol == "https":
        out.connect_args["secure"] = True
    apply_properties(in_url, given, CLICKHOUSE_PROPS, out, "ClickHouse")
    out.url = out.url.set(port=port or (8443 if out.connect_args.get("secure") else 8123))
    return out


# ---------------------------------------------------------------- IBM Db2


def _db2_ssl(value: Any, out: Translated) -> None:
    if as_bool(value, "sslConnection"):
        out.connect_args["Security"] = "SSL"
    else:
        out.connect_args.pop("Security", None)


DB2_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "currentSchema": arg("CurrentSchema"),
    "sslConnection": _db2_ssl,
    "sslCertLocation": arg("SSLServerCertificate"),
    "loginTimeout": ignore,  # ibm_db_sa passes no timeout to the CLI driver
    "clientProgramName": ignore,
    "retrieveMessagesFromServerOnGetMessage": ignore,
    "progressiveStreaming": ignore,
    "fullyMaterializeLobData": ignore,
    "sslTrustStoreLocation": refuse("Java trust stores are not readable by ibm_db; give sslCertLocation (PEM/ARM)"),
}


def db2(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:db2://host[:port]/database[:property=value;...;]``."""
    head, pairs = db2_split(rest)
    host, port, parts, query = _authority(head, 50000, "jdbc:db2://host:50000/database")
    if len(parts) != 1 or query:
        raise JdbcUrlError("expected jdbc:db2://host:port/database[:property=value;...]")
    in_url: dict[str, str] = {}
    for pair in pairs.split(";"):
        if pair.strip():
            key, sep, value = pair.partition("=")
            if not sep:
                raise JdbcUrlError(f"malformed Db2 property {pair!r}; expected name=value")
            in_url[key.strip()] = value
    out = Translated(URL.create("db2+ibm_db", host=host, port=port, database=parts[0]))
    apply_properties(in_url, props, DB2_PROPS, out, "Db2")
    return out


def db2_split(rest: str) -> tuple[str, str]:
    """Split ``//host:port/db:props`` at the colon after the database (not the port's)."""
    slash = rest.find("/", 2)
    colon = rest.find(":", slash) if slash >= 0 else -1
    return (rest, "") if colon < 0 else (rest[:colon], rest[colon + 1 :])


# ---------------------------------------------------------------- DuckDB


def _duckdb_read_only(value: Any, out: Translated) -> None:
    if not as_bool(value, "duckdb.read_only"):
        raise JdbcUrlError("DuckDB databases are always opened read-only")


DUCKDB_PROPS: dict[str, Handler] = {
    "duckdb.read_only": _duckdb_read_only,
    "threads": arg("threads"),
    "memory_limit": arg("memory_limit"),
}


def duckdb(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:duckdb:`` (in memory) or ``jdbc:duckdb:/path/file.duckdb``."""
    path, _, query = rest.partition("?")
    if path.startswith("md:") or path.startswith("motherduck:"):
        raise JdbcUrlError("MotherDuck databases are not supported")
    out = Translated(URL.create("duckdb", database=path if path not in ("", ":memory:") else ":memory:"))
    apply_properties(query_pairs(query), props, DUCKDB_PROPS, out, "DuckDB")
    return out
