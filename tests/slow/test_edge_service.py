"""SPEC §14 attacks on the HTTP edge, replayed against a running `connector serve` (issue 11).

One service (auth.mode none, one API worker with two threads, short read and
send timeouts, no worker processes) serves the module; the attacks run from
raw sockets, the victims' requests with urllib3.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import string
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3

from connector.es_client import create_client
from connector.security import new_token
from connector.settings import load_settings
from tests.support import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow

BASE = "/_siren/connector"
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.5
SEND_TIMEOUT_S = 1.0


class Service:
    def __init__(self, proc: ServiceProcess, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=10))

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> urllib3.BaseHTTPResponse:
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        if data is not None and not isinstance(body, bytes):
            headers.setdefault("Content-Type", "application/json")
        return self.http.request(method, self.url + path, body=data, headers=headers)

    def json(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        resp = self.request(method, path, body, **headers)
        return resp.status, orjson.loads(resp.data) if resp.data else None


def _start(env: dict[str, str], log: Path) -> Service:
    port = free_port()
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, log)
    proc.wait_http(f"http://127.0.0.1:{port}{BASE}/_health")
    return Service(proc, port)


@pytest.fixture(scope="module")
def service_env(es_url: str, secret_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    prefix = f".t{uuid.uuid4().hex[:10]}-"
    yield {
        "CONNECTOR_SQL_SQLITE_ROOTS": orjson.dumps([str(tmp_path_factory.getbasetemp())]).decode(),
        "CONNECTOR_ES_URL": es_url,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": prefix,
        "CONNECTOR_WORKER_PROCESSES": "0",
        "CONNECTOR_API_GUNICORN_WORKERS": "1",
        "CONNECTOR_API_GUNICORN_THREADS": "2",
        "CONNECTOR_API_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "CONNECTOR_API_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "CONNECTOR_API_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
    }
    es, _ = create_client(load_settings(environ={"CONNECTOR_ES_URL": es_url}).elasticsearch)
    for name in es.indices.get(index=f"{prefix}*", expand_wildcards="all", allow_no_indices=True):
        es.indices.delete(index=name)
    es.close()


@pytest.fixture(scope="module")
def service(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = _start(service_env, tmp_path_factory.mktemp("edge") / "serve.log")
    yield running
    assert running.proc.stop() == 0, running.proc.output
    assert "Traceback" not in running.proc.output, running.proc.output


def _health_latencies(service: Service, seconds: float) -> list[float]:
    """Probe `_health` every 0.1 s for ``seconds``; a probe that fails counts as 10 s."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            ok = service.request("GET", f"{BASE}/_health").status == 200
        except urllib3.exceptions.HTTPError:
            ok = False
        latencies.append(time.monotonic() - started if ok else 10.0)
        time.sleep(0.1)
    return latencies


def _attack(
    service: Service, first: bytes, then: bytes, *, sockets: int, every_s: float, seconds: float
) -> list[bytes]:
    """``sockets`` clients send ``first``, then ``then`` every ``every_s`` (reconnecting when cut off)."""
    answers: list[bytes] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop:
            with socket.create_connection(("127.0.0.1", service.port)) as sock:
                sock.sendall(first)
                sock.settimeout(every_s)
                try:
                    while time.monotonic() < stop:
                        try:
                            answer = sock.recv(4096)
                        except TimeoutError:
                            sock.sendall(then)
                            continue
                        answers.append(answer)
                        break
                except OSError:
                    answers.append(b"<reset>")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(sockets)]
    for thread in threads:
        thread.start()
    try:
        latencies = _health_latencies(service, seconds)
    finally:
        for thread in threads:
            thread.join(seconds + 5)
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    return answers


# ---------------------------------------------------------------- slow clients (issue 11 item 7)


