"""Own the datasource definition: request model, stored form, connection target.

A datasource is a ``jdbc`` body (JDBC URL, translated) or a ``sql`` body
(SQLAlchemy URL). Credentials are taken out of URLs on the way in so that
what is stored and returned never holds a password; the password itself is
kept encrypted and only decrypted to open a connection.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from connector.crypto import SecretBox
from connector.errors import InvalidDefinition
from connector.jdbc_url import JdbcUrlError, translate
from connector.redaction import remember_secret

PropertyValue = str | int | float | bool


def check_timezone(value: str | None) -> str | None:
    """Return a valid IANA time zone name (or None), else raise ValueError."""
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC or Europe/Paris") from None
    return value


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
    def from_body(cls, id: str, body: DatasourceBody, box: SecretBox, *, now_ms: int) -> Datasource:
        """Build from a validated body: strip credentials from the URL, encrypt the password.

        Raises InvalidDefinition if the URL cannot be understood.
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
        datasource.translated_url(root)  # validates the URL and properties
        return datasource

    def translated_url(self, root: str = "$") -> tuple[URL, dict[str, Any], str | None]:
        """Return the SQLAlchemy URL (no credentials), driver arguments and URL time zone."""
        if self.kind == "jdbc":
            try:
                translated = translate(self.url, self.properties)
            except JdbcUrlError as ex:
                raise InvalidDefinition.single(f"{root}.url", "jdbc_url", str(ex)) from None
            return translated.url, translated.connect_args, translated.timezone
        try:
            url = make_url(self.url)
            url.get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as ex:
            raise InvalidDefinition.single(
                f"{root}.url", "sqlalchemy_url", f"not a usable SQLAlchemy URL: {ex}"
            ) from None
        return url, dict(self.properties), None

    def connection_target(
        self, box: SecretBox, *, credentials: tuple[str, str | None] | None = None
    ) -> ConnectionTarget:
        """Return the URL with the decrypted password, for opening a connection."""
        url, connect_args, url_timezone = self.translated_url()
        username, password = (
            credentials
            if credentials
            else (
                self.username,
                box.decrypt(self.password) if self.password else None,
            )
        )
        if url.get_backend_name() != "sqlite":  # a file has no users; SQLAlchemy refuses them in the URL
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


Stripped = tuple[str, str | None, str | None]  # clean URL, user, password


def _strip_credentials(kind: str, url: str, root: str) -> Stripped:
    """Remove a user/password from the URL; return the clean URL and what was removed."""
    if kind == "sql":
        return _strip_sqlalchemy_url(url, root)
    if url.startswith("jdbc:sqlserver:"):
        return _strip_pairs(url, ";", keep_first=True)
    head, sep, query = url.partition("?")
    if not sep:
        return url, None, None
    clean, user, password = _strip_pairs(query, "&", keep_first=False)
    return (f"{head}?{clean}" if clean else head), user, password


def _strip_sqlalchemy_url(url: str, root: str) -> Stripped:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as ex:
        raise InvalidDefinition.single(f"{root}.url", "sqlalchemy_url", f"not a SQLAlchemy URL: {ex}") from None
    if parsed.password is None:
        return url, parsed.username, None
    # URL.set() treats None as "unchanged"; the namedtuple _replace really clears it.
    clean = parsed._replace(password=None).render_as_string(hide_password=False)
    return clean, parsed.username, str(parsed.password)


def _strip_pairs(text: str, separator: str, *, keep_first: bool) -> Stripped:
    """Drop ``password=`` from ``name=value`` pairs; report ``user``/``username`` too."""
    parts = text.split(separator)
    kept = parts[:1] if keep_first else []
    user: str | None = None
    password: str | None = None
    for part in parts[1:] if keep_first else parts:
        key, _, value = part.partition("=")
        if key.lower() == "password":
            password = unquote(value)
            continue
        if key.lower() in ("user", "username"):
            user = unquote(value)
        kept.append(part)
    return separator.join(kept), user, password
