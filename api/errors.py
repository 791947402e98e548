"""Own the mapping of errors to HTTP responses (SPEC §7), in one place.

Body shape, Elasticsearch style with seed 002's ``invalid[]``::

    {"error": {"type", "reason", "root_cause": [{"type", "reason"}], "invalid": [...]},
     "status": N}

Anything unexpected is logged with its traceback and answered 500 without
internals.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon

from connector.errors import (
    Conflict,
    ConnectorError,
    DatasourceUnavailable,
    DriverMissing,
    Forbidden,
    InvalidDefinition,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    QueryFailed,
    StoreUnavailable,
    TooManyRequests,
    Unauthorized,
)

log = logging.getLogger(__name__)

STATUS: list[tuple[type[ConnectorError], int]] = [
    (MalformedRequest, 400),
    (InvalidDefinition, 400),
    (DatasourceUnavailable, 400),
    (QueryFailed, 400),
    (DriverMissing, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (TooManyRequests, 429),
    (StoreUnavailable, 503),
    (ConnectorError, 400),  # any other domain error is about what the request asked for: never a 500
]


def status_of(ex: ConnectorError) -> int:
    for cls, status in STATUS:
        if isinstance(ex, cls):
            return status
    return 500


def error_body(
    status: int, error_type: str, reason: str, invalid: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "type": error_type,
            "reason": reason,
            "root_cause": [{"type": error_type, "reason": reason}],
            "invalid": invalid or [],
        },
        "status": status,
    }


def _render(resp: falcon.Response, status: int, body: dict[str, Any]) -> None:
    resp.status = falcon.code_to_http_status(status)
    resp.media = body


def handle_connector_error(
    req: falcon.Request, resp: falcon.Response, ex: ConnectorError, params: dict[str, Any]
) -> None:
    status = status_of(ex)
    invalid = [entry.as_dict() for entry in ex.invalid] if isinstance(ex, InvalidDefinition) else None
    body = error_body(status, ex.error_type, ex.reason, invalid)
    if isinstance(ex, Conflict) and ex.body is not None:
        body["job"] = ex.body  # the job envelope, so a client sees the state that conflicts
    if isinstance(ex, Unauthorized):
        resp.set_header("WWW-Authenticate", ex.challenge)
    if isinstance(ex, TooManyRequests):
        resp.set_header("Retry-After", str(ex.retry_after_s))
    if status >= 500:
        log.error("%s %s failed: %s", req.method, req.path, ex.reason)
    _render(resp, status, body)


_FALCON_TYPES = {
    400: "illegal_argument_exception",
    404: "resource_not_found_exception",
    405: "method_not_allowed_exception",
    408: "timeout_exception",
    411: "illegal_argument_exception",
    413: "content_too_long_exception",
    415: "media_type_exception",
    502: "bad_gateway_exception",
    504: "gateway_timeout_exception",
}


def handle_http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: dict[str, Any]) -> None:
    status = ex.status_code
    reason = ex.description or ex.title or "error"
    if status == 404 and not ex.description:
        reason = f"no handler found for uri [{req.path}] and method [{req.method}]"
    if status == 405:
        reason = f"method [{req.method}] is not allowed for uri [{req.path}]"
    if ex.headers:
        resp.set_headers(ex.headers)
    _render(resp, status, error_body(status, _FALCON_TYPES.get(status, "http_exception"), reason))


def handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
    if isinstance(ex, falcon.HTTPError):
        handle_http_error(req, resp, ex, params)
        return
    log.exception("unexpected error on %s %s", req.method, req.path)
    _render(
        resp, 500, error_body(500, "internal_server_error", "internal error; see the service log for this request id")
    )


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Register the handlers; later registrations take precedence for subclasses."""
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(ConnectorError, handle_connector_error)
