"""Own the domain errors shared by every layer.

They carry an Elasticsearch-style ``error_type`` and a human reason but know
nothing of HTTP; the API maps each class to a status in one place
(``api/errors.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule an invalid entry broke (seed 002 ``invalid[].rules[]``)."""

    rule: str
    description: str
    params: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class InvalidEntry:
    """One invalid entry of a request: a JSON path, a query parameter or a header."""

    entry: str
    rules: list[Rule]
    entry_type: str = "json_data_property"

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry_type": self.entry_type,
            "entry": self.entry,
            "rules": [{"rule": r.rule, "params": list(r.params), "description": r.description} for r in self.rules],
        }


class ConnectorError(Exception):
    """Base of every error the service reports to a caller."""

    error_type = "connector_exception"

    def __init__(self, reason: str, *, error_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if error_type is not None:
            self.error_type = error_type


class SettingsError(ConnectorError):
    """A setting is missing or invalid; the process must not start."""

    error_type = "settings_exception"


class MalformedRequest(ConnectorError):
    """The request body or a parameter cannot be parsed at all."""

    error_type = "parse_exception"


class InvalidDefinition(ConnectorError):
    """The request parsed but its content is invalid; ``invalid`` lists each entry."""

    error_type = "validation_exception"

    def __init__(self, reason: str, invalid: list[InvalidEntry]) -> None:
        super().__init__(reason)
        self.invalid = invalid

    @classmethod
    def single(
        cls,
        entry: str,
        rule: str,
        description: str,
        *,
        entry_type: str = "json_data_property",
        params: list[Any] | None = None,
    ) -> Self:
        """Build the error for one invalid entry and one broken rule."""
        return cls(
            f"{entry}: {description}",
            [InvalidEntry(entry, [Rule(rule, description, params or [])], entry_type)],
        )


class NotFound(ConnectorError):
    error_type = "resource_not_found_exception"


class Conflict(ConnectorError):
    """The resource is in a state that forbids the request (exists, in use, running)."""

    error_type = "resource_conflict_exception"

    def __init__(self, reason: str, *, error_type: str | None = None, body: Any = None) -> None:
        super().__init__(reason, error_type=error_type)
        self.body = body


class PayloadTooLarge(ConnectorError):
    error_type = "content_too_long_exception"


class Unauthorized(ConnectorError):
    """No or invalid credentials; ``challenge`` is the WWW-Authenticate value to send."""

    error_type = "security_exception"

    def __init__(self, reason: str, *, challenge: str = 'Bearer realm="connector"') -> None:
        super().__init__(reason)
        self.challenge = challenge


class Forbidden(ConnectorError):
    error_type = "security_exception"


class TooManyRequests(ConnectorError):
    """The service already does as much of this work as it allows; the caller may retry after ``retry_after_s``."""

    error_type = "too_many_requests_exception"

    def __init__(self, reason: str, *, retry_after_s: int) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class DatasourceUnavailable(ConnectorError):
    """The database cannot be reached or refused the credentials."""

    error_type = "datasource_connection_exception"


class ConnectionLost(DatasourceUnavailable):
    """An established datasource connection broke (server restarted, backend killed, network cut)."""


class QueryFailed(ConnectorError):
    """The database rejected or aborted a query (syntax, permissions, timeout)."""

    error_type = "sql_exception"


class DriverMissing(ConnectorError):
    """The Python driver for a database is not installed in this service."""

    error_type = "driver_missing_exception"


class StoreUnavailable(ConnectorError):
    """Elasticsearch cannot be reached or answered with a server error."""

    error_type = "store_unavailable_exception"
