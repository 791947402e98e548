"""Own the datasource definition: request model, stored form, connection target.

A datasource is a ``jdbc`` body (JDBC URL, translated) or a ``sql`` body
(SQLAlchemy URL). Credentials are taken out of URLs on the way in so that
what is stored and returned never holds a password; the password itself is
kept encrypted and only decrypted to open a connection.
"""

from __future__ import annotations

import functools
import json
import zoneinfo
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from connector.crypto import SecretBox
from connector.driver_options import DriverPolicy, OptionRefused, check_options, duckdb_path, sqlite_path
from connector.errors import InvalidDefinition
from connector.jdbc_url import JdbcUrlError, translate
from connector.jdbc_warehouses import db2_split
from connector.redaction import remember_secret

PropertyValue = str | int | float | bool
# SQLAlchemy dialect -> the drivers a `sql` datasource may name (SPEC §14: nothing else is loaded).
# "" for dialects registered under their name alone (`trino://`, `duckdb:///file`).
SQL_DRIVERS: dict[str, frozenset[str]] = {
    "postgresql": frozenset({"psycopg"}),
    "mysql": frozenset({"pymysql"}),
    "mariadb": frozenset({"pymysql"}),
    "sqlite": frozenset({"pysqlite"}),
    "mssql": frozenset({"pymssql"}),
    "oracle": frozenset({"oracledb"}),
    "trino": frozenset({""}),
    "presto": frozenset({""}),
    "redshift": frozenset({"redshift_connector"}),
    "snowflake": frozenset({""}),
    "clickhousedb": frozenset({"connect"}),
    "db2": frozenset({"ibm_db"}),
    "duckdb": frozenset({""}),
}
_URL_SECRET_KEYS = frozenset({"password", "passwd", "pwd"})
_NEEDS_HOST = frozenset(
    {
        "postgresql",
        "mysql",
        "mariadb",
        "mssql",
        "oracle",
        "trino",
        "presto",
        "redshift",
        "snowflake",
        "clickhousedb",
        "db2",
    }
)
_URL_USER_KEYS = frozenset({"user", "username", "uid"})


def check_timezone(value: str | None) -> str | None:
    """Return a valid IANA time zone name (or None), else raise ValueError."""
    if value is None:
        return None
    if len(value) > 64 or value not in _time_zones():
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC or Europe/Paris")
    return value


@functools.cache
def _time_zones() -> frozenset[str]:
    """The IANA names this machine knows (a name is never opened as a file path to find out)."""
    return frozenset(zoneinfo.available_timezones())


class _ConnectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(min_length=1, max_length=4096)
    username: str | None = Field(None, min_length=1, max_length=256)
    password: str | None = Field(None, max_length=1024)
    timezone: str | None = None
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=100)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value)


class JdbcBody(_ConnectionBody):
    driver: str | None = Field(None, max_length=256)  # accepted and ignored (Python drivers)

    @field_validator("url")
    @classmethod
    def _jdbc(cls, value: str) -> str:
        if not value.startswith("jdbc:"):
            raise ValueError("must be a JDBC URL starting with jdbc:")
        return value


class SqlBody(_ConnectionBody):
    pass


