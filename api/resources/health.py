"""Own ``GET /_siren/connector/_health`` and ``GET /metrics``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.params import check_params


class Health:
    """Report whether this process can serve: Elasticsearch and the service indices.

    Public, for load balancers; the details (versions, index names, reasons)
    only to an authenticated caller (SPEC §14): others get the status alone.
    """

    public = True

    def __init__(self, check: Callable[[], dict[str, Any]]) -> None:
        self.check = check

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ())
        report = self.check()
        resp.status = falcon.HTTP_200 if report["status"] != "red" else falcon.HTTP_503
        authenticated = getattr(req.context, "principal", None) is not None
        resp.media = report if authenticated else {"status": report["status"]}


class Metrics:
    scopes = {"GET": "job:read"}

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self.registry)
