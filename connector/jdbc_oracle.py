"""Own the translation of Oracle thin JDBC URLs for python-oracledb (thin mode).

Forms: ``@//host[:port]/service``, ``@host[:port]/service`` (Easy Connect),
``@host:port:SID``, and a connect descriptor ``@(DESCRIPTION=...)`` with one
TCP or TCPS address and a service name or SID. A descriptor is read by a
small parser that knows only those parameters and refuses every other one by
name (load balancing over several addresses, source routes, ``SDU``...):
nothing of the descriptor is passed on as text. TNS aliases and LDAP names
are refused because resolving them reads local files (``tnsnames.ora``) or
asks another server.

The URL's database is the service name or SID (the endpoint a stored
password is bound to); ``service_name`` or ``sid`` in the connect arguments
says which it is.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import URL

from connector.driver_options import ORACLE_NAME
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

DEFAULT_PORT = 1521
_NAME = re.compile(ORACLE_NAME)
_MAX_DEPTH = 6


def oracle_name(text: str, what: str) -> str:
    """A service name or SID: letters, digits and ``_ . $ # -``; else JdbcUrlError."""
    if not _NAME.fullmatch(text):
        raise JdbcUrlError(f"{what} must start with a letter and hold only letters, digits, _ . $ # -, got {text!r}")
    return text


def _connect_timeout_ms(value: Any, out: Translated) -> None:
    out.connect_args["tcp_connect_timeout"] = max(1.0, as_number(value, "oracle.net.CONNECT_TIMEOUT") / 1000)


def _wallet(value: Any, out: Translated) -> None:
    text = str(value)
    if text.startswith("("):
        raise JdbcUrlError("give the wallet directory as a path (under sql.tls_roots), not a descriptor")
    out.connect_args["wallet_location"] = text


ORACLE_PROPS: dict[str, Handler] = {
    "user": set_user,
    "password": set_password,
    "oracle.net.CONNECT_TIMEOUT": _connect_timeout_ms,
    "oracle.jdbc.ReadTimeout": ignore,  # no read timeout in oracledb; interactive calls have the statement timeout
    "oracle.net.ssl_server_dn_match": arg("ssl_server_dn_match", lambda v: as_bool(v, "ssl_server_dn_match")),
    "oracle.net.ssl_server_cert_dn": arg("ssl_server_cert_dn"),
    "oracle.net.wallet_location": _wallet,
    "v$session.program": arg("program"),
    "defaultRowPrefetch": ignore,
    "oracle.jdbc.timezoneAsRegion": ignore,
    "oracle.jdbc.fanEnabled": ignore,
    "oracle.jdbc.J2EE13Compliant": ignore,
    "includeSynonyms": ignore,
    "remarksReporting": ignore,
    "internal_logon": refuse("connecting as SYSDBA/SYSOPER (internal_logon) is not allowed"),
}


def oracle(rest: str, props: dict[str, Any]) -> Translated:
    """``jdbc:oracle:thin:@<target>`` (the part after ``jdbc:oracle:``)."""
    kind, _, rest = rest.partition(":")
    if kind != "thin":
        raise JdbcUrlError(f"only jdbc:oracle:thin: URLs are supported (python-oracledb thin mode), got [{kind}]")
    credentials, at, target = rest.partition("@")
    if not at:
        raise JdbcUrlError("expected jdbc:oracle:thin:@//host:port/service or @host:port:SID")
    if credentials:  # user/password@ was taken out before translation; never echo what is left
        raise JdbcUrlError("credentials in the URL before @ are not supported; use username and password")
    target = target.strip()
    if target.startswith("("):
        host, port, name, is_service, extra = _descriptor(target)
        query = ""
    else:
        target, _, query = target.partition("?")
        host, port, name, is_service = _easy_connect(target)
        extra = {}
    key = "service_name" if is_service else "sid"
    url = URL.create("oracle+oracledb", host=host, port=port, database=name)
    out = Translated(url, {key: name, **extra})
    apply_properties(query_pairs(query), props, ORACLE_PROPS, out, "Oracle")
    return out