class DatasourceBody(BaseModel):
    """Body of ``PUT /_siren/connector/datasource/<id>``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    jdbc: JdbcBody | None = None
    sql: SqlBody | None = None
    description: str | None = Field(None, max_length=4096)

    @model_validator(mode="after")
    def _one_kind(self) -> DatasourceBody:
        if (self.jdbc is None) == (self.sql is None):
            raise ValueError("give exactly one of jdbc or sql")
        return self


@dataclass(frozen=True, slots=True)
class ConnectionTarget:
    """What a SQL engine needs, with the password in clear: never stored, never logged."""

    url: URL
    connect_args: dict[str, Any]
    timezone: str


@dataclass(frozen=True, slots=True)
class Datasource:
    """A stored datasource; ``password`` is the encrypted token, never the clear value."""

    id: str
    kind: Literal["jdbc", "sql"]
    url: str
    driver: str | None = None
    username: str | None = None
    password: str | None = None
    timezone: str | None = None
    properties: dict[str, PropertyValue] = field(default_factory=dict)
    description: str | None = None
    created_at: int = 0
    updated_at: int = 0

    @classmethod
    def from_body(
        cls, id: str, body: DatasourceBody, box: SecretBox, *, now_ms: int, policy: DriverPolicy
    ) -> Datasource:
        """Build from a validated body: strip credentials from the URL, encrypt the password.

        Raises InvalidDefinition if the URL cannot be understood or names a
        driver option, a file or a dialect that is not allowed.
        """
        kind: Literal["jdbc", "sql"] = "jdbc" if body.jdbc is not None else "sql"
        spec: _ConnectionBody = body.jdbc if body.jdbc is not None else body.sql  # type: ignore[assignment]
        root = f"$.{kind}"
        url, url_user, url_password = _strip_credentials(kind, spec.url, root)
        props = {k.lower(): v for k, v in spec.properties.items()}
        property_user = props.get("user")
        property_password = props.get("password")
        for secret in (spec.password, url_password, property_password):
            remember_secret(str(secret) if secret is not None else None)
        candidates = {
            "username": (
                spec.username,
                url_user,
                str(property_user) if property_user is not None else None,
            ),
            "password": (
                spec.password,
                url_password,
                str(property_password) if property_password is not None else None,
            ),
        }
        chosen: dict[str, str | None] = {}
        for name, values in candidates.items():
            present = {v for v in values if v is not None}
            if len(present) > 1:
                raise InvalidDefinition.single(
                    f"{root}.{name}", "conflict", f"the URL or properties carry a different {name}"
                )
            chosen[name] = present.pop() if present else None
        password = chosen["password"]
        datasource = cls(
            id=id,
            kind=kind,
            url=url,
            driver=body.jdbc.driver if body.jdbc is not None else None,
            username=chosen["username"],
            password=box.encrypt(password) if password is not None else None,
            timezone=spec.timezone,
            properties={k: v for k, v in spec.properties.items() if k.lower() not in ("password", "user")},
            description=body.description,
            created_at=now_ms,
            updated_at=now_ms,
        )
        datasource.translated_url(policy, root)  # validates the URL, properties and files
        return datasource

    def translated_url(self, policy: DriverPolicy, root: str = "$") -> tuple[URL, dict[str, Any], str | None]:
        """Return the SQLAlchemy URL (no credentials, no query), checked driver arguments and URL time zone.

        Raises InvalidDefinition naming the field at fault (``$.jdbc.properties.<name>``, ``$.sql.url``...).
        """
        if self.kind == "jdbc":
            try:
                translated = translate(self.url, self.properties)
            except JdbcUrlError as ex:
                entry = f"{root}.properties.{ex.prop}" if ex.prop else f"{root}.url"
                raise InvalidDefinition.single(entry, "jdbc_url", str(ex)) from None
            url, options, timezone = translated.url, translated.connect_args, translated.timezone
            origins = {key: f"{root}.properties.{name}" for key, name in translated.origins.items()}
        else:
            url, options, origins = self._sql_url(root)
            timezone = None
        backend = url.get_backend_name()
        if backend in _NEEDS_HOST and not url.host:  # no host: the local socket, with the service's OS identity
            raise InvalidDefinition.single(f"{root}.url", "host", "must name a host (local sockets are not allowed)")
        try:
            if backend == "sqlite":
                url = url.set(database=sqlite_path(url.database or "", policy))
            if backend == "duckdb":
                url = url.set(database=duckdb_path(url.database or "", policy))
            connect_args = check_options(backend, options, policy)
            if backend == "oracle":
                url, connect_args = _oracle_target(url, connect_args)
        except OptionRefused as ex:
            entry = origins.get(ex.name, f"{root}.url")
            raise InvalidDefinition.single(entry, "driver_option", f"{ex.name} {ex.reason}") from None
        return url, connect_args, timezone

    def _sql_url(self, root: str) -> tuple[URL, dict[str, Any], dict[str, str]]:
        """A ``sql`` URL of an allowed dialect and driver, its query and properties as driver options."""
        try:
            url = make_url(self.url)
        except (ArgumentError, ValueError) as ex:
            raise InvalidDefinition.single(f"{root}.url", "sqlalchemy_url", f"not a SQLAlchemy URL: {ex}") from None
        backend, _, driver = url.drivername.partition("+")
        allowed = SQL_DRIVERS.get(backend)
        driver = driver or (min(allowed) if allowed and len(allowed) == 1 else "")  # "sqlite://" names its default
        if allowed is None or driver not in allowed:
            supported = ", ".join(f"{b}+{d}" if d else b for b, ds in SQL_DRIVERS.items() for d in sorted(ds))
            raise InvalidDefinition.single(
                f"{root}.url", "sqlalchemy_url", f"dialect {url.drivername} is not supported; supported: {supported}"
            )
        # The driver checked, not SQLAlchemy's default for the dialect ("redshift://" would load psycopg2).
        url = url.set(drivername=f"{backend}+{driver}" if driver else backend)
        options: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for key, given in url.query.items():
            options[key] = given if isinstance(given, str) else ",".join(given)
            origins[key] = f"{root}.url"
        for key, value in self.properties.items():
            options[key] = value
            origins[key] = f"{root}.properties.{key}"
        return url.set(query={}), options, origins

    def endpoint(self, policy: DriverPolicy) -> tuple[str, ...]:
        """What a stored password is bound to: backend, host, port, database, driver options and user (SPEC §4).

        Every driver option is part of it (TLS mode and files among them): a
        stored password is only sent the way it was first given for. The database is
        the one named in the URL: Oracle's service name or SID, Snowflake's and
        Trino's catalog/schema, a file's path.
        """
        url, options, _ = self.translated_url(policy)
        return (
            url.get_backend_name(),
            url.host or "",
            str(url.port or ""),
            url.database or "",
            json.dumps(options, sort_keys=True, default=str),
            self.username or "",
        )

    def connection_target(
        self, box: SecretBox, policy: DriverPolicy, *, credentials: tuple[str, str | None] | None = None
    ) -> ConnectionTarget:
        """Return the URL with the decrypted password, for opening a connection."""
        url, connect_args, url_timezone = self.translated_url(policy)
        username, password = (
            credentials
            if credentials
            else (
                self.username,
                box.decrypt(self.password) if self.password else None,
            )
        )
        if url.get_backend_name() not in ("sqlite", "duckdb"):  # a file has no users; SQLAlchemy refuses them
            url = url.set(username=username or url.username, password=password)
        return ConnectionTarget(url, connect_args, self.timezone or url_timezone or "UTC")

    def public_source(self) -> dict[str, Any]:
        """The definition as GET returns it: the request shape without the password."""
        spec: dict[str, Any] = {"url": self.url}
        if self.kind == "jdbc" and self.driver is not None:
            spec["driver"] = self.driver
        for key in ("username", "timezone"):
            if getattr(self, key) is not None:
                spec[key] = getattr(self, key)
        if self.properties:
            spec["properties"] = dict(self.properties)
        source: dict[str, Any] = {self.kind: spec}
        if self.description is not None:
            source["description"] = self.description
        return source

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "url": self.url,
            "driver": self.driver,
            "username": self.username,
            "password": self.password,
            "timezone": self.timezone,
            "properties": self.properties,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Datasource:
        return cls(
            id=doc["id"],
            kind=doc["kind"],
            url=doc["url"],
            driver=doc.get("driver"),
            username=doc.get("username"),
            password=doc.get("password"),
            timezone=doc.get("timezone"),
            properties=doc.get("properties") or {},
            description=doc.get("description"),
            created_at=doc.get("created_at", 0),
            updated_at=doc.get("updated_at", 0),
        )


def _oracle_target(url: URL, connect_args: dict[str, Any]) -> tuple[URL, dict[str, Any]]:
    """Name the service or SID both in the URL's database (the endpoint) and in ``service_name``/``sid``."""
    service, sid = connect_args.get("service_name"), connect_args.get("sid")
    named = [n for n in (service, sid) if n is not None]
    if len(named) > 1 or (named and url.database and url.database != named[0]):
        raise OptionRefused("service_name", "give one service name or SID (the URL's database is the SID)")
    if not named:
        if not url.database:
            raise OptionRefused("sid", "give a SID (the URL's database) or service_name")
        return url, {**connect_args, "sid": url.database}
    return url.set(database=named[0]), connect_args


