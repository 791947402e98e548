"""Own what every JDBC URL translation shares: the result type, the error, properties.

A translation turns a JDBC URL and its ``properties`` into a SQLAlchemy URL
without credentials plus driver arguments (:class:`Translated`). Properties go
through a per-database table of handlers (:func:`apply_properties`): a property missing
from the table is refused, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.engine import URL

Handler = Callable[[Any, "Translated"], None]


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


def split_hosts(rest: str) -> tuple[str, str, str]:
    """Split ``//hostlist/path?query`` into hosts, path and query."""
    if not rest.startswith("//"):
        raise JdbcUrlError("expected //host[:port]/database after the JDBC prefix")
    rest = rest[2:]
    rest, _, query = rest.partition("?")
    hosts, _, path = rest.partition("/")
    return hosts, path, query


def host_port(hosts: str, default_port: int) -> tuple[str, int]:
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
    return host, port_number(port, default_port) or default_port


def as_bool(value: Any, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise JdbcUrlError(f"property {name} must be true or false, got {value!r}")


def as_number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise JdbcUrlError(f"property {name} must be a number, got {value!r}") from None
    if not 0 <= number <= 86_400_000:  # refuses NaN and infinities too
        raise JdbcUrlError(f"property {name} must be between 0 and 86400000, got {value!r}")
    return number


def apply_properties(
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


def set_user(value: Any, out: Translated) -> None:
    out.username = str(value)


def set_password(value: Any, out: Translated) -> None:
    out.password = str(value)


def set_timezone(value: Any, out: Translated) -> None:
    out.timezone = str(value)


def arg(key: str, convert: Callable[[Any], Any] = str) -> Callable[[Any, Translated], None]:
    def handler(value: Any, out: Translated) -> None:
        out.connect_args[key] = convert(value)

    return handler


def ignore(value: Any, out: Translated) -> None:
    """Properties with no counterpart in the Python driver that change nothing for a reader."""


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]{2,45}\]")


def plain_host(host: str) -> str:
    """``host`` if it is a DNS name or an IP address, else JdbcUrlError.

    Some drivers paste the host into a connection string of their own (an
    Oracle descriptor, a Db2 ``KEY=value;`` string), where ``)``, ``(``, ``;``
    or ``=`` would add settings: such characters never reach them.
    """
    if _HOST.fullmatch(host):
        return host
    if _IPV6.fullmatch(host):
        return host[1:-1]
    raise JdbcUrlError(f"host must be a DNS name or an IP address, got {host!r}")


def port_number(text: str, default: int | None) -> int | None:
    """A TCP port from its text (``default`` when empty), else JdbcUrlError."""
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:  # "²".isdigit() is true
        raise JdbcUrlError(f"port must be a number between 1 and 65535, got {text!r}")
    return int(text)


def query_pairs(query: str) -> dict[str, str]:
    """The ``name=value`` pairs of a URL query string, decoded."""
    return dict(parse_qsl(query, keep_blank_values=True))


def refuse(reason: str) -> Handler:
    """A handler for a property that is known and refused, saying why (SPEC §14)."""

    def handler(value: Any, out: Translated) -> None:
        raise JdbcUrlError(reason)

    return handler