def _easy_connect(target: str) -> tuple[str, int, str, bool]:
    if target.startswith(("ldap:", "ldaps:")):
        raise JdbcUrlError("LDAP names are not supported; give //host:port/service")
    if target.startswith("//"):
        address, slash, service = target[2:].partition("/")
        if not slash or not service:
            raise JdbcUrlError("expected //host[:port]/service_name")
        if "/" in service or ":" in service:
            raise JdbcUrlError("server types and instance names after the service are not supported")
        host, port = _address(address)
        return host, port, oracle_name(service, "service name"), True
    if "/" in target:
        address, _, service = target.partition("/")
        host, port = _address(address)
        return host, port, oracle_name(service, "service name"), True
    address, colon, sid = target.rpartition(":")
    if colon and ":" in address.rpartition("]")[2]:  # host:port:SID ([v6]:port:SID)
        host, port = _address(address)
        return host, port, oracle_name(sid, "SID"), False
    if target and ":" not in target and "." not in target:
        raise JdbcUrlError("TNS aliases are not supported (they are read from local files); give //host:port/service")
    raise JdbcUrlError("expected //host[:port]/service_name, host:port:SID or (DESCRIPTION=...)")


def _address(text: str) -> tuple[str, int]:
    if text.startswith("["):
        end = text.find("]")
        host, port = text[: end + 1], text[end + 2 :]
    else:
        host, _, port = text.partition(":")
    found = port_number(port, DEFAULT_PORT)
    assert found is not None
    return plain_host(host), found


# ---------------------------------------------------------------- connect descriptors

_OPEN = re.compile(r"\(\s*([A-Za-z0-9_]{1,64})\s*=\s*")
_VALUE = re.compile(r"[^()]*")


def _parse(text: str) -> list[tuple[str, Any]]:
    """``(A=x)(B=(C=y))`` → ``[("A", "x"), ("B", [("C", "y")])]``, names upper-cased; linear time."""
    pos = 0
    stack: list[list[tuple[str, Any]]] = [[]]
    names: list[str] = []
    length = len(text)
    while pos < length:
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char == "(":
            opened = _OPEN.match(text, pos)
            if opened is None:
                raise JdbcUrlError("malformed connect descriptor: expected (NAME=value)")
            name, pos = opened.group(1).upper(), opened.end()
            if text.startswith("(", pos):
                if len(stack) > _MAX_DEPTH:
                    raise JdbcUrlError("connect descriptor nested too deeply")
                names.append(name)
                stack.append([])
                continue
            value = _VALUE.match(text, pos)
            assert value is not None  # matches the empty string
            if not text.startswith(")", value.end()):
                raise JdbcUrlError("malformed connect descriptor: unbalanced parentheses")
            stack[-1].append((name, value.group().strip()))
            pos = value.end() + 1
        elif char == ")":
            if not names:
                raise JdbcUrlError("malformed connect descriptor: unbalanced parentheses")
            children = stack.pop()
            stack[-1].append((names.pop(), children))
            pos += 1
        else:
            raise JdbcUrlError("malformed connect descriptor: text outside (NAME=value)")
    if names:
        raise JdbcUrlError("malformed connect descriptor: unbalanced parentheses")
    return stack[0]