Stripped = tuple[str, str | None, str | None]  # clean URL, user, password


def _strip_credentials(kind: str, url: str, root: str) -> Stripped:
    """Remove a user/password from the URL (userinfo or query, in any spelling); return what was removed."""
    if kind == "sql":
        return _strip_sqlalchemy_url(url, root)
    url, user, password = _strip_oracle_userinfo(url) if url.startswith("jdbc:oracle:") else _strip_userinfo(url)
    if url.startswith(("jdbc:sqlserver:", "jdbc:jtds:")):
        clean, pair_user, pair_password = _strip_pairs(url, ";", keep_first=True)
    elif url.startswith("jdbc:db2://"):  # jdbc:db2://host:port/db:user=..;password=..;
        rest = url[len("jdbc:db2:") :]
        head, properties = db2_split(rest)
        clean, pair_user, pair_password = url, None, None
        if len(head) < len(rest):  # a colon after the database: its properties follow
            pairs, pair_user, pair_password = _strip_pairs(properties, ";", keep_first=False)
            clean = f"jdbc:db2:{head}:{pairs}" if pairs else f"jdbc:db2:{head}"
    else:
        head, sep, query = url.partition("?")
        if not sep:
            return url, user, password
        clean, pair_user, pair_password = _strip_pairs(query, "&", keep_first=False)
        clean = f"{head}?{clean}" if clean else head
    for mine, theirs, name in ((user, pair_user, "username"), (password, pair_password, "password")):
        if mine is not None and theirs is not None and mine != theirs:
            raise InvalidDefinition.single(f"{root}.{name}", "conflict", f"the URL carries two different {name}s")
    return clean, user if user is not None else pair_user, password if password is not None else pair_password


