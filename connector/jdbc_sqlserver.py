"""Own the translation of SQL Server JDBC URLs (Microsoft's driver and jTDS) for pymssql.

Both name a server as ``host``, ``host:port`` or ``host\\instance`` (a named
instance, found through the SQL Server Browser when no port is given, as
FreeTDS does). pymssql cannot route to a read-only replica
(``applicationIntent=ReadOnly``), use Windows credentials or named pipes:
those properties are refused rather than silently ignored.
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
    refuse,
    set_password,
    set_user,
)

DEFAULT_PORT = 1433


def _seconds(name: str, key: str) -> Handler:
    return arg(key, lambda v: int(as_number(v, name)))


def _intent(value: Any, out: Translated) -> None:
    if str(value).lower() != "readwrite":
        raise JdbcUrlError("applicationIntent=ReadOnly is not supported by pymssql; give the replica's host instead")


def _false_only(name: str, reason: str) -> Handler:
    def handler(value: Any, out: Translated) -> None:
        if as_bool(value, name):
            raise JdbcUrlError(reason)

    return handler


def _authentication(value: Any, out: Translated) -> None:
    if str(value) not in ("SqlPassword", "NotSpecified"):
        raise JdbcUrlError("only SQL Server logins (authentication=SqlPassword) are supported")


_WINDOWS_LOGIN = "Windows (integrated, NTLM, Kerberos) logins are not supported; use a SQL Server login"

MSSQL_PROPS: dict[str, Handler] = {
    "user": set_user,
    "username": set_user,
    "password": set_password,
    "loginTimeout": _seconds("loginTimeout", "login_timeout"),
    "queryTimeout": _seconds("queryTimeout", "timeout"),
    "applicationName": arg("appname"),
    "encrypt": ignore,  # pymssql negotiates TLS from the server's freetds settings
    "trustServerCertificate": ignore,
    "hostNameInCertificate": ignore,
    "applicationIntent": _intent,
    "integratedSecurity": _false_only("integratedSecurity", _WINDOWS_LOGIN),
    "authentication": _authentication,
    "multiSubnetFailover": _false_only("multiSubnetFailover", "multiSubnetFailover needs the Microsoft driver"),
    "sendStringParametersAsUnicode": ignore,
    "selectMethod": ignore,
    "responseBuffering": ignore,
    "lastUpdateCount": ignore,
    "disableStatementPooling": ignore,
}


def _jtds_ssl(value: Any, out: Translated) -> None:
    # pymssql takes TLS from FreeTDS's configuration: it cannot promise require/authenticate.
    if str(value).lower() not in ("off", "request"):
        raise JdbcUrlError("ssl=require/authenticate cannot be enforced by pymssql; use off or request")


# jTDS reads property names case-insensitively: the table is in lower case.
JTDS_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "logintimeout": _seconds("loginTimeout", "login_timeout"),
    "sockettimeout": ignore,  # no read timeout in pymssql; the statement timeout still applies
    "appname": arg("appname"),
    "charset": arg("charset"),
    "tds": arg("tds_version"),
    "domain": refuse(_WINDOWS_LOGIN),
    "usentlmv2": refuse(_WINDOWS_LOGIN),
    "namedpipe": _false_only("namedPipe", "named pipes are local files; connect over TCP"),
    "ssl": _jtds_ssl,
    "sendstringparametersasunicode": ignore,
    "preparesql": ignore,
    "usecursors": ignore,
    "cachemetadata": ignore,
    "lastupdatecount": ignore,
}


def _pairs(parts: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in parts:
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise JdbcUrlError(f"malformed SQL Server property {pair!r}; expected name=value")
        found[key] = value
    return found


def _server(host: str, instance: str | None, port: int | None) -> tuple[str, int | None]:
    """pymssql's server: ``host\\instance`` without a port (the Browser finds it), else host and port."""
    host = plain_host(host or "localhost")
    if instance and port is None:
        if not instance.replace("_", "").replace("$", "").isalnum():
            raise JdbcUrlError(f"instance name must be letters, digits, _ or $, got {instance!r}")
        return f"{host}\\{instance}", None
    return host, port if port is not None else DEFAULT_PORT  # a port wins over an instance name, as in JDBC


def _take(sources: tuple[dict[str, Any], ...], *names: str) -> str | None:
    found: str | None = None
    for source in sources:
        for key in list(source):
            if key.lower() in names:
                found = str(source.pop(key))
    return found


def sqlserver(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:sqlserver://[host[\\instance][:port]][;name=value...]``."""
    if not rest.startswith("//"):
        raise JdbcUrlError("expected //host[\\instance][:port][;property=value...]")
    head, *parts = rest[2:].split(";")
    in_url, given = _pairs(parts), dict(props)
    sources = (in_url, given)
    database = _take(sources, "databasename", "database")
    named_host = _take(sources, "servername")
    named_instance = _take(sources, "instancename")
    named_port = _take(sources, "portnumber", "port")
    host_and_instance, _, port_text = head.partition(":")
    host, _, instance = host_and_instance.partition("\\")
    port = port_number(port_text or named_port or "", None)
    server, port = _server(host or named_host or "", instance or named_instance, port)
    out = Translated(URL.create("mssql+pymssql", host=server, port=port, database=database))
    apply_properties(in_url, given, MSSQL_PROPS, out, "SQL Server")
    return out


def jtds(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:jtds:sqlserver://host[:port][/database][;name=value...]``."""
    kind, _, rest = rest.partition(":")
    if kind != "sqlserver":
        raise JdbcUrlError(f"jTDS URLs for [{kind}] are not supported; only jdbc:jtds:sqlserver:")
    if not rest.startswith("//"):
        raise JdbcUrlError("expected jdbc:jtds:sqlserver://host[:port][/database][;property=value...]")
    head, *parts = rest[2:].split(";")
    in_url, given = _pairs(parts), dict(props)
    sources = (in_url, given)
    address, _, path = head.partition("/")
    database = _take(sources, "databasename") or path or None
    instance = _take(sources, "instance")
    host, _, port_text = address.partition(":")
    server, port = _server(host, instance, port_number(port_text, None))
    out = Translated(URL.create("mssql+pymssql", host=server, port=port, database=database))
    apply_properties(in_url, given, JTDS_PROPS, out, "jTDS")
    return out
