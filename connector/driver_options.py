"""Own the allow-lists of database driver options, per dialect (SPEC §14).

Every option that reaches a database driver — a JDBC property after
translation, a ``sql`` property, a key of a ``sql`` URL's query string — is
checked here, and nowhere else: the option must be listed for its dialect
and its value must pass the option's check. Options that would loosen the
read-only session or reach local files are simply not listed (MySQL
``local_infile``, ``client_flag``, ``init_command``, ``read_default_file``,
``unix_socket``; libpq ``passfile``, ``service``, socket directories; pymssql
``conn_properties``...). Client TLS files must lie under ``sql.tls_roots``
and SQLite databases under ``sql.sqlite_roots``; SQLite is opened read-only
(``mode=ro``) with ``ATTACH`` (hence ``VACUUM INTO``) denied.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.settings import SqlSettings


class OptionRefused(ValueError):
    """A driver option is not allowed, or its value is not."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DriverPolicy:
    """Where local files may be read from (settings ``sql.sqlite_roots`` and ``sql.tls_roots``)."""

    sqlite_roots: tuple[str, ...] = ()
    tls_roots: tuple[str, ...] = ()

    @classmethod
    def of(cls, *, sqlite_roots: Iterable[str], tls_roots: Iterable[str]) -> DriverPolicy:
        return cls(tuple(os.path.realpath(r) for r in sqlite_roots), tuple(os.path.realpath(r) for r in tls_roots))


Check = Callable[[Any, DriverPolicy], Any]


def _integer(value: Any, _policy: DriverPolicy) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if not 0 <= number <= 86_400:
        raise ValueError("must be between 0 and 86400")
    return number


def _number(value: Any, _policy: DriverPolicy) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None
    if not 0 <= number <= 86_400:
        raise ValueError("must be between 0 and 86400")
    return number


def _boolean(value: Any, _policy: DriverPolicy) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _text(value: Any, _policy: DriverPolicy) -> str:
    text = str(value)
    if len(text) > 256 or any(ord(c) < 32 for c in text):
        raise ValueError("must be at most 256 printable characters")
    return text


def _one_of(*allowed: str) -> Check:
    def check(value: Any, _policy: DriverPolicy) -> str:
        text = str(value)
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {text!r}")
        return text

    return check


def _tls_file(*, special: tuple[str, ...] = ()) -> Check:
    def check(value: Any, policy: DriverPolicy) -> str:
        text = str(value)
        if text in special:
            return text
        return under_roots(text, policy.tls_roots, setting="sql.tls_roots", what="TLS files")

    return check


def under_roots(path: str, roots: tuple[str, ...], *, setting: str, what: str) -> str:
    """The real path of ``path`` if it lies under one of ``roots``, else ValueError."""
    if not roots:
        raise ValueError(f"{what} can only be read from directories listed in {setting}, and none is set")
    if not os.path.isabs(path):
        raise ValueError(f"{what} need an absolute path")
    real = os.path.realpath(path)  # symlinks resolved: a link in a root cannot point outside it
    if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        raise ValueError(f"{what} must lie under {setting} ({', '.join(roots)})")
    return real


# libpq settings a session may carry in ``options`` (-c name=value): formatting and timeouts only.
_PG_SETTINGS = frozenset(
    {
        "search_path",
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "application_name",
        "timezone",
        "datestyle",
        "intervalstyle",
        "extra_float_digits",
        "work_mem",
        "jit",
    }
)
_PG_OPTION = re.compile(r"-c\s*([A-Za-z_][A-Za-z0-9_.]*)=(\S+)")


def _pg_options(value: Any, _policy: DriverPolicy) -> str:
    text = str(value).strip()
    position = 0
    for found in _PG_OPTION.finditer(text):
        if text[position : found.start()].strip():
            break
        if found.group(1).lower() not in _PG_SETTINGS:
            raise ValueError(f"setting {found.group(1)} is not allowed; allowed: {', '.join(sorted(_PG_SETTINGS))}")
        position = found.end()
    if text[position:].strip() or not text:
        raise ValueError("must be -c name=value settings separated by spaces")
    return text


def _pg_host(value: Any, _policy: DriverPolicy) -> str:
    text = _text(value, _policy)
    if any(part.strip().startswith(("/", "@")) for part in text.split(",")):
        raise ValueError("must be a host name or address, not a local socket directory")
    return text


