"""Own the translation of JDBC URLs into SQLAlchemy URLs and driver arguments.

Only the JDBC properties listed per database are understood; any other one is
refused rather than ignored, because silently dropping something like
``ssl=true`` would weaken a connection without anyone noticing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from sqlalchemy.engine import URL

SUPPORTED_PREFIXES = (
    "jdbc:postgresql:",
    "jdbc:mysql:",
    "jdbc:mariadb:",
    "jdbc:sqlite:",
    "jdbc:sqlserver:",
)


class JdbcUrlError(ValueError):
    """The JDBC URL or one of its properties cannot be translated.

    ``prop`` names the JDBC property at fault when it came from ``properties``
    (not from the URL), so that the error can point at ``$.jdbc.properties.<name>``.
    """

    def __init__(self, message: str, *, prop: str | None = None) -> None:
        super().__init__(message)
        self.prop = prop


@dataclass(slots=True)
class Translated:
    """A SQLAlchemy URL without credentials, plus what the JDBC URL carried besides."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None
    timezone: str | None = None
    # connect argument -> the JDBC property of ``properties`` that set it (for error entries)
    origins: dict[str, str] = field(default_factory=dict)


def translate(jdbc_url: str, properties: Mapping[str, Any] | None = None) -> Translated:
    """Translate a JDBC URL (and JDBC ``properties``) into a :class:`Translated`."""
    for prefix, handler in _HANDLERS.items():
        if jdbc_url.startswith(prefix):
            return handler(jdbc_url[len(prefix) :], dict(properties or {}))
    if jdbc_url.startswith("jdbc:"):
        kind = jdbc_url.split(":", 2)[1]
        raise JdbcUrlError(f"unsupported JDBC URL for [{kind}]; supported: {', '.join(SUPPORTED_PREFIXES)}")
    raise JdbcUrlError("must start with jdbc:")


def _split_hosts(rest: str) -> tuple[str, str, str]:
    """Split ``//hostlist/path?query`` into hosts, path and query."""
    if not rest.startswith("//"):
        raise JdbcUrlError("expected //host[:port]/database after the JDBC prefix")
    rest = rest[2:]
    rest, _, query = rest.partition("?")
    hosts, _, path = rest.partition("/")
    return hosts, path, query


