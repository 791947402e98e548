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
    """Where local files may be read from (settings ``sql.sqlite_roots``, ``sql.duckdb_roots``, ``sql.tls_roots``)."""

    sqlite_roots: tuple[str, ...] = ()
    tls_roots: tuple[str, ...] = ()
    duckdb_roots: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, *, sqlite_roots: Iterable[str], tls_roots: Iterable[str], duckdb_roots: Iterable[str] = ()
    ) -> DriverPolicy:
        def real(roots: Iterable[str]) -> tuple[str, ...]:
            return tuple(os.path.realpath(r) for r in roots)

        return cls(real(sqlite_roots), real(tls_roots), real(duckdb_roots))


Check = Callable[[Any, DriverPolicy], Any]


def _integer(value: Any, _policy: DriverPolicy, *, minimum: int = 0) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.lstrip("-").isdigit()):
        raise ValueError(f"must be a whole number, got {value!r}")
    number = int(text)
    if not minimum <= number <= 86_400:
        raise ValueError(f"must be between {minimum} and 86400")
    return number


def _positive(value: Any, policy: DriverPolicy) -> int:
    return _integer(value, policy, minimum=1)


def _number(value: Any, _policy: DriverPolicy) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None
    if not 0 <= number <= 86_400:  # NaN and infinities fail this too
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


def _mysql_ssl(value: Any, _policy: DriverPolicy) -> dict[str, bool]:
    # Only the form the JDBC translation of sslMode=REQUIRED builds: encryption without verification.
    if not isinstance(value, dict) or set(value) - {"check_hostname", "verify_mode"}:
        raise ValueError("is not allowed as a value; use ssl_ca, ssl_verify_cert and ssl_verify_identity")
    return {k: bool(v) for k, v in value.items()}