def _only(items: list[tuple[str, Any]], allowed: set[str], where: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in items:
        if name not in allowed:
            raise JdbcUrlError(f"connect descriptor parameter {name} (in {where}) is not supported")
        if name in found:
            raise JdbcUrlError(f"connect descriptor gives {name} twice (several addresses are not supported)")
        found[name] = value
    return found


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise JdbcUrlError(f"connect descriptor parameter {name} must be a value, not a list")
    return value


def _descriptor(text: str) -> tuple[str, int, str, bool, dict[str, Any]]:
    top = _only(_parse(text), {"DESCRIPTION"}, "the URL")
    if "DESCRIPTION" not in top or isinstance(top["DESCRIPTION"], str):
        raise JdbcUrlError("expected (DESCRIPTION=(ADDRESS=...)(CONNECT_DATA=...))")
    description = _only(
        top["DESCRIPTION"],
        {"ADDRESS", "ADDRESS_LIST", "CONNECT_DATA", "CONNECT_TIMEOUT", "RETRY_COUNT", "RETRY_DELAY", "SECURITY"},
        "DESCRIPTION",
    )
    address_node = description.get("ADDRESS")
    if "ADDRESS_LIST" in description:
        if address_node is not None or isinstance(description["ADDRESS_LIST"], str):
            raise JdbcUrlError("give one ADDRESS (several addresses are not supported)")
        address_node = _only(description["ADDRESS_LIST"], {"ADDRESS"}, "ADDRESS_LIST").get("ADDRESS")
    if address_node is None or isinstance(address_node, str):
        raise JdbcUrlError("the connect descriptor needs (ADDRESS=(PROTOCOL=TCP)(HOST=...)(PORT=...))")
    address = _only(address_node, {"PROTOCOL", "HOST", "PORT"}, "ADDRESS")
    protocol = _text(address.get("PROTOCOL", "TCP"), "PROTOCOL").lower()
    if protocol not in ("tcp", "tcps"):
        raise JdbcUrlError(f"PROTOCOL must be TCP or TCPS, got {protocol!r}")
    host = plain_host(_text(address.get("HOST", ""), "HOST"))
    port = port_number(_text(address.get("PORT", ""), "PORT"), DEFAULT_PORT)
    assert port is not None
    data_node = description.get("CONNECT_DATA")
    if data_node is None or isinstance(data_node, str):
        raise JdbcUrlError("the connect descriptor needs (CONNECT_DATA=(SERVICE_NAME=...)) or (SID=...)")
    data = _only(data_node, {"SERVICE_NAME", "SID", "SERVER"}, "CONNECT_DATA")
    if ("SERVICE_NAME" in data) == ("SID" in data):
        raise JdbcUrlError("CONNECT_DATA needs exactly one of SERVICE_NAME or SID")
    is_service = "SERVICE_NAME" in data
    name = oracle_name(_text(data["SERVICE_NAME" if is_service else "SID"], "SERVICE_NAME"), "service name or SID")
    extra: dict[str, Any] = {"protocol": protocol} if protocol == "tcps" else {}
    for key, target in (("CONNECT_TIMEOUT", "tcp_connect_timeout"), ("RETRY_COUNT", "retry_count")):
        if key in description:
            extra[target] = int(as_number(_text(description[key], key), key))
    if "RETRY_DELAY" in description:
        extra["retry_delay"] = int(as_number(_text(description["RETRY_DELAY"], "RETRY_DELAY"), "RETRY_DELAY"))
    if "SECURITY" in description:
        security = description["SECURITY"]
        if isinstance(security, str):
            raise JdbcUrlError("SECURITY must hold (SSL_SERVER_CERT_DN=...)")
        found = _only(security, {"SSL_SERVER_CERT_DN", "SSL_SERVER_DN_MATCH"}, "SECURITY")
        if "SSL_SERVER_CERT_DN" in found:
            extra["ssl_server_cert_dn"] = _text(found["SSL_SERVER_CERT_DN"], "SSL_SERVER_CERT_DN").strip('"')
        if "SSL_SERVER_DN_MATCH" in found:
            match = _text(found["SSL_SERVER_DN_MATCH"], "SSL_SERVER_DN_MATCH").lower()
            extra["ssl_server_dn_match"] = as_bool({"on": "true", "off": "false"}.get(match, match), "DN_MATCH")
    return host, port, name, is_service, extra