def _host_port(hosts: str, default_port: int) -> tuple[str, int]:
    if "@" in hosts:  # user:password@ was taken out before translation; never echo what is left
        raise JdbcUrlError("credentials in the URL before the host are not supported; use username and password")
    if "," in hosts:
        raise JdbcUrlError("several hosts (failover) are not supported; give one host")
    if hosts.startswith("["):
        host, _, port = hosts[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = hosts.partition(":")
    if not host:
        host = "localhost"
    if port and not port.isdigit():
        raise JdbcUrlError(f"port must be a number, got {port!r}")
    return host, int(port) if port else default_port


def _bool(value: Any, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise JdbcUrlError(f"property {name} must be true or false, got {value!r}")


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise JdbcUrlError(f"property {name} must be a number, got {value!r}") from None


def _apply(
    url_props: Mapping[str, Any],
    props: Mapping[str, Any],
    table: Mapping[str, Callable[[Any, Translated], None]],
    out: Translated,
    kind: str,
) -> None:
    """Apply the URL's properties, then ``properties`` (which win), each through ``table``."""
    for given, values in ((False, url_props), (True, props)):
        for name, value in values.items():
            handler = table.get(name) or table.get(name.lower())
            if handler is None:
                known = ", ".join(sorted(table))
                raise JdbcUrlError(
                    f"unsupported {kind} JDBC property {name!r}; supported: {known}", prop=name if given else None
                )
            before = dict(out.connect_args)
            try:
                handler(value, out)
            except JdbcUrlError as ex:
                raise JdbcUrlError(str(ex), prop=name if given else None) from None
            if given:
                for key, set_to in out.connect_args.items():
                    if key not in before or before[key] is not set_to:
                        out.origins[key] = name


def _set_user(value: Any, out: Translated) -> None:
    out.username = str(value)


def _set_password(value: Any, out: Translated) -> None:
    out.password = str(value)


def _set_timezone(value: Any, out: Translated) -> None:
    out.timezone = str(value)


def _arg(key: str, convert: Callable[[Any], Any] = str) -> Callable[[Any, Translated], None]:
    def handler(value: Any, out: Translated) -> None:
        out.connect_args[key] = convert(value)

    return handler


def _pg_ssl(value: Any, out: Translated) -> None:
    if _bool(value, "ssl"):
        out.connect_args.setdefault("sslmode", "require")


def _pg_schema(value: Any, out: Translated) -> None:
    schema = str(value)
    if not schema.replace("_", "").replace(",", "").isalnum():
        raise JdbcUrlError(f"currentSchema must be schema names separated by commas, got {schema!r}")
    out.connect_args["options"] = f"-c search_path={schema}"


def _pg_seconds(value: Any, out: Translated) -> None:
    out.connect_args["connect_timeout"] = max(1, int(_number(value, "connectTimeout")))


def _pg_ignore(value: Any, out: Translated) -> None:
    """Properties with no libpq counterpart that change nothing for a reader."""


def _pg_ssl_factory(value: Any, out: Translated) -> None:
    # The JDBC driver's NonValidatingFactory: encrypted, not verified (libpq's "require").
    if str(value).rsplit(".", 1)[-1] != "NonValidatingFactory":
        raise JdbcUrlError("only org.postgresql.ssl.NonValidatingFactory has a libpq equivalent (sslmode=require)")
    out.connect_args["sslmode"] = "require"


_PG_PROPS: dict[str, Callable[[Any, Translated], None]] = {
    "user": _set_user,
    "password": _set_password,
    "ssl": _pg_ssl,
    "sslmode": _arg("sslmode"),
    "sslrootcert": _arg("sslrootcert"),
    "sslcert": _arg("sslcert"),
    "sslkey": _arg("sslkey"),
    "connectTimeout": _pg_seconds,
    "loginTimeout": _pg_seconds,
    "ApplicationName": _arg("application_name"),
    "applicationName": _arg("application_name"),
    "currentSchema": _pg_schema,
    "options": _arg("options"),
    "targetServerType": _arg(
        "target_session_attrs", lambda v: {"primary": "read-write", "master": "read-write"}.get(str(v), str(v))
    ),
    "socketTimeout": _arg("tcp_user_timeout", lambda v: int(_number(v, "socketTimeout") * 1000)),  # s -> ms
    "sslfactory": _pg_ssl_factory,
    "gssEncMode": _arg("gssencmode"),
    "readOnly": _pg_ignore,
    "defaultRowFetchSize": _pg_ignore,
    "prepareThreshold": _pg_ignore,
    "preparedStatementCacheQueries": _pg_ignore,
    "binaryTransfer": _pg_ignore,
    "stringtype": _pg_ignore,
    "reWriteBatchedInserts": _pg_ignore,
    "assumeMinServerVersion": _pg_ignore,
    "logUnclosedConnections": _pg_ignore,
    "preferQueryMode": _pg_ignore,
    "cancelSignalTimeout": _pg_ignore,
    "tcpKeepAlive": _arg("keepalives", lambda v: 1 if _bool(v, "tcpKeepAlive") else 0),
}


def _postgresql(rest: str, props: dict[str, Any]) -> Translated:
    if rest.startswith("//"):
        hosts, database, query = _split_hosts(rest)
        host, port = _host_port(hosts, 5432)
    else:
        database, _, query = rest.partition("?")
        host, port = "localhost", 5432
    out = Translated(URL.create("postgresql+psycopg", host=host, port=port, database=unquote(database) or None))
    _apply(dict(parse_qsl(query, keep_blank_values=True)), props, _PG_PROPS, out, "PostgreSQL")
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
    seconds = max(1, int(_number(value, "socketTimeout") / 1000))
    out.connect_args["read_timeout"] = seconds
    out.connect_args["write_timeout"] = seconds


def _my_verify(value: Any, out: Translated) -> None:
    out.connect_args["ssl_verify_cert"] = _bool(value, "verifyServerCertificate")


def _my_refused(value: Any, out: Translated) -> None:
    """Properties that loosen the session (several statements, local files, deserialisation): SPEC §14."""
    raise JdbcUrlError("is not allowed: it would loosen the read-only session or reach local files")


def _my_use_ssl(value: Any, out: Translated) -> None:
    _my_ssl_mode("REQUIRED" if _bool(value, "useSSL") else "DISABLED", out)


def _my_charset(value: Any, out: Translated) -> None:
    charset = str(value).lower().replace("-", "")
    out.connect_args["charset"] = "utf8mb4" if charset in ("utf8", "utf8mb4") else charset


def _my_timeout_ms(value: Any, out: Translated) -> None:
    out.connect_args["connect_timeout"] = max(1, int(_number(value, "connectTimeout") / 1000))


_MY_PROPS: dict[str, Callable[[Any, Translated], None]] = {
    "user": _set_user,
    "password": _set_password,
    "useSSL": _my_use_ssl,
    "sslMode": _my_ssl_mode,
    "requireSSL": _my_use_ssl,
    "characterEncoding": _my_charset,
    "connectTimeout": _my_timeout_ms,
    "serverTimezone": _set_timezone,
    "connectionTimeZone": _set_timezone,
    "useUnicode": _pg_ignore,
    "zeroDateTimeBehavior": _pg_ignore,
    "useLegacyDatetimeCode": _pg_ignore,
    "allowPublicKeyRetrieval": _pg_ignore,
    "useCursorFetch": _pg_ignore,
    "defaultFetchSize": _pg_ignore,
    "socketTimeout": _my_socket_timeout_ms,
    "verifyServerCertificate": _my_verify,
    "trustServerCertificate": lambda v, out: _my_verify(not _bool(v, "trustServerCertificate"), out),
    "tcpKeepAlive": _pg_ignore,  # PyMySQL has no switch; the OS default applies
    "autoReconnect": _pg_ignore,
    "useServerPrepStmts": _pg_ignore,
    "cachePrepStmts": _pg_ignore,
    "prepStmtCacheSize": _pg_ignore,
    "prepStmtCacheSqlLimit": _pg_ignore,
    "rewriteBatchedStatements": _pg_ignore,
    "useAffectedRows": _pg_ignore,
    "tinyInt1isBit": _pg_ignore,
    "useInformationSchema": _pg_ignore,
    "sessionVariables": _my_refused,
    "allowMultiQueries": _my_refused,
    "allowLoadLocalInfile": _my_refused,
    "allowUrlInLocalInfile": _my_refused,
    "autoDeserialize": _my_refused,
}


def _mysql(rest: str, props: dict[str, Any]) -> Translated:
    hosts, database, query = _split_hosts(rest)
    host, port = _host_port(hosts, 3306)
    out = Translated(URL.create("mysql+pymysql", host=host, port=port, database=unquote(database) or None))
    out.connect_args["charset"] = "utf8mb4"
    _apply(dict(parse_qsl(query, keep_blank_values=True)), props, _MY_PROPS, out, "MySQL/MariaDB")
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


_MSSQL_PROPS: dict[str, Callable[[Any, Translated], None]] = {
    "user": _set_user,
    "username": _set_user,
    "password": _set_password,
    "loginTimeout": _arg("login_timeout", lambda v: int(_number(v, "loginTimeout"))),
    "applicationName": _arg("appname"),
    "encrypt": _pg_ignore,  # pymssql negotiates TLS from the server's freetds settings
    "trustServerCertificate": _pg_ignore,
}


def _sqlserver(rest: str, props: dict[str, Any]) -> Translated:
    if not rest.startswith("//"):
        raise JdbcUrlError("expected //host[\\instance][:port][;property=value...]")
    head, *pairs = rest[2:].split(";")
    database: str | None = None
    in_url: dict[str, Any] = {}
    for pair in pairs:
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise JdbcUrlError(f"malformed SQL Server property {pair!r}; expected name=value")
        in_url[key] = value
    given = dict(props)
    for key in ("databaseName", "database"):
        for source in (in_url, given):
            if key in source:
                database = str(source.pop(key))
    host_and_instance, _, port_text = head.partition(":")
    if port_text and not port_text.isdigit():
        raise JdbcUrlError(f"port must be a number, got {port_text!r}")
    host = host_and_instance or "localhost"
    port = int(port_text) if port_text else 1433
    out = Translated(URL.create("mssql+pymssql", host=host, port=port, database=database))
    _apply(in_url, given, _MSSQL_PROPS, out, "SQL Server")
    return out


_HANDLERS: dict[str, Callable[[str, dict[str, Any]], Translated]] = {
    "jdbc:postgresql:": _postgresql,
    "jdbc:mysql:": _mysql,
    "jdbc:mariadb:": _mysql,
    "jdbc:sqlite:": _sqlite,
    "jdbc:sqlserver:": _sqlserver,
}
