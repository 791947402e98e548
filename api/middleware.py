"""Own cross-cutting request handling: request ids, limits, metrics, pretty output."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import falcon
import orjson
from prometheus_client import Counter, Histogram

from connector.errors import InvalidDefinition, PayloadTooLarge
from connector.log_setup import request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
# Callers' ids are echoed, so keep them printable and short.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

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


class RequestContext:
    """Give every request an id (the caller's if sane), echo it, put it on log lines."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header(REQUEST_ID_HEADER)
        request_id = given if given and _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        req.context.request_id = request_id
        req.context.started = time.monotonic()
        req.context.token = request_id_var.set(request_id)
        resp.set_header(REQUEST_ID_HEADER, request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        route = req.uri_template or "unmatched"
        REQUESTS.labels(req.method, route, str(resp.status_code)).inc()
        started = getattr(req.context, "started", None)
        if started is not None:
            LATENCY.labels(req.method, route).observe(time.monotonic() - started)
        if "pretty" in req.params and resp.media is not None:
            resp.data = orjson.dumps(resp.media, option=orjson.OPT_INDENT_2)
            resp.media = None
        token = getattr(req.context, "token", None)
        if token is not None:
            request_id_var.reset(token)


class Limits:
    """Refuse oversized bodies and query strings before any resource runs."""

    def __init__(self, *, max_body_bytes: int, max_query_string_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_query_string_bytes = max_query_string_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
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