def _mysql_ssl(value: Any, _policy: DriverPolicy) -> dict[str, bool]:
    # Only the form the JDBC translation of sslMode=REQUIRED builds: encryption without verification.
    if not isinstance(value, dict) or set(value) - {"check_hostname", "verify_mode"}:
        raise ValueError("is not allowed as a value; use ssl_ca, ssl_verify_cert and ssl_verify_identity")
    return {k: bool(v) for k, v in value.items()}


_PG: dict[str, Check] = {
    "host": _pg_host,
    "hostaddr": _text,
    "port": _text,
    "sslmode": _one_of("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "sslrootcert": _tls_file(special=("system",)),
    "sslcert": _tls_file(),
    "sslkey": _tls_file(),
    "sslcrl": _tls_file(),
    "connect_timeout": _integer,
    "application_name": _text,
    "options": _pg_options,
    "keepalives": _integer,
    "keepalives_idle": _integer,
    "keepalives_interval": _integer,
    "keepalives_count": _integer,
    "tcp_user_timeout": _integer,
    "target_session_attrs": _one_of("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
    "channel_binding": _one_of("disable", "prefer", "require"),
    "gssencmode": _one_of("disable", "prefer", "require"),
    "client_encoding": _one_of("UTF8", "utf8", "UTF-8", "utf-8"),
}
_MYSQL: dict[str, Check] = {
    "charset": _one_of("utf8mb4", "utf8", "latin1", "ascii", "binary"),
    "connect_timeout": _integer,
    "read_timeout": _integer,
    "write_timeout": _integer,
    "ssl": _mysql_ssl,
    "ssl_ca": _tls_file(),
    "ssl_cert": _tls_file(),
    "ssl_key": _tls_file(),
    "ssl_disabled": _boolean,
    "ssl_verify_cert": _boolean,
    "ssl_verify_identity": _boolean,
    "program_name": _text,
}
_SQLITE: dict[str, Check] = {"timeout": _number}
_MSSQL: dict[str, Check] = {
    "login_timeout": _integer,
    "timeout": _integer,
    "appname": _text,
    "charset": _one_of("UTF-8", "utf8"),
    "tds_version": _one_of("7.0", "7.1", "7.2", "7.3", "7.4"),
}

ALLOWED: dict[str, dict[str, Check]] = {
    "postgresql": _PG,
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
    "sqlite": _SQLITE,
    "mssql": _MSSQL,
}


def check_options(backend: str, options: Mapping[str, Any], policy: DriverPolicy) -> dict[str, Any]:
    """The driver's connect arguments for ``options``; OptionRefused naming the first one not allowed."""
    table = ALLOWED.get(backend, {})
    checked: dict[str, Any] = {}
    for name, value in options.items():
        check = table.get(name)
        if check is None:
            listed = ", ".join(sorted(table)) or "none"
            raise OptionRefused(name, f"is not an allowed {backend} driver option; allowed: {listed}")
        try:
            checked[name] = check(value, policy)
        except ValueError as ex:
            raise OptionRefused(name, str(ex)) from None
    return checked


def sqlite_path(path: str, policy: DriverPolicy) -> str:
    """The real path of a SQLite database under ``sql.sqlite_roots`` (``:memory:`` needs no root)."""
    if path in ("", ":memory:"):
        return ":memory:"
    try:
        return under_roots(path, policy.sqlite_roots, setting="sql.sqlite_roots", what="SQLite databases")
    except ValueError as ex:
        raise OptionRefused("path", str(ex)) from None


_SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
# Pragmas whose argument names what to describe (the metadata browser uses them), not a new setting.
_SQLITE_DESCRIBING_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list", "table_list"}
)


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    """Deny what could reach other files from a read-only SQLite session.

    ``ATTACH`` opens (or creates) any file, and ``VACUUM INTO`` writes one
    through an internal ATTACH; a pragma with a value changes the session.
    """
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and (arg1 or "").lower() not in _SQLITE_DESCRIBING_PRAGMAS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def policy_of(sql: SqlSettings) -> DriverPolicy:
    """The driver policy the ``sql`` settings describe."""
    return DriverPolicy.of(sqlite_roots=sql.sqlite_roots, tls_roots=sql.tls_roots)
