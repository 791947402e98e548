"""Own the service settings: defaults, the config file and ``CONNECTOR_*`` overrides.

Settings are built once per process by :func:`load_settings` and passed down
explicitly; nothing reads the environment anywhere else.

Precedence, lowest first: the defaults below, the TOML file
(``CONNECTOR_CONFIG`` or ``config/connector.toml`` beside the sources), then
environment variables. A key ``<section>.<name>`` is overridden by
``CONNECTOR_<SECTION>_<NAME>`` (section ``elasticsearch`` is spelled ``ES``),
a top-level key ``<name>`` by ``CONNECTOR_<NAME>``. Lists and tables are given
in the environment as JSON.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connector.errors import SettingsError

ENV_PREFIX = "CONNECTOR_"
# Variables with the prefix that are not settings (so they are not "unknown").
NON_SETTING_ENV = frozenset({"CONNECTOR_CONFIG", "CONNECTOR_DEV_DIR", "CONNECTOR_URL", "CONNECTOR_TOKEN"})
NON_SETTING_ENV_PREFIXES = ("CONNECTOR_TEST_", "CONNECTOR_BENCH_")
SECTION_ENV_NAMES = {"elasticsearch": "ES"}
SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "config" / "connector.toml"

DEFAULT_ES_URL = "http://127.0.0.1:9200"
DEFAULT_ES_REQUEST_TIMEOUT_S = 30.0
DEFAULT_ES_STARTUP_WAIT_S = 10.0
DEFAULT_INDEX_PREFIX = ".connector-"
DEFAULT_BIND = "127.0.0.1:8080"

DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # a datasource or ingestion definition is a few kB
DEFAULT_MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 10
DEFAULT_MAX_QUERY_STRING_BYTES = 8 * 1024
DEFAULT_GUNICORN_WORKERS = 2
DEFAULT_GUNICORN_THREADS = 4
# Basic auth: PBKDF2 verifications at once per API process (each ~0.1-0.3 s of a CPU), and how many
# more requests may wait for one; any further uncached password check answers 429. Together they
# stay below gunicorn_threads, so guessing passwords never takes every thread of a process.
DEFAULT_PASSWORD_CHECKS = 1
DEFAULT_PASSWORD_CHECK_QUEUE = 1
# Slow clients (SPEC §14): a request's head must arrive within this, from its first byte
# (from the connection's opening for a new one)...
DEFAULT_HEADER_TIMEOUT_S = 10.0
# ...and its body, up to max_body_bytes, within this once the head is in; a body read on a
# request thread (larger, or streamed by the proxy) may block it this long in all, plus 1 s per 16 kB.
DEFAULT_BODY_TIMEOUT_S = 30.0
# A response must be taken by the client within this, plus 1 s per 16 kB; then the connection closes.
DEFAULT_SEND_TIMEOUT_S = 10.0
DEFAULT_HEALTH_TIMEOUT_S = 2.0  # _health answers 503 rather than wait longer for Elasticsearch
# Proxy mode (SPEC §13): how long a forwarded request waits for Elasticsearch's next bytes;
# generous, since searches of a search platform may legitimately run for minutes.
DEFAULT_ES_PROXY_TIMEOUT_S = 300.0
DEFAULT_ABORT_WAIT_S = 5.0  # how long _abort waits for the run's final state before answering "aborting"

DEFAULT_SQL_CONNECT_TIMEOUT_S = 10
DEFAULT_SQL_STATEMENT_TIMEOUT_S = 30.0  # for _sample/_validate, not for ingestion runs
DEFAULT_SAMPLE_SIZE = 10
DEFAULT_SAMPLE_MAX_ROWS = 1000
DEFAULT_MAX_SQL_BYTES = 256 * 1024

DEFAULT_BATCH_SIZE = 5000
DEFAULT_BULK_MAX_BYTES = 10 * 1024 * 1024  # below ES's 100 MB http.max_content_length
DEFAULT_BATCH_MAX_BYTES = 2 * 1024 * 1024  # of rows as JSON: wide rows make smaller batches
DEFAULT_MAX_ERROR_RATIO = 0.0  # any rejected row fails the run unless raised
DEFAULT_ERRORS_REPORT_CAP = 10_000  # rejected rows recorded per run
DEFAULT_STATUS_INTERVAL_S = 1.0
DEFAULT_MAX_TRANSFORMS = 200
# One retry layer for bulk writes: attempts = 1 + retries, each wait capped.
DEFAULT_BULK_MAX_RETRIES = 8
DEFAULT_BULK_BACKOFF_INITIAL_S = 0.5
DEFAULT_BULK_BACKOFF_MAX_S = 30.0
# Rows one run may write unless the run is started with allow_large; 0 = no limit.
# `connector dev` sets 100,000: its embedded server holds every document in memory.
DEFAULT_MAX_ROWS_PER_RUN = 0

DEFAULT_MAX_CONCURRENT_RUNS = 2
DEFAULT_WORKER_PROCESSES = 1  # started by `connector serve` beside the API
DEFAULT_POLL_INTERVAL_S = 1.0
DEFAULT_HEARTBEAT_INTERVAL_S = 5.0
# A run whose heartbeat is older than this is reaped; 6 missed heartbeats.
DEFAULT_LEASE_S = 30.0
DEFAULT_MISFIRE_GRACE_S = 3600.0
DEFAULT_STAGING_RETENTION_S = 24 * 3600.0  # a failed REPLACE run's staging index, kept for resume
# A `connector worker` serves /metrics here when set (HOST:PORT); its metrics are otherwise
# only visible through `connector serve`, which collects those of the workers it supervises.
DEFAULT_WORKER_METRICS_BIND: str | None = None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ElasticsearchSettings(_Section):
    url: str = DEFAULT_ES_URL
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_certs: str | None = None
    verify_certs: bool = True
    compatibility_mode: Literal["auto", "on", "off"] = "auto"
    request_timeout_s: float = Field(DEFAULT_ES_REQUEST_TIMEOUT_S, gt=0)
    startup_wait_s: float = Field(DEFAULT_ES_STARTUP_WAIT_S, ge=0)

    @field_validator("url")
    @classmethod
    def _check_urls(cls, value: str) -> str:
        for url in value.split(","):
            if not url.strip().startswith(("http://", "https://")):
                raise ValueError(f"must be http(s)://host:port URLs separated by commas, got {url!r}")
        return value

    @property
    def hosts(self) -> list[str]:
        return [url.strip() for url in self.url.split(",")]

    @property
    def shown_url(self) -> str:
        """``url`` as messages may show it: without any ``user:password@``."""
        return ",".join(re.sub(r"(?<=//)[^/@]*@", "", host) for host in self.hosts)


class TokenEntry(_Section):
    """A bearer token, stored as ``sha256:<hex>`` of the token, never in clear."""

    name: str
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    scopes: list[Literal["job:read", "job:write", "admin"]] = Field(min_length=1)
    expires: dt.datetime | None = None  # ISO 8601; the token is refused from then on


class UserEntry(_Section):
    """A basic-auth user with a ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` password hash."""

    username: str = Field(min_length=1, pattern=r"^[^:\s]+$")  # Basic credentials split at the first ':'
    hash: str = Field(pattern=r"^pbkdf2_sha256\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")
    scopes: list[Literal["job:read", "job:write", "admin"]] = Field(min_length=1)


class AuthSettings(_Section):
    mode: Literal["none", "token", "basic"] = "none"
    tokens: list[TokenEntry] = []
    users: list[UserEntry] = []
    # `serve` on a non-loopback address refuses auth mode `none` unless this is set.
    allow_unauthenticated_remote: bool = False
    password_checks: int = Field(DEFAULT_PASSWORD_CHECKS, gt=0)
    password_check_queue: int = Field(DEFAULT_PASSWORD_CHECK_QUEUE, ge=0)


class ApiSettings(_Section):
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, gt=0)
    max_query_string_bytes: int = Field(DEFAULT_MAX_QUERY_STRING_BYTES, gt=0)
    default_page_size: int = Field(DEFAULT_PAGE_SIZE, gt=0)
    max_page_size: int = Field(DEFAULT_MAX_PAGE_SIZE, gt=0)
    gunicorn_workers: int = Field(DEFAULT_GUNICORN_WORKERS, gt=0)
    gunicorn_threads: int = Field(DEFAULT_GUNICORN_THREADS, gt=0)
    header_timeout_s: float = Field(DEFAULT_HEADER_TIMEOUT_S, gt=0)
    body_timeout_s: float = Field(DEFAULT_BODY_TIMEOUT_S, gt=0)
    send_timeout_s: float = Field(DEFAULT_SEND_TIMEOUT_S, gt=0)
    health_timeout_s: float = Field(DEFAULT_HEALTH_TIMEOUT_S, gt=0)
    # Forward every request outside /_siren/connector/ and /metrics to elasticsearch.url.
    es_proxy: bool = False
    es_proxy_timeout_s: float = Field(DEFAULT_ES_PROXY_TIMEOUT_S, gt=0)
    abort_wait_s: float = Field(DEFAULT_ABORT_WAIT_S, ge=0)


class SqlSettings(_Section):
    connect_timeout_s: int = Field(DEFAULT_SQL_CONNECT_TIMEOUT_S, gt=0)
    statement_timeout_s: float = Field(DEFAULT_SQL_STATEMENT_TIMEOUT_S, gt=0)
    default_sample_size: int = Field(DEFAULT_SAMPLE_SIZE, gt=0)
    sample_max_rows: int = Field(DEFAULT_SAMPLE_MAX_ROWS, gt=0)
    max_sql_bytes: int = Field(DEFAULT_MAX_SQL_BYTES, gt=0)
    # Directories SQLite datasources may be opened from (read-only); none: SQLite is refused.
    sqlite_roots: list[str] = []
    # Directories DuckDB datasources may be opened from (read-only); none: only in-memory DuckDB.
    duckdb_roots: list[str] = []
    # Directories client TLS files (CA, certificate, key) may be read from; none: such options are refused.
    tls_roots: list[str] = []


class IngestionSettings(_Section):
    batch_size: int = Field(DEFAULT_BATCH_SIZE, gt=0, le=100_000)
    bulk_max_bytes: int = Field(DEFAULT_BULK_MAX_BYTES, gt=1024)
    batch_max_bytes: int = Field(DEFAULT_BATCH_MAX_BYTES, gt=0)
    max_error_ratio: float = Field(DEFAULT_MAX_ERROR_RATIO, ge=0, le=1)
    errors_report_cap: int = Field(DEFAULT_ERRORS_REPORT_CAP, ge=0)
    status_interval_s: float = Field(DEFAULT_STATUS_INTERVAL_S, gt=0)
    max_transforms: int = Field(DEFAULT_MAX_TRANSFORMS, gt=0)
    bulk_max_retries: int = Field(DEFAULT_BULK_MAX_RETRIES, ge=0)
    bulk_backoff_initial_s: float = Field(DEFAULT_BULK_BACKOFF_INITIAL_S, gt=0)
    bulk_backoff_max_s: float = Field(DEFAULT_BULK_BACKOFF_MAX_S, gt=0)
    max_rows_per_run: int = Field(DEFAULT_MAX_ROWS_PER_RUN, ge=0)
    # Ingest pipelines may use `script` processors and `if` conditions (Painless) only when set.
    allow_script_processors: bool = False
    # The database writes the documents when every column type allows it (PostgreSQL, MariaDB); off:
    # every run converts rows in Python (the same documents, slower; for comparison and as a way out).
    server_rendering: bool = True


class WorkerSettings(_Section):
    processes: int = Field(DEFAULT_WORKER_PROCESSES, ge=0)
    max_concurrent_runs: int = Field(DEFAULT_MAX_CONCURRENT_RUNS, gt=0)
    poll_interval_s: float = Field(DEFAULT_POLL_INTERVAL_S, gt=0)
    heartbeat_interval_s: float = Field(DEFAULT_HEARTBEAT_INTERVAL_S, gt=0)
    lease_s: float = Field(DEFAULT_LEASE_S, gt=0)
    misfire_grace_s: float = Field(DEFAULT_MISFIRE_GRACE_S, ge=0)
    staging_retention_s: float = Field(DEFAULT_STAGING_RETENTION_S, ge=0)
    scheduler: bool = True
    metrics_bind: str | None = DEFAULT_WORKER_METRICS_BIND

    @field_validator("metrics_bind")
    @classmethod
    def _check_metrics_bind(cls, value: str | None) -> str | None:
        if value is not None:
            parse_bind(value)
        return value


class Settings(_Section):
    index_prefix: str = DEFAULT_INDEX_PREFIX
    secret_key: SecretStr | None = None
    # Keys that secrets may still be encrypted with (decrypt only): set during `connector secrets rotate`.
    previous_secret_keys: list[SecretStr] = []
    bind: str = DEFAULT_BIND
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text: one human line per record; json: one ECS JSON object per line (log collectors).
    log_format: Literal["text", "json"] = "text"
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    auth: AuthSettings = AuthSettings()
    api: ApiSettings = ApiSettings()
    sql: SqlSettings = SqlSettings()
    ingestion: IngestionSettings = IngestionSettings()
    worker: WorkerSettings = WorkerSettings()

    @field_validator("index_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if value != value.lower() or any(c in value for c in ' "*\\<|,>/?#:'):
            raise ValueError('must be lowercase without spaces or any of " * \\ < | , > / ? # :')
        if not value or value[0] in "-_+":
            raise ValueError("must not be empty or start with -, _ or +")
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_fernet_key(value.get_secret_value())
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _check_previous_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            check_fernet_key(key.get_secret_value())
        return value

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        parse_bind(value)
        return value

    @property
    def bind_is_loopback(self) -> bool:
        host, _ = parse_bind(self.bind)
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def check_fernet_key(key: str) -> None:
    """Raise ValueError unless ``key`` is 32 bytes in urlsafe base64 (a Fernet key)."""
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("must be 32 random bytes in urlsafe base64 (a Fernet key)") from None
    if len(raw) != 32:
        raise ValueError("must be 32 random bytes in urlsafe base64 (a Fernet key)")


def parse_bind(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[v6]:PORT`` for IPv6) or raise ValueError."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def env_name(path: tuple[str, ...]) -> str:
    """Return the environment variable overriding the setting at ``path``."""
    parts = [SECTION_ENV_NAMES.get(path[0], path[0]), *path[1:]] if len(path) > 1 else list(path)
    return ENV_PREFIX + "_".join(parts).upper()


def _env_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Section):
            for sub in annotation.model_fields:
                table[env_name((name, sub))] = (name, sub)
        else:
            table[env_name((name,))] = (name,)
    return table


ENV_TABLE = _env_table()
_STRUCTURED = {
    ("auth", "tokens"),
    ("auth", "users"),
    ("previous_secret_keys",),
    ("sql", "sqlite_roots"),
    ("sql", "duckdb_roots"),
    ("sql", "tls_roots"),
}


def load_settings(*, environ: Mapping[str, str] | None = None, config_path: Path | None = None) -> Settings:
    """Build the settings once: defaults, then the config file, then the environment.

    Raises SettingsError with one line naming the offending setting.
    """
    environ = os.environ if environ is None else environ
    if config_path is None and environ.get("CONNECTOR_CONFIG"):
        config_path = Path(environ["CONNECTOR_CONFIG"])
        if not config_path.is_file():
            raise SettingsError(f"CONNECTOR_CONFIG: no such file {config_path}")
    if config_path is None and SHIPPED_CONFIG.is_file():
        config_path = SHIPPED_CONFIG
    data: dict[str, Any] = {}
    if config_path is not None:
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as ex:
            raise SettingsError(f"config file {config_path}: {ex}") from ex
    sources: dict[tuple[str, ...], str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_SETTING_ENV:
            continue
        if name.startswith(NON_SETTING_ENV_PREFIXES):
            continue
        path = ENV_TABLE.get(name)
        if path is None:
            raise SettingsError(f"{name}: unknown setting (see the settings table in README.md)")
        if value == "":
            continue  # an empty variable means "not set", as shells' ${X:-} idioms expect
        if path in _STRUCTURED:
            try:
                parsed: Any = orjson.loads(value)
            except orjson.JSONDecodeError as ex:
                raise SettingsError(f"{name}: must be JSON ({ex})") from ex
        else:
            parsed = value
        section = data
        for part in path[:-1]:
            section = section.setdefault(part, {})
            if not isinstance(section, dict):
                raise SettingsError(f"{name}: config file has [{part}] that is not a table")
        section[path[-1]] = parsed
        sources[path] = name
    try:
        return Settings.model_validate(data)
    except ValidationError as ex:
        raise SettingsError(_describe(ex, sources, config_path)) from None


def _describe(ex: ValidationError, sources: dict[tuple[str, ...], str], config_path: Path | None) -> str:
    first = ex.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    key = ".".join(loc)
    for depth in range(len(loc), 0, -1):
        origin = sources.get(loc[:depth])
        if origin:
            where = origin
            break
    else:
        where = f"{key} in {config_path}" if config_path else key
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"invalid setting {where}: {message}"
