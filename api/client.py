"""Own the small HTTP client behind the `connector` client commands."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

DEFAULT_URL = "http://127.0.0.1:8080"


class ClientError(Exception):
    """The service answered with an error (status and ES-style body) or not at all."""

    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass
class ConnectorClient:
    url: str = DEFAULT_URL
    token: str | None = None
    basic: tuple[str, str] | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        self._http = urllib3.PoolManager(retries=False, timeout=self.timeout_s)

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.basic:
            raw = f"{self.basic[0]}:{self.basic[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        query = {
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items() if v is not None
        }
        target = self.url.rstrip("/") + path + ("?" + urlencode(query) if query else "")
        try:
            resp = self._http.request(method, target, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as ex:
            raise ClientError(f"cannot reach the connector service at {self.url}: {ex}") from None
        payload: Any = None
        if resp.data:
            try:
                payload = orjson.loads(resp.data)
            except orjson.JSONDecodeError:
                payload = resp.data.decode(errors="replace")
        if resp.status >= 400:
            reason = payload.get("error", {}).get("reason") if isinstance(payload, dict) else payload
            raise ClientError(f"HTTP {resp.status}: {reason}", resp.status, payload)
        return payload
