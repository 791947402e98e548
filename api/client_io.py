"""Own a client's socket as a request thread of the API worker uses it (``api.edge_worker``).

Reads of a request body and writes of a response on a thread spend one
budget per request: the time blocked on the client may be
``api.body_timeout_s`` (reads) or ``api.send_timeout_s`` (writes) in all,
plus one second per :data:`MIN_RATE_BYTES_S` bytes moved; past it the client
is given up as if it had reset the connection (:class:`ClientTooSlow`). Time
spent on anything else (waiting for Elasticsearch) does not count. Writes go
through a per-connection queue that the worker's event loop empties, so a
thread blocks only for what exceeds :data:`MAX_QUEUED_BYTES`.

Also here: the response class without gunicorn's ``Server`` header, and the
complete error responses the worker writes itself (SPEC §7 body, §14 headers).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from typing import Any

import orjson
from gunicorn.http import wsgi
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader

MIN_RATE_BYTES_S = 16 * 1024
MAX_QUEUED_BYTES = 256 * 1024  # of a response, per connection, sent by the event loop


class ClientTooSlow(ConnectionResetError):
    """The client used up its time budget; the connection is given up like a reset one."""

    def __init__(self, what: str) -> None:
        super().__init__(errno.ECONNRESET, f"client too slow: {what}")


class Budget:
    """Time a thread may spend blocked on one client: a base plus one second per MIN_RATE bytes."""

    def __init__(self, base_s: float) -> None:
        self.allowed = base_s
        self.spent = 0.0

    def timeout(self, what: str) -> float:
        left = self.allowed - self.spent
        if left <= 0:
            raise ClientTooSlow(what)
        return left

    def account(self, started: float, moved: int) -> None:
        self.spent += time.monotonic() - started
        self.allowed += moved / MIN_RATE_BYTES_S


class BudgetedUnreader(SocketUnreader):  # type: ignore[misc]
    """Socket reads on a request thread, within the connection's budget."""

    def __init__(self, sock: socket.socket, budget_s: float) -> None:
        super().__init__(sock)
        self.budget_s = budget_s
        self.budget = Budget(budget_s)
        self.continue_sent = False  # the loop already answered Expect: 100-continue

    def chunk(self, size_hint: int | None = None) -> bytes:
        self.sock.settimeout(self.budget.timeout("request"))
        started = time.monotonic()
        try:
            data: bytes = super().chunk(size_hint)
        except TimeoutError:
            raise ClientTooSlow("request") from None
        self.budget.account(started, len(data))
        return data


class _EdgeRequest(Request):  # type: ignore[misc]
    """A parsed request: a fresh read budget, and no second ``100 Continue``."""

    def __init__(self, cfg: Any, unreader: BudgetedUnreader, peer_addr: Any, req_number: int = 1) -> None:
        unreader.budget = Budget(unreader.budget_s)  # a fresh budget for each request
        super().__init__(cfg, unreader, peer_addr, req_number)
        if unreader.continue_sent:
            self._expected_100_continue = False  # a second 100 Continue would be noise
            unreader.continue_sent = False


class EdgeParser(RequestParser):  # type: ignore[misc]
    """gunicorn's HTTP/1.1 parser over a :class:`BudgetedUnreader`."""

    mesg_class = _EdgeRequest

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, budget_s: float) -> None:
        super().__init__(cfg, sock, client)
        self.unreader = BudgetedUnreader(sock, budget_s)


class Outgoing:
    """The client socket as a response sees it: what the client does not take at once is queued.

    Up to :data:`MAX_QUEUED_BYTES` per connection wait for the event loop to
    send them, so a client that reads slowly (or not at all) holds no thread
    for an ordinary response; past that, the thread blocks within the
    client's budget until the queue is back under the cap.
    """

    def __init__(self, sock: socket.socket, budget_s: float) -> None:
        self.sock = sock
        self.queued = bytearray()
        self.budget = Budget(budget_s)

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        sent = 0
        if not self.queued:
            self.sock.settimeout(None)  # with a timeout, Python would wait even with MSG_DONTWAIT
            with contextlib.suppress(BlockingIOError, InterruptedError):
                sent = self.sock.send(data, socket.MSG_DONTWAIT)
        self.queued += memoryview(data)[sent:]
        while len(self.queued) > MAX_QUEUED_BYTES:
            self.sock.settimeout(self.budget.timeout("response"))
            started = time.monotonic()
            try:
                sent = self.sock.send(self.queued)
            except TimeoutError:
                raise ClientTooSlow("response") from None
            del self.queued[:sent]
            self.budget.account(started, sent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)  # gettimeout, setblocking, fileno ... of the real socket


class BannerlessResponse(wsgi.Response):  # type: ignore[misc]
    """A response without gunicorn's ``Server`` header (SPEC §14: no banner)."""

    def default_headers(self) -> list[str]:
        return [h for h in super().default_headers() if not h.startswith("Server:")]

    def sendfile(self, respiter: Any) -> bool:
        return False  # write() instead, through the queue of Outgoing


class CapturedPage:
    """Stands in for the client socket while gunicorn writes its HTML error page."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, _flag: bool) -> None:
        return

    def sendall(self, data: bytes) -> None:
        self.data += data


def error_response(status: int, text: str, error_type: str, reason: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection: the SPEC §7 body, the §14 headers."""
    body = orjson.dumps(
        {
            "error": {
                "type": error_type,
                "reason": reason,
                "root_cause": [{"type": error_type, "reason": reason}],
                "invalid": [],
            },
            "status": status,
        }
    )
    head = (
        f"HTTP/1.1 {status} {text}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body
