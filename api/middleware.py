"""Own cross-cutting request handling: request ids, limits, media types, metrics, response format.

Each rule here is enforced for every request before any resource runs (or on
every response after it), so no resource can skip it. Requests that proxy mode
forwards to Elasticsearch (``req.context.proxied``) are passed through
untouched, apart from the request id, the metrics and the response headers.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import falcon
import orjson
from prometheus_client import Counter, Histogram

from api.filter_path import PARAM as FILTER_PATH
from api.filter_path import FilterPath
from connector.errors import InvalidDefinition, PayloadTooLarge
from connector.log_setup import request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
# Callers' ids are echoed, so keep them printable and short.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

# Metric labels must stay a small set (SPEC §12): any other method is "other", a path that
# matches no route "unmatched", a forwarded one "proxy".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"
PROXY_ROUTE = "proxy"

# SPEC §14: request bodies must be JSON, so that a web page cannot send one without a CORS
# preflight (the media types a form or a simple fetch can send are text/plain,
# multipart/form-data and application/x-www-form-urlencoded). Elasticsearch's versioned JSON
# type is accepted too: Elasticsearch clients pointed at the service in proxy mode send it.
JSON_MEDIA_TYPES = frozenset({"application/json", "application/vnd.elasticsearch+json"})

REQUESTS = Counter(
    "connector_http_requests_total",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "connector_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
)


def _never(_path: str) -> bool:
    return False


def metric_labels(req: falcon.Request) -> tuple[str, str]:
    """The bounded ``method`` and ``route`` labels of a request."""
    method = req.method if req.method in KNOWN_METHODS else OTHER_METHOD
    if getattr(req.context, "proxied", False):
        return method, PROXY_ROUTE
    return method, req.uri_template or UNMATCHED_ROUTE


class RequestContext:
    """Give every request an id (the caller's if sane), echo it, put it on log lines, count it.

    ``proxied(path)`` tells whether proxy mode forwards the request; the answer
    is kept in ``req.context.proxied`` for the other components.
    """

    def __init__(self, *, proxied: Callable[[str], bool] = _never) -> None:
        self.proxied = proxied

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header(REQUEST_ID_HEADER)
        request_id = given if given and _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        req.context.request_id = request_id
        req.context.started = time.monotonic()
        req.context.token = request_id_var.set(request_id)
        req.context.proxied = self.proxied(req.path)
        resp.set_header(REQUEST_ID_HEADER, request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        method, route = metric_labels(req)
        REQUESTS.labels(method, route, str(resp.status_code)).inc()
        started = getattr(req.context, "started", None)
        if started is not None:
            LATENCY.labels(method, route).observe(time.monotonic() - started)
        token = getattr(req.context, "token", None)
        if token is not None:
            request_id_var.reset(token)


class SecurityHeaders:
    """SPEC §14: no MIME sniffing and no caching, on every response.

    A resource that sets its own ``Cache-Control`` (static files, a proxied
    response that has one) keeps it.
    """

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        resp.set_header("X-Content-Type-Options", "nosniff")
        if resp.get_header("Cache-Control") is None:
            resp.set_header("Cache-Control", "no-store")


class Limits:
    """Refuse oversized bodies and query strings before any resource runs."""

    def __init__(self, *, max_body_bytes: int, max_query_string_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_query_string_bytes = max_query_string_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.context.proxied:
            return  # Elasticsearch applies its own limits
        if req.content_length is not None and req.content_length > self.max_body_bytes:
            raise PayloadTooLarge(
                f"request body of {req.content_length} bytes exceeds the limit of {self.max_body_bytes} bytes"
            )
        if len(req.query_string.encode()) > self.max_query_string_bytes:
            raise InvalidDefinition.single(
                "query_string",
                "max_length",
                f"query string exceeds {self.max_query_string_bytes} bytes",
                entry_type="query_parameter",
                params=[self.max_query_string_bytes],
            )


def media_type(content_type: str | None) -> str | None:
    """The media type of a Content-Type value, without parameters, lowercased."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


class JsonBodies:
    """SPEC §14: a request that carries a body must declare it JSON (415 otherwise)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.context.proxied:
            return  # Elasticsearch takes NDJSON, CBOR, ...: the rule is the connector API's
        chunked = req.get_header("Transfer-Encoding") is not None
        if not chunked and not req.content_length:
            return
        given = media_type(req.content_type)
        if given not in JSON_MEDIA_TYPES:
            shown = f"[{given}]" if given else "missing"
            raise falcon.HTTPUnsupportedMediaType(
                description=f"Content-Type {shown} is not supported: request bodies must be application/json"
            )


class ResponseFormat:
    """The Elasticsearch response parameters of every connector endpoint (SPEC §13).

    ``filter_path`` filters a successful JSON response (errors are left whole,
    so a caller always sees why); ``pretty`` indents it; ``human`` and
    ``error_trace`` are accepted and change nothing (responses carry no
    byte or time units to humanise, and stack traces are never sent).
    ``filter_path`` is compiled before the resource runs, so a bad one
    refuses the request before it does anything.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.context.proxied:
            req.context.filter_path = FilterPath.parse(req.params.get(FILTER_PATH))

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        if getattr(req.context, "proxied", False) or resp.media is None:
            return
        filter_path: FilterPath | None = getattr(req.context, "filter_path", None)
        if filter_path is not None and resp.status_code < 400:
            resp.media = filter_path.apply(resp.media)
        if "pretty" in req.params:
            resp.data = orjson.dumps(resp.media, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
            resp.media = None
