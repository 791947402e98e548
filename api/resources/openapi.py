"""Own ``GET /_siren/connector/_openapi.json``: the OpenAPI document of the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon
import orjson

from api.params import check_params


class OpenApiDocument:
    """Serve the document ``build`` returns, built on first use and then kept."""

    public = True  # it describes the API, not any data; clients and tools fetch it before they have credentials

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._body: bytes | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ())
        if self._body is None:
            self._body = orjson.dumps(self._build())
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body
