"""Own the gunicorn worker of the API: no request thread waits on a slow client (SPEC §14).

gunicorn's gthread worker gives a connection to a thread as soon as it is
readable, and the thread then reads the request with blocking calls and no
deadline: a client that sends one header line every few seconds holds a
thread, and a handful of them took the API down (issue 11). This worker
reads each request in its event loop instead, without blocking, and commits a
thread only once the request head and its body (up to ``api.max_body_bytes``)
are all buffered:

- the head must arrive within ``api.header_timeout_s`` (from the connection's
  opening, or from the first byte of a kept-alive connection's next request),
  and the body within ``api.body_timeout_s`` once the head is in; past either,
  the client gets a 408 and the connection is closed (silently if it sent
  nothing); a head over :data:`MAX_HEAD_BYTES` gets a 431;
- ``Expect: 100-continue`` is answered from the loop, so that clients send the
  body the loop is waiting for;
- a response is queued and sent by the loop (``api.send_timeout_s``), so a
  client that does not read holds no thread either (``api.client_io``).

A body the loop does not buffer (over ``api.max_body_bytes``: refused by the
app without reading it, or streamed by the Elasticsearch proxy) is read by
the thread within a budget (``api.client_io``), and at most half the threads
may be waiting on such bodies: the other requests wait, unread, for a slot.

The worker also sends no ``Server`` header, answers the requests gunicorn
cannot parse in JSON, and refuses TLS and HTTP/2 settings, which it does not
support: terminate TLS in a front proxy (``config/nginx.conf``).
"""

from __future__ import annotations

import collections
import contextlib
import re
import selectors
import socket
import time
from concurrent import futures
from datetime import datetime
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.workers.gthread import TConn, ThreadWorker

from api.client_io import (
    MIN_RATE_BYTES_S,
    BannerlessResponse,
    Budget,
    CapturedPage,
    EdgeParser,
    Outgoing,
    error_response,
)
from connector.settings import ApiSettings, load_settings

MAX_HEAD_BYTES = 64 * 1024  # Elasticsearch's own limit is 8 kB (http.max_header_size)
MAX_PREREAD_CHUNKS = 4096  # a chunked body cut finer than this is left to the thread
READ_SIZE = 64 * 1024
DRAIN_S = 0.05  # what is left of a body after the response is discarded only if already buffered
# Connections the loop cuts off get these.
_STATUS_TEXT = {408: "Request Timeout", 431: "Request Header Fields Too Large"}
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class _Flushing:
    """A finished request whose response the event loop is still sending."""

    def __init__(self, conn: TConn, queued: bytearray, result: Any, deadline: float) -> None:
        self.conn = conn
        self.queued = queued
        self.result = result  # what the request thread returned: keep the connection alive or not
        self.deadline = deadline


class _Reading:
    """A connection whose request the event loop is buffering."""

    def __init__(self, conn: TConn, buffered: bytes, deadline: float, *, fresh: bool) -> None:
        self.conn = conn
        self.buf = bytearray(buffered)
        self.deadline = deadline
        self.fresh = fresh  # a new connection (its deadline counts from the opening)
        self.head_end = -1
        self.scanned = 0  # where the search for the end of the head resumes
        self.need: int | None = None  # total bytes of a Content-Length request
        self.chunk_pos = -1  # chunked: where the next chunk-size line starts
        self.chunks = 0
        self.body_bytes = 0
        self.continue_sent = False
        self.partial = False  # dispatched before its whole body was in: a thread reads the rest


class EdgeWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with requests read in the event loop under deadlines (see the module docstring)."""

    alive: bool  # gunicorn's, set by the base class

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or "h2" in cfg.http_protocols or cfg.http2_cleartext != "off":
            raise RuntimeError("the API worker serves plain HTTP/1.1: terminate TLS in a front proxy")

    def init_process(self) -> None:
        self.api: ApiSettings = load_settings().api
        self.reading: dict[TConn, _Reading] = {}
        self.flushing: dict[TConn, _Flushing] = {}
        self.outgoing: dict[TConn, Outgoing] = {}  # the response a request thread is writing
        # A request whose body is larger than what the loop buffers (the proxy streams it) has a
        # thread wait on its client: at most half the threads may, so that clients trickling such
        # bodies cannot take every thread (the others wait in `parked`, not reading).
        self.streaming_slots = max(1, self.cfg.threads // 2)
        self.streaming: set[TConn] = set()
        self.parked: collections.deque[_Reading] = collections.deque()
        super().init_process()

    # ---------------------------------------------------------------- the event loop

    def enqueue_req(self, conn: TConn) -> None:
        """Every path to a thread (a new connection, a kept-alive one, pipelined bytes) starts here."""
        fresh = conn.parser is None
        if fresh:
            conn.parser = EdgeParser(self.cfg, conn.sock, conn.client, self.api.body_timeout_s)
        buffered = conn.parser.unreader.take_buffered()
        timeout = self.api.header_timeout_s if fresh or buffered else self.cfg.keepalive
        reading = _Reading(conn, buffered, time.monotonic() + timeout, fresh=fresh)
        conn.sock.setblocking(False)
        self.reading[conn] = reading
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, reading))
        if buffered:
            self._progress(reading)
        else:
            self._on_readable(reading, conn.sock)

    def _on_readable(self, reading: _Reading, _sock: Any) -> None:
        try:
            data = reading.conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(reading)
            return
        if not data:
            self._close(reading)
            return
        if not reading.buf and not reading.fresh:
            reading.deadline = time.monotonic() + self.api.header_timeout_s  # idle keep-alive ends
        reading.buf += data
        self._progress(reading)

    def _progress(self, reading: _Reading) -> None:
        if reading.head_end < 0 and not self._find_head(reading):
            return
        if self._body_complete(reading):
            self._dispatch(reading)

    def _find_head(self, reading: _Reading) -> bool:
        buf = reading.buf
        start = max(0, reading.scanned - 3)
        ends = [i + n for i, n in ((buf.find(b"\r\n\r\n", start), 4), (buf.find(b"\n\n", start), 2)) if i >= 0]
        if not ends:
            reading.scanned = len(buf)
            if len(buf) > MAX_HEAD_BYTES:
                self._refuse(reading, 431, "request_header_fields_too_large", "the request head is too large")
            return False
        reading.head_end = min(ends)
        self._framing(reading, bytes(buf[: reading.head_end]))
        if reading.need is not None or reading.chunk_pos >= 0:
            reading.deadline = time.monotonic() + self.api.body_timeout_s
        return True

    def _framing(self, reading: _Reading, head: bytes) -> None:
        """Read the body's framing from the head; anything odd is left to gunicorn's parser to refuse."""
        lengths: list[bytes] = []
        chunked = expect_continue = False
        for line in head.split(b"\n")[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                continue
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                chunked = chunked or b"chunked" in value
            elif name == b"expect":
                expect_continue = value == b"100-continue"
        if chunked:
            reading.chunk_pos = reading.head_end
        elif len(lengths) == 1 and lengths[0].isdigit():
            length = int(lengths[0])
            if 0 < length <= self.api.max_body_bytes:
                reading.need = reading.head_end + length
            reading.partial = length > self.api.max_body_bytes
        if expect_continue and (reading.need is not None or chunked) and len(reading.buf) == reading.head_end:
            try:
                reading.conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                reading.continue_sent = True
            except OSError:
                pass  # the socket is full or gone: the client sends its body after its own delay

    def _body_complete(self, reading: _Reading) -> bool:
        if reading.need is not None:
            return len(reading.buf) >= reading.need
        if reading.chunk_pos < 0:
            return True
        buf = reading.buf
        reading.partial = True  # unless the last chunk is found below
        if len(buf) - reading.head_end > 2 * self.api.max_body_bytes + MAX_HEAD_BYTES:
            return True  # chunk extensions or trailers out of proportion: the thread reads the rest
        while True:
            line_end = buf.find(b"\r\n", reading.chunk_pos)
            if line_end < 0:
                return len(buf) - reading.chunk_pos > 1024  # a size line that long is gunicorn's to refuse
            size_text = bytes(buf[reading.chunk_pos : line_end]).split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                reading.partial = False
                return True  # gunicorn refuses it at once
            size = int(size_text, 16)
            if size == 0:
                reading.partial = False
                return buf.find(b"\r\n\r\n", line_end) >= 0  # the last chunk, then the trailers' end
            reading.chunks += 1
            reading.body_bytes += size
            if reading.body_bytes > self.api.max_body_bytes or reading.chunks > MAX_PREREAD_CHUNKS:
                return True  # the app refuses it (413) or reads the rest within the budget
            next_pos = line_end + 2 + size + 2
            if len(buf) < next_pos:
                return False
            reading.chunk_pos = next_pos

    def _dispatch(self, reading: _Reading) -> None:
        self._forget(reading)
        if reading.partial and len(self.streaming) >= self.streaming_slots:
            # Threads that would wait on a client's body: never all of them (see streaming_slots).
            reading.deadline = time.monotonic() + self.api.body_timeout_s
            self.parked.append(reading)
            return
        self._start(reading)

    def _start(self, reading: _Reading) -> None:
        conn = reading.conn
        if reading.partial:
            self.streaming.add(conn)
        conn.parser.unreader.unread(bytes(reading.buf))
        conn.parser.unreader.continue_sent = reading.continue_sent
        conn.data_ready = True  # gthread's own wait for the first byte is not needed
        super().enqueue_req(conn)

    def _stream_done(self, conn: TConn) -> None:
        if conn in self.streaming:
            self.streaming.discard(conn)
            if self.parked:
                self._start(self.parked.popleft())

    def _forget(self, reading: _Reading) -> None:
        del self.reading[reading.conn]
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(reading.conn.sock)

    def _close(self, reading: _Reading) -> None:
        self._forget(reading)
        self.nr_conns -= 1
        reading.conn.close()

    def _refuse(self, reading: _Reading, status: int, error_type: str, reason: str) -> None:
        with contextlib.suppress(OSError):
            reading.conn.sock.send(error_response(status, _STATUS_TEXT[status], error_type, reason))
        self.log.info("closing connection from %s: %s", _peer(reading.conn), reason)
        self._close(reading)

    def murder_pending(self) -> None:
        """Also end the requests that missed their deadline (the run loop calls this every second)."""
        super().murder_pending()
        now = time.monotonic()
        for reading in [r for r in self.reading.values() if r.deadline <= now or (not self.alive and not r.buf)]:
            if not reading.buf:
                self._close(reading)
            elif reading.head_end < 0:
                self._refuse(reading, 408, "timeout_exception", "the request head did not arrive in time")
            else:
                self._refuse(reading, 408, "timeout_exception", "the request body did not arrive in time")
        while self.parked and (self.parked[0].deadline <= now or not self.alive):
            parked = self.parked.popleft()
            with contextlib.suppress(OSError):
                parked.conn.sock.send(
                    error_response(408, _STATUS_TEXT[408], "timeout_exception", "the server was busy with other bodies")
                )
            self.nr_conns -= 1
            parked.conn.close()
        for flushing in [f for f in self.flushing.values() if f.deadline <= now]:
            self.log.info("closing connection from %s: the client did not read its response", _peer(flushing.conn))
            self._end_flush(flushing)
            self.nr_conns -= 1
            flushing.conn.close()

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """Send what the request thread queued, then do what gthread does after a request."""
        self._stream_done(conn)
        out = self.outgoing.pop(conn, None)
        if out is None or not out.queued or fs.cancelled():
            super().finish_request(conn, fs)
            return
        result = fs.result()
        deadline = time.monotonic() + self.api.send_timeout_s + len(out.queued) / MIN_RATE_BYTES_S
        flushing = self.flushing[conn] = _Flushing(conn, out.queued, result, deadline)
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_WRITE, partial(self._on_writable, flushing))

    def _on_writable(self, flushing: _Flushing, _sock: Any) -> None:
        try:
            sent = flushing.conn.sock.send(flushing.queued)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._end_flush(flushing)
            self.nr_conns -= 1
            flushing.conn.close()
            return
        del flushing.queued[:sent]
        if not flushing.queued:
            self._end_flush(flushing)
            done: futures.Future[Any] = futures.Future()
            done.set_result(flushing.result)
            super().finish_request(flushing.conn, done)

    def _end_flush(self, flushing: _Flushing) -> None:
        del self.flushing[flushing.conn]
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(flushing.conn.sock)

    # ---------------------------------------------------------------- the request thread

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        """gunicorn's classification and logging of a request it cannot serve, answered in JSON.

        gunicorn writes an HTML page; it is captured here and replaced by the
        SPEC §7 error body with the SPEC §14 headers.
        """
        page = CapturedPage()
        super().handle_error(req, page, addr, exc)
        status_line = page.data.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        status = int(status_line[1]) if len(status_line) == 3 and status_line[1].isdigit() else 400
        text = status_line[2] if len(status_line) == 3 else "Bad Request"
        reason = f"{text}: {exc}" if status < 500 else "internal error; see the service log"
        error_type = "illegal_argument_exception" if status < 500 else "internal_server_error"
        with contextlib.suppress(OSError):
            util.write_nonblock(client, error_response(status, text, error_type, reason))

    def _keepalive_after(self, conn: TConn, keepalive: bool) -> bool:
        # Drain only what is buffered; a body the app left on the socket closes the connection
        # rather than keep this thread reading it.
        if not keepalive:
            return False
        conn.parser.unreader.budget = Budget(DRAIN_S)
        return bool(conn.parser.finish_body(deadline=time.monotonic() + DRAIN_S))

    def handle_request(self, req: Any, conn: TConn) -> bool:
        """gthread's ``handle_request`` (gunicorn 27), with the response class of this module."""
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            out = self.outgoing[conn] = Outgoing(conn.sock, self.api.send_timeout_s)
            resp, environ = wsgi.create(req, out, conn.client, conn.server, self.cfg, BannerlessResponse)
            environ["wsgi.multithread"] = True
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()
            if not self.alive or not self.cfg.keepalive or len(self.keepalived_conns) >= self.max_keepalived:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            if resp.should_close():
                return False
        except OSError:
            raise  # the caller tells a gone client from a real error
        except (Exception, SystemExit):
            if resp is not None and resp.headers_sent:
                # Writing an error response into a started one would corrupt it.
                self.log.exception("Error handling request")
                util.close_graceful(conn.sock)
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
        return True


def _peer(conn: TConn) -> str:
    client = conn.client
    return str(client[0]) if isinstance(client, tuple) else str(client)
