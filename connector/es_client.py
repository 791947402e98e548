"""Own the Elasticsearch client factory and the compatibility mode of SPEC §3.

elasticsearch-py 8/9 send ``application/vnd.elasticsearch+json;
compatible-with=N``; OpenSearch, the osmem test server, and an Elasticsearch
whose major version differs from the client's reject it. In compatibility
mode the transport node rewrites those media types back to plain JSON/NDJSON
and vouches for the product header the client checks. ``auto`` asks ``GET /``
with plain JSON once at start-up and decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from elastic_transport import (
    ConnectionError as TransportConnectionError,
)
from elastic_transport import (
    HttpHeaders,
    NdjsonSerializer,
    TransportError,
    Urllib3HttpNode,
)
from elastic_transport._models import DEFAULT, DefaultType
from elastic_transport._node import NodeApiResponse
from elasticsearch import ApiError, Elasticsearch
from elasticsearch._version import __versionstr__ as client_version
from tenacity import Retrying, retry_if_exception_type, wait_fixed

from connector.errors import StoreUnavailable
from connector.settings import ElasticsearchSettings

log = logging.getLogger(__name__)

CLIENT_MAJOR = int(client_version.split(".")[0])
STARTUP_PROBE_INTERVAL_S = 0.5  # between probes while waiting up to startup_wait_s for the cluster
_VENDOR_JSON = "application/vnd.elasticsearch+"


def _plain_media_type(value: str) -> str:
    # "application/vnd.elasticsearch+x-ndjson; compatible-with=9" -> "application/x-ndjson"
    if _VENDOR_JSON not in value:
        return value
    subtype = value.split(_VENDOR_JSON, 1)[1].split(";", 1)[0].strip()
    return f"application/{subtype}"


class PlainJsonNode(Urllib3HttpNode):
    """A transport node that speaks plain JSON, for servers refusing the vendor media type."""

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        if headers is not None:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = _plain_media_type(headers[name])
        response = super().perform_request(method, target, body=body, headers=headers, request_timeout=request_timeout)
        # OpenSearch-compatible servers do not send the product header the client checks.
        if "x-elastic-product" not in response.meta.headers:
            response.meta.headers["x-elastic-product"] = "Elasticsearch"
        return response


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    distribution: str
    version: str
    compatibility_mode: bool


def probe_cluster(settings: ElasticsearchSettings) -> ClusterInfo:
    """Ask ``GET /`` in plain JSON and decide whether compatibility mode is needed.

    Raises StoreUnavailable with a one-line reason when no node answers.
    """
    client = _build(settings, plain_json=True, max_retries=0)  # create_client loops itself
    try:
        info = client.info()
    except (TransportConnectionError, TransportError) as ex:
        raise StoreUnavailable(f"Elasticsearch at {settings.url} is unreachable: {_first_line(ex)}") from ex
    except ApiError as ex:  # 401, 403, ... from the server
        raise StoreUnavailable(f"Elasticsearch at {settings.url} refused GET /: {_first_line(ex)}") from ex
    finally:
        client.close()
    version = info.get("version", {})
    distribution = str(version.get("distribution", "elasticsearch"))
    number = str(version.get("number", "0"))
    if settings.compatibility_mode == "on":
        compat = True
    elif settings.compatibility_mode == "off":
        compat = False
    else:
        major = int(number.split(".")[0]) if number.split(".")[0].isdigit() else 0
        compat = distribution != "elasticsearch" or major != CLIENT_MAJOR
    return ClusterInfo(distribution, number, compat)


def create_client(
    settings: ElasticsearchSettings,
    *,
    wait: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Elasticsearch, ClusterInfo]:
    """Connect to the cluster, waiting up to ``startup_wait_s`` for it to answer.

    The client retries control-plane requests (3 attempts on connection errors
    and 429/502/503/504); the bulk writer disables this per request and owns
    the single retry layer for data.
    """
    deadline = clock() + (settings.startup_wait_s if wait else 0)
    patience = Retrying(
        retry=retry_if_exception_type(StoreUnavailable),
        stop=lambda _attempt: clock() >= deadline,
        wait=wait_fixed(STARTUP_PROBE_INTERVAL_S),
        sleep=sleep,
        reraise=True,  # the last probe's one-line reason, not tenacity's RetryError
    )
    info = patience(probe_cluster, settings)
    log.info(
        "connected to %s %s at %s (compatibility mode %s)",
        info.distribution,
        info.version,
        settings.url,
        "on" if info.compatibility_mode else "off",
    )
    return _build(settings, plain_json=info.compatibility_mode), info


def _build(settings: ElasticsearchSettings, *, plain_json: bool, max_retries: int = 3) -> Elasticsearch:
    kwargs: dict[str, Any] = {
        "request_timeout": settings.request_timeout_s,
        "max_retries": max_retries,
        "retry_on_timeout": False,  # a timed-out write may have applied; never replay it blindly
        "retry_on_status": (429, 502, 503, 504),
        "verify_certs": settings.verify_certs,
    }
    if settings.ca_certs:
        kwargs["ca_certs"] = settings.ca_certs
    if settings.api_key is not None:
        kwargs["api_key"] = settings.api_key.get_secret_value()
    elif settings.username:
        password = settings.password.get_secret_value() if settings.password else ""
        kwargs["basic_auth"] = (settings.username, password)
    if plain_json:
        kwargs["node_class"] = PlainJsonNode
    kwargs["serializers"] = {mimetype: PassThroughNdjson() for mimetype in _NDJSON_MIMETYPES}
    return Elasticsearch(settings.hosts, **kwargs)


_NDJSON_MIMETYPES = ("application/x-ndjson", "application/vnd.elasticsearch+x-ndjson")


class PassThroughNdjson(NdjsonSerializer):
    """Send an already-encoded NDJSON body as it is (the stock one copies it twice)."""

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, bytes) and data.endswith(b"\n"):
            return data
        return super().dumps(data)


def _first_line(ex: BaseException) -> str:
    # elastic_transport's str() is just "Connection error"; the detail is in args or the cause.
    detail = ex.args[0] if ex.args and isinstance(ex.args[0], str) else str(ex)
    if ex.__cause__ is not None and detail == str(ex):
        detail = str(ex.__cause__)
    lines = detail.strip().splitlines()
    return lines[0] if lines else type(ex).__name__
