"""Own proxy mode (SPEC §13): every request outside the connector API is Elasticsearch's.

With ``api.es_proxy = true`` the app forwards every request whose path is not
under ``/_siren/connector/`` or ``/metrics`` to ``elasticsearch.url``, as a
thin pass-through that knows nothing of the connector:

- the request goes out as it came in: method, request target (the raw path
  and query, so ``%2F`` and date-math names survive), headers including
  ``Authorization``, and the body streamed as it arrives (any content type:
  NDJSON ``_bulk``, gzip);
- the response comes back the same way: status, headers and body streamed
  without decoding it (``Content-Encoding`` passes through) or buffering it;
- hop-by-hop headers (RFC 9110 §7.6.1) are dropped both ways, and ``Host``
  names the cluster;
- a path with ``.`` or ``..`` segments (also percent-encoded) is refused with
  400 rather than resolved on the way.

Authentication: the cluster authenticates forwarded requests with the
caller's own credentials. The service's ``auth.mode`` does not apply to them
and the service's Elasticsearch credentials are never added: the proxy's
connection pool has none. Connector endpoints keep ``auth.mode``.

:data:`FORWARDED` decides which paths are forwarded, for the app's sink and
for the middleware alike; it ignores leading slashes as falcon's router does,
so a path the router gives to a connector resource (``//_siren/connector/..``)
is never treated as forwarded.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import falcon
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError

from connector.settings import Settings

log = logging.getLogger(__name__)

FORWARDED = re.compile(r"(?!/*(?:_siren/connector|metrics)(?:/|\Z))")
STREAM_CHUNK = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
# RFC 9110 §7.6.1, plus what the connection to the cluster sets itself, and Expect: the
# service answered the client's 100-continue already.
HOP_BY_HOP = frozenset(
    {
        "expect",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def forwarded(path: str) -> bool:
    """Whether proxy mode sends a request for ``path`` to Elasticsearch."""
    return FORWARDED.match(path) is not None


class EsProxy:
    """A falcon sink that forwards the request to Elasticsearch and streams the answer back."""

    def __init__(self, settings: Settings) -> None:
        es = settings.elasticsearch
        self.hosts = [host.rstrip("/") for host in es.hosts]
        self._next_host = itertools.count()
        # No credentials here, ever: forwarded requests carry the caller's own.
        self.pool = urllib3.PoolManager(
            num_pools=len(self.hosts),
            maxsize=settings.api.gunicorn_threads,
            cert_reqs="CERT_REQUIRED" if es.verify_certs else "CERT_NONE",
            ca_certs=es.ca_certs,
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=settings.api.es_proxy_timeout_s),
        )

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_params: Any) -> None:
        if any(segment in (".", "..") for segment in req.path.split("/")):
            # urllib3 would resolve them (`/x/../_siren/connector/..` becomes a connector path on the
            # cluster's side); no Elasticsearch client sends them, and no index is named `.` or `..`.
            raise falcon.HTTPBadRequest(description="paths with . or .. segments are not forwarded")
        target = _request_target(req)
        if not target.startswith("/"):
            raise falcon.HTTPBadRequest(description="only requests for a path are forwarded")
        headers = _forwardable(req.headers.items(), connection=req.get_header("Connection"))
        body: _Body | None = None
        chunked = req.get_header("Transfer-Encoding") is not None
        if req.content_length:
            headers["Content-Length"] = str(req.content_length)
            body = _Body(req.bounded_stream, req.content_length)
        elif chunked:
            body = _Body(req.stream)
        upstream = self._send(req.method, target, headers, body, chunked=chunked and body is not None)
        resp.status = falcon.code_to_http_status(upstream.status)
        resp.content_type = None
        for name, value in upstream.headers.items():
            if name.lower() not in HOP_BY_HOP:
                resp.append_header(name, value)
        length = upstream.headers.get("Content-Length")
        if length is not None and length.isdigit():
            resp.content_length = int(length)
        resp.stream = _Streamed(upstream)

    def _send(
        self, method: str, target: str, headers: dict[str, str], body: _Body | None, *, chunked: bool
    ) -> urllib3.BaseHTTPResponse:
        start = next(self._next_host)
        last: HTTPError | None = None
        for attempt in range(len(self.hosts)):
            host = self.hosts[(start + attempt) % len(self.hosts)]
            try:
                # The pool of that node, given a path: nothing in the target can name another host.
                return self.pool.connection_from_url(host).urlopen(
                    method,
                    target,
                    body=body,
                    headers=headers,
                    chunked=chunked,
                    redirect=False,
                    preload_content=False,
                    decode_content=False,
                )
            except NewConnectionError as ex:
                if body is not None and body.started:
                    raise _bad_gateway(host, ex) from None
                log.warning("proxy: %s unreachable (%s); trying the next node", host, ex)
                last = ex
            except ReadTimeoutError:
                raise falcon.HTTPError(
                    falcon.HTTP_504, description=f"Elasticsearch at {host} did not answer in time"
                ) from None
            except HTTPError as ex:
                if body is not None and body.failed:  # urllib3 wraps the error of reading the client
                    raise falcon.HTTPError(
                        falcon.HTTP_408, description="the request body did not arrive in time"
                    ) from None
                raise _bad_gateway(host, ex) from None
        assert last is not None
        raise _bad_gateway(self.hosts[-1], last)

    def close(self) -> None:
        self.pool.clear()


def _bad_gateway(host: str, ex: HTTPError) -> falcon.HTTPError:
    log.warning("proxy: request to %s failed: %s", host, ex)
    return falcon.HTTPError(falcon.HTTP_502, description=f"Elasticsearch at {host} is unreachable")


def _request_target(req: falcon.Request) -> str:
    """The request target as the client sent it (gunicorn's RAW_URI), else rebuilt from the decoded path."""
    raw = req.env.get("RAW_URI") or req.env.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith(("http://", "https://")):
        parts = urlsplit(raw)  # absolute form: keep the path and query only
        raw = parts.path + (f"?{parts.query}" if parts.query else "")
    if isinstance(raw, str):
        return raw  # CONNECT's authority or OPTIONS' '*' are refused by the caller
    query = req.query_string
    return quote(req.path) + (f"?{query}" if query else "")


def _forwardable(headers: Any, *, connection: str | None) -> dict[str, str]:
    """The request headers to send on: all but hop-by-hop ones and those ``Connection`` names."""
    named = {token.strip().lower() for token in (connection or "").split(",") if token.strip()}
    return {name: value for name, value in headers if name.lower() not in HOP_BY_HOP | named}


class _Body:
    """The client's request body, read as it arrives and handed to urllib3 piece by piece.

    A body that ends before its ``Content-Length``, or whose reading fails (the
    client went away, or api.edge_worker gave up on it), aborts the forwarded
    request: Elasticsearch must not be left waiting for the rest.
    """

    def __init__(self, stream: Any, length: int | None = None) -> None:
        self.stream = stream
        self.length = length
        self.started = False
        self.failed = False

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        while True:
            try:
                chunk = self.stream.read(STREAM_CHUNK)
            except OSError:
                self.failed = True
                raise
            if not chunk:
                if self.length is not None and received < self.length:
                    self.failed = True
                    raise ConnectionAbortedError(f"the client sent {received} of {self.length} bytes")
                return
            received += len(chunk)
            self.started = True
            yield chunk


class _Streamed:
    """Elasticsearch's response body, passed on as it arrives, still encoded."""

    def __init__(self, upstream: urllib3.BaseHTTPResponse) -> None:
        self.upstream = upstream
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.upstream.stream(STREAM_CHUNK, decode_content=False)
        except (ProtocolError, ReadTimeoutError) as ex:
            # The status line is gone: all that is left is to cut the connection.
            raise ConnectionAbortedError(f"Elasticsearch's response broke off: {ex}") from None
        self.done = True

    def close(self) -> None:
        if self.done:
            self.upstream.release_conn()
        else:
            self.upstream.close()  # a half-read connection cannot be reused