# No host, hostaddr or port: the URL names the server, and the stored password is bound to it.
_PG: dict[str, Check] = {
    "sslmode": _one_of("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "sslrootcert": _tls_file(special=("system",)),
    "sslcert": _tls_file(),
    "sslkey": _tls_file(),
    "sslcrl": _tls_file(),
    "connect_timeout": _positive,
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
    # utf8mb4 only: any text of a query or a value can be sent (another charset could not encode some).
    "charset": _one_of("utf8mb4", "utf8"),
    "connect_timeout": _positive,
    "read_timeout": _positive,
    "write_timeout": _positive,
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
    "login_timeout": _positive,
    "timeout": _positive,
    "appname": _text,
    "charset": _one_of("UTF-8", "utf8"),
    "tds_version": _one_of("7.0", "7.1", "7.2", "7.3", "7.4"),
}


def _pattern(regex: str, meaning: str) -> Check:
    compiled = re.compile(regex)

    def check(value: Any, _policy: DriverPolicy) -> str:
        text = str(value)
        if not compiled.fullmatch(text):
            raise ValueError(f"must be {meaning}, got {text[:40]!r}")
        return text

    return check


def _list_of_text(value: Any, policy: DriverPolicy) -> list[str]:
    items = value if isinstance(value, list) else str(value).split(",")
    if len(items) > 20:
        raise ValueError("must be at most 20 values")
    return [_text(item, policy).strip() for item in items if str(item).strip()]


def _verify(value: Any, policy: DriverPolicy) -> bool | str:
    """TLS verification: true/false, or a CA file under ``sql.tls_roots``."""
    try:
        return _boolean(value, policy)
    except ValueError:
        return _tls_file()(value, policy)  # type: ignore[no-any-return]


def _true_only(value: Any, policy: DriverPolicy) -> bool:
    if not _boolean(value, policy):
        raise ValueError("cannot be turned off: DuckDB databases are always opened read-only")
    return True


def _db2_certificate(value: Any, policy: DriverPolicy) -> str:
    if any(c in str(value) for c in ";={}"):
        raise ValueError("must be a path without ; = { }")
    return _tls_file()(value, policy)  # type: ignore[no-any-return]


# Oracle: oracledb.connect() keywords. Not listed: mode (SYSDBA...), config_dir (tnsnames.ora),
# params, pool, osuser/machine/terminal (audit identity), https_proxy.
ORACLE_NAME = r"[A-Za-z][A-Za-z0-9_.$#-]{0,127}"  # a service name or SID (the JDBC translation checks it too)
_ORACLE: dict[str, Check] = {
    "service_name": _pattern(ORACLE_NAME, "an Oracle service name"),
    "sid": _pattern(ORACLE_NAME, "an Oracle SID"),
    "protocol": _one_of("tcp", "tcps"),
    "tcp_connect_timeout": _number,
    "retry_count": _integer,
    "retry_delay": _integer,
    "expire_time": _integer,
    "ssl_server_dn_match": _boolean,
    "ssl_server_cert_dn": _text,
    "wallet_location": _tls_file(),
    "program": _text,
    "disable_oob": _boolean,
}
# Trino (trino.dbapi.connect). Not listed: auth objects, access_token, http_headers,
# extra_credential, session_properties, roles, http_session.
_TRINO: dict[str, Check] = {
    "http_scheme": _one_of("http", "https"),
    "verify": _verify,
    "source": _text,
    "client_tags": _list_of_text,
    "request_timeout": _number,
    "max_attempts": _integer,
}
# Presto (PyHive). Not listed: requests_kwargs, requests_session, KerberosXxx, session_props.
_PRESTO: dict[str, Check] = {"protocol": _one_of("http", "https"), "source": _text, "poll_interval": _number}
# Redshift (redshift_connector). Not listed: iam, profile, credentials_provider, access keys, db_user,
# plugin_name, idp_* (AWS credentials from the environment or files).
_REDSHIFT: dict[str, Check] = {
    "ssl": _boolean,
    "sslmode": _one_of("verify-ca", "verify-full"),
    "timeout": _integer,
    "application_name": _text,
    "tcp_keepalive": _boolean,
}
# Snowflake (snowflake.connector.connect). Not listed: private_key_file, token, authenticator other than
# snowflake (externalbrowser opens a browser), session_parameters, client_store_temporary_credential.
_SNOWFLAKE_NAME = r'[A-Za-z_][A-Za-z0-9_$]{0,254}|"[^"\x00-\x1f]{1,254}"'
_SNOWFLAKE: dict[str, Check] = {
    "warehouse": _pattern(_SNOWFLAKE_NAME, "a Snowflake identifier"),
    "role": _pattern(_SNOWFLAKE_NAME, "a Snowflake identifier"),
    "authenticator": _one_of("snowflake", "SNOWFLAKE"),
    "login_timeout": _integer,
    "network_timeout": _integer,
    "application": _text,
    "client_session_keep_alive": _boolean,
    "ocsp_fail_open": _boolean,
}
# ClickHouse (clickhouse_connect). Not listed: settings and custom HTTP parameters (readonly,
# allow_ddl... are server settings), http_proxy/https_proxy, session_id.
_CLICKHOUSE: dict[str, Check] = {
    "secure": _boolean,
    "verify": _boolean,
    "ca_cert": _tls_file(),
    "client_cert": _tls_file(),
    "client_cert_key": _tls_file(),
    "send_receive_timeout": _integer,
    "connect_timeout": _integer,
    "compress": _boolean,
    "client_name": _text,
}
# Db2 (keys of the ibm_db connection string ibm_db_sa builds): a value holding ";" or "=" would add keys.
_DB2: dict[str, Check] = {
    "CurrentSchema": _pattern(r"[A-Za-z_][A-Za-z0-9_@#$]{0,127}", "a Db2 schema name"),
    "Security": _one_of("SSL"),
    "SSLServerCertificate": _db2_certificate,
}
# DuckDB: everything else (external access, extensions, configuration) is fixed by the service.
_DUCKDB: dict[str, Check] = {
    "threads": _pattern(r"[1-9][0-9]{0,2}", "a number of threads from 1 to 999"),
    "memory_limit": _pattern(r"[0-9]{1,6}(\.[0-9]{1,3})?\s?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)", "a size such as 2GB"),
    "read_only": _true_only,
    "access_mode": _one_of("read_only", "READ_ONLY"),
}

ALLOWED: dict[str, dict[str, Check]] = {
    "postgresql": _PG,
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
    "sqlite": _SQLITE,
    "mssql": _MSSQL,
    "oracle": _ORACLE,
    "trino": _TRINO,
    "presto": _PRESTO,
    "redshift": _REDSHIFT,
    "snowflake": _SNOWFLAKE,
    "clickhousedb": _CLICKHOUSE,
    "db2": _DB2,
    "duckdb": _DUCKDB,
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
        raise OptionRefused("path", f"is refused: {ex}") from None


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


def duckdb_path(path: str, policy: DriverPolicy) -> str:
    """The real path of a DuckDB database under ``sql.duckdb_roots`` (``:memory:`` needs no root)."""
    if path in ("", ":memory:"):
        return ":memory:"
    try:
        return under_roots(path, policy.duckdb_roots, setting="sql.duckdb_roots", what="DuckDB databases")
    except ValueError as ex:
        raise OptionRefused("path", f"is refused: {ex}") from None


def policy_of(sql: SqlSettings) -> DriverPolicy:
    """The driver policy the ``sql`` settings describe."""
    return DriverPolicy.of(sqlite_roots=sql.sqlite_roots, tls_roots=sql.tls_roots, duckdb_roots=sql.duckdb_roots)