def test_slow_header_lines_cannot_take_the_api_down(service: Service) -> None:
    answers = _attack(
        service,
        f"GET {BASE}/_health HTTP/1.1\r\nHost: localhost\r\n".encode(),
        b"X-Slow: 1\r\n",
        sockets=16,
        every_s=0.3,
        seconds=4,
    )
    assert any(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[:3]
    assert all(b"Server:" not in a for a in answers)


def test_a_dribbled_body_cannot_take_the_api_down(service: Service) -> None:
    head = (
        f"PUT {BASE}/datasource/slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    answers = _attack(service, head.encode(), b" ", sockets=16, every_s=0.3, seconds=4)
    assert any(a.startswith(b"HTTP/1.1 408 ") and b"timeout_exception" in a for a in answers), answers[:3]
    assert service.request("GET", f"{BASE}/datasource/slow").status == 404


def test_clients_that_do_not_read_their_responses_cannot_take_the_api_down(service: Service) -> None:
    pipelined = f"GET {BASE}/_openapi.json?pretty HTTP/1.1\r\nHost: localhost\r\n\r\n".encode() * 100
    readers = []
    for _ in range(16):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        sock.connect(("127.0.0.1", service.port))
        sock.sendall(pipelined)
        readers.append(sock)
    try:
        latencies = _health_latencies(service, 3)
        assert max(latencies) < 1.0, sorted(latencies)[-5:]
        # The service gives up on each of them once its send budget is spent.
        wait_until(lambda: service.proc.output.count("did not read its response") >= 16, timeout=30)
    finally:
        for sock in readers:
            sock.close()


# ---------------------------------------------------------------- request bodies must be JSON (item 2)


def test_text_plain_bodies_are_refused_and_run_nothing(service: Service, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    status, _ = service.json("PUT", f"{BASE}/datasource/cs", {"sql": {"url": f"sqlite:///{db}"}})
    assert status == 201
    ingest = {"datasource": "cs", "query": "SELECT 1 AS id", "target": "cross-site", "pk_field": "id"}
    status, _ = service.json("PUT", f"{BASE}/ingestion/cs-run", {"ingest": {**ingest, "strategy": "REPLACE"}})
    assert status == 201
    # What a web page can send without a CORS preflight: text/plain, a form, or no type at all.
    for content_type in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        for path, body in [
            (f"{BASE}/ingestion/cs-run/_run", {"params": {}}),
            (f"{BASE}/datasource/cs/_sample", {"query": "SELECT 1 AS x", "size": 1}),
            (f"{BASE}/datasource/cs/_validate", {"sql": {"url": f"sqlite:///{tmp_path}/made.db"}}),
        ]:
            resp = service.request("POST", path, orjson.dumps(body), **headers)
            assert resp.status == 415, (path, content_type, resp.data)
            assert orjson.loads(resp.data)["error"]["type"] == "media_type_exception"
    status, envelope = service.json("GET", f"{BASE}/jobs/ingestion/cs-run")
    assert (status, envelope["found"]) == (404, False)  # no run was queued
    assert not (tmp_path / "made.db").exists()


# ---------------------------------------------------------------- response headers, banner, access log (item 10)


def test_responses_carry_the_security_headers_and_no_banner(service: Service) -> None:
    responses = [
        service.request("GET", f"{BASE}/_health"),
        service.request("GET", f"{BASE}/jobs"),
        service.request("GET", f"{BASE}/nowhere"),
        service.request("GET", "/metrics"),
        service.request("POST", f"{BASE}/jobs/_search", b"{}", **{"Content-Type": "text/plain"}),
    ]
    for resp in responses:
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "no-store"
        assert "Server" not in resp.headers
    with socket.create_connection(("127.0.0.1", service.port)) as sock:  # a request gunicorn itself refuses
        sock.sendall(b"GET /<script> HTTP/1.1 junk\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nX-Content-Type-Options: nosniff\r\n" in answer and b"Server:" not in answer
    assert b"application/json" in answer and b"<html>" not in answer


def test_secrets_in_a_request_line_are_masked_in_the_access_log(service: Service, tmp_path: Path) -> None:
    secret = "Zq7-" + uuid.uuid4().hex[:12]
    body = {"sql": {"url": f"sqlite:///{tmp_path}/s.db", "password": secret}}
    assert service.json("PUT", f"{BASE}/datasource/with-secret", body)[0] == 201
    assert service.request("GET", f"{BASE}/datasource/{secret}").status == 404
    assert service.request("GET", f"{BASE}/jobs?password=hunter2-{secret[4:]}").status == 400
    assert service.request("GET", f"{BASE}/jobs?x=1&pwd=letmein-{secret[4:]}").status == 400
    wait_until(lambda: service.proc.output.count(" 400 ") >= 2, what="the access log lines")
    log = service.proc.output
    assert secret not in log and secret[4:] not in log, log[-2000:]
    assert f"GET {BASE}/datasource/***** HTTP/1.1" in log
    assert "password=*****" in log


# ---------------------------------------------------------------- metric labels (item 9)


def test_random_methods_do_not_grow_the_metrics(service: Service) -> None:
    rng = random.Random(9)
    for _ in range(200):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 10)))
        with socket.create_connection(("127.0.0.1", service.port)) as sock:
            sock.sendall(f"{method} {BASE}/jobs/{rng.randint(0, 10**6)} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            sock.recv(4096)
    text = service.request("GET", "/metrics").data.decode()
    methods = set(re.findall(r'^connector_http_requests_total\{method="([^"]*)"', text, re.M))
    routes = set(re.findall(r'^connector_http_requests_total\{[^}]*route="([^"]*)"', text, re.M))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "other"}, methods
    assert "other" in methods
    assert all(r in ("unmatched", "/") or r.startswith((BASE, "/metrics")) for r in routes), routes


# ---------------------------------------------------------------- _health (item 10, issue 14)


def test_health_answers_503_quickly_while_elasticsearch_is_stalled(service: Service, es_process: int) -> None:
    os.kill(es_process, signal.SIGSTOP)
    try:
        started = time.monotonic()
        resp = service.request("GET", f"{BASE}/_health")
        took = time.monotonic() - started
    finally:
        os.kill(es_process, signal.SIGCONT)
    assert resp.status == 503, resp.data
    assert took < 3.5, took
    assert orjson.loads(resp.data)["status"] == "red"
    wait_until(lambda: service.request("GET", f"{BASE}/_health").status == 200, what="health to recover")


def test_health_shows_versions_only_to_authenticated_callers(service_env: dict[str, str], tmp_path: Path) -> None:
    token, digest = new_token()
    env = {
        **service_env,
        "CONNECTOR_AUTH_MODE": "token",
        "CONNECTOR_AUTH_TOKENS": orjson.dumps([{"name": "ops", "hash": digest, "scopes": ["job:read"]}]).decode(),
    }
    secured = _start(env, tmp_path / "secured.log")
    try:
        for headers in ({}, {"Authorization": "Bearer cst_not-a-token"}, {"Authorization": "Basic eDp5"}):
            status, body = secured.json("GET", f"{BASE}/_health", **headers)
            assert (status, body) == (200, {"status": "green"})
        status, body = secured.json("GET", f"{BASE}/_health", Authorization=f"Bearer {token}")
        assert status == 200
        assert {"distribution", "version", "compatibility_mode"} <= set(body["elasticsearch"])
        assert secured.request("GET", f"{BASE}/jobs").status == 401
    finally:
        assert secured.proc.stop() == 0, secured.proc.output