def _strip_userinfo(url: str) -> Stripped:
    """Take ``user:password@`` out of a JDBC URL's authority (``jdbc:mysql://u:p@host/db``)."""
    scheme, sep, rest = url.partition("//")
    if not sep:
        return url, None, None
    authority_end = min((i for i in (rest.find("/"), rest.find("?"), rest.find(";")) if i >= 0), default=len(rest))
    authority = rest[:authority_end]
    userinfo, at, hosts = authority.rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    return f"{scheme}//{hosts}{rest[authority_end:]}", unquote(user) or None, unquote(password) if colon else None


def _strip_oracle_userinfo(url: str) -> Stripped:
    """Take ``user/password@`` out of ``jdbc:oracle:thin:user/password@//host/service``."""
    prefix, _, rest = url.partition(":thin:")
    query_at = rest.find("?")
    userinfo, at, target = rest[: query_at if query_at >= 0 else len(rest)].rpartition("@")
    if not at or not userinfo:
        return url, None, None
    user, slash, password = userinfo.partition("/")
    target += rest[query_at:] if query_at >= 0 else ""
    return f"{prefix}:thin:@{target}", unquote(user) or None, unquote(password.strip('"')) if slash else None


def _strip_sqlalchemy_url(url: str, root: str) -> Stripped:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as ex:
        raise InvalidDefinition.single(f"{root}.url", "sqlalchemy_url", f"not a SQLAlchemy URL: {ex}") from None
    query = dict(parsed.query)
    found: dict[str, str] = {}
    for key in list(query):
        lowered = key.lower()
        kind = "password" if lowered in _URL_SECRET_KEYS else "username" if lowered in _URL_USER_KEYS else None
        if kind is None:
            continue
        value = query.pop(key)
        text = value if isinstance(value, str) else ",".join(value)
        if kind in found and found[kind] != text:
            raise InvalidDefinition.single(f"{root}.{kind}", "conflict", f"the URL carries two different {kind}s")
        found[kind] = text
    password = found.get("password")
    if parsed.password is not None:
        if password is not None and password != str(parsed.password):
            raise InvalidDefinition.single(f"{root}.password", "conflict", "the URL carries two different passwords")
        password = str(parsed.password)
    user = parsed.username
    if "username" in found:
        if user is not None and user != found["username"]:
            raise InvalidDefinition.single(f"{root}.username", "conflict", "the URL carries two different usernames")
        user = found["username"]
    if password is None and len(query) == len(parsed.query):
        return url, user, None
    # URL.set() treats None as "unchanged"; the namedtuple _replace really clears it.
    clean = parsed._replace(password=None).update_query_dict(query, append=False)
    clean = clean.difference_update_query([k for k in parsed.query if k not in query])
    return clean.render_as_string(hide_password=False), user, password


def _strip_pairs(text: str, separator: str, *, keep_first: bool) -> Stripped:
    """Drop ``password=`` from ``name=value`` pairs (names URL-decoded); report ``user``/``username`` too."""
    parts = text.split(separator)
    kept = parts[:1] if keep_first else []
    user: str | None = None
    password: str | None = None
    for part in parts[1:] if keep_first else parts:
        raw_key, _, value = part.partition("=")
        key = unquote(raw_key).strip().lower()
        if key in _URL_SECRET_KEYS:
            password = unquote(value)
            continue
        if key in _URL_USER_KEYS:
            user = unquote(value)
        kept.append(part)
    return separator.join(kept), user, password
