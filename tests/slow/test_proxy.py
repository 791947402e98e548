"""Proxy mode (SPEC §13): Elasticsearch and the connector API at one address, through `connector serve`.

The service forwards to a recorder that the test starts: a small HTTP server
that notes each request it receives (method, target, headers, body) and passes
it on to the Elasticsearch-API server, so the checks see exactly what the
proxy sent. It is not a fake of Elasticsearch: every answer comes from the
real server, except two test paths (``/_test/...``) that stream a large or a
compressed response, or take a streamed upload.
"""

from __future__ import annotations

import base64
import gzip
import http.server
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from elasticsearch import Elasticsearch, helpers
from falcon import testing

from api.app import Services, create_app
from connector.es_client import create_client
from connector.security import new_token
from connector.settings import load_settings
from tests.support import LOCAL, ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow

BASE = "/_siren/connector"
SERVICE_ES_PASSWORD = "svc-pw-" + uuid.uuid4().hex[:8]
STREAM_BYTES = 24 * 1024 * 1024
UPLOAD_FIRST = 300 * 1024  # more than the test service's api.max_body_bytes: the rest is streamed


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    upstream: str
    seen: list[Seen] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)  # holds the rest of /_test/stream
    first_part: threading.Event = field(default_factory=threading.Event)  # /_test/upload got its first part
    port: int = 0

    def find(self, marker: str) -> list[Seen]:
        return [s for s in self.seen if s.headers.get("x-opaque-id") == marker]


def _handler(recorder: Recorder) -> type[http.server.BaseHTTPRequestHandler]:
    # The server may close an idle kept-alive connection: retry then, whatever the method.
    pool = urllib3.PoolManager(retries=urllib3.Retry(total=2, allowed_methods=None, redirect=0, raise_on_status=False))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                    if self.path == "/_test/upload":
                        recorder.first_part.set()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self) -> None:
            body = self._body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            recorder.seen.append(Seen(self.command, self.path, headers, body))
            if self.path == "/_test/stream":
                self._stream()
                return
            if self.path == "/_test/gzip":
                payload = gzip.compress(b'{"compressed": true}')
                self._reply(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, payload)
                return
            if self.path == "/_test/broken":
                self.close_connection = True
                self.wfile.write(b"HTTP/1.1 2")  # and nothing more
                return
            if self.path == "/_test/upload":
                self._reply(200, {"Content-Type": "application/json"}, orjson.dumps({"received": len(body)}))
                return
            forwarded = {k: v for k, v in headers.items() if k not in ("host", "transfer-encoding", "connection")}
            upstream = pool.urlopen(
                self.command, recorder.upstream + self.path, body=body or None, headers=forwarded, redirect=False
            )
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
            self._reply(upstream.status, out, upstream.data)

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _stream(self) -> None:
            """STREAM_BYTES in 64 kB chunks; after the first MB, wait for the test to open the gate."""
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = bytes(range(256)) * 256
            for sent in range(0, STREAM_BYTES, len(piece)):
                if sent == 1024 * 1024:
                    recorder.gate.wait(30)
                self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _answer

    return Handler


@pytest.fixture(scope="module")
def recorder(es_url: str) -> Iterator[Recorder]:
    recording = Recorder(es_url)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(recording))
    server.daemon_threads = True
    recording.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recording
    recording.gate.set()
    server.shutdown()
    server.server_close()


@dataclass
class Proxied:
    url: str
    token: str
    proc: ServiceProcess


@pytest.fixture(scope="module")
def proxied(recorder: Recorder, secret_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    token, digest = new_token()
    prefix = f".t{uuid.uuid4().hex[:10]}-"
    port = free_port()
    env = {
        "CONNECTOR_ES_URL": f"http://127.0.0.1:{recorder.port}",
        "CONNECTOR_ES_USERNAME": "service",
        "CONNECTOR_ES_PASSWORD": SERVICE_ES_PASSWORD,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": prefix,
        "CONNECTOR_WORKER_PROCESSES": "0",
        "CONNECTOR_API_ES_PROXY": "true",
        "CONNECTOR_API_GUNICORN_WORKERS": "1",
        "CONNECTOR_API_MAX_BODY_BYTES": "65536",
        "CONNECTOR_AUTH_MODE": "token",
        "CONNECTOR_AUTH_TOKENS": orjson.dumps([{"name": "t", "hash": digest, "scopes": ["admin"]}]).decode(),
    }
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path_factory.mktemp("proxy") / "s.log")
    proc.wait_http(f"http://127.0.0.1:{port}{BASE}/_health")
    yield Proxied(f"http://127.0.0.1:{port}", token, proc)
    assert proc.stop() == 0, proc.output
    assert "Traceback" not in proc.output, proc.output
    es = Elasticsearch(recorder.upstream)
    for name in es.indices.get(index=f"{prefix}*", expand_wildcards="all", allow_no_indices=True):
        es.indices.delete(index=name)
    es.close()


@pytest.fixture
def index_name(es_url: str) -> Iterator[str]:
    name = f"proxied-{uuid.uuid4().hex[:8]}"
    yield name
    urllib3.PoolManager().request("DELETE", f"{es_url}/{name}")


@pytest.fixture
def direct(es_url: str) -> Iterator[Elasticsearch]:
    """A client straight to the Elasticsearch-API server, to check what reached it."""
    client, _ = create_client(load_settings(environ={"CONNECTOR_ES_URL": es_url}).elasticsearch)
    yield client
    client.close()


def test_the_elasticsearch_client_works_through_the_service(
    proxied: Proxied, direct: Elasticsearch, index_name: str
) -> None:
    client, cluster = create_client(load_settings(environ={"CONNECTOR_ES_URL": proxied.url}).elasticsearch)
    try:
        assert cluster.distribution  # GET / answered by the cluster through the service, not the web page
        client.indices.create(index=index_name, mappings={"properties": {"n": {"type": "integer"}}})
        assert client.indices.exists(index=index_name)  # HEAD
        assert not client.indices.exists(index=index_name + "-nope")
        client.index(index=index_name, id="one", document={"n": 1}, refresh=True)
        ok, errors = helpers.bulk(
            client, ({"_index": index_name, "_id": str(i), "n": i} for i in range(2, 302)), refresh=True
        )
        assert (ok, errors) == (300, [])
        assert client.count(index=index_name)["count"] == 301
        hits = client.search(index=index_name, query={"range": {"n": {"gte": 300}}}, sort=["n"])["hits"]["hits"]
        assert [h["_id"] for h in hits] == ["300", "301"]
    finally:
        client.close()
    direct.indices.refresh(index=index_name)
    assert direct.count(index=index_name)["count"] == 301  # the writes reached the cluster
    assert direct.get(index=index_name, id="one")["_source"] == {"n": 1}


def test_connector_endpoints_keep_their_auth_at_the_same_address(proxied: Proxied, recorder: Recorder) -> None:
    marker = uuid.uuid4().hex
    http = urllib3.PoolManager(headers={"X-Opaque-Id": marker})
    bearer = {"Authorization": f"Bearer {proxied.token}", "X-Opaque-Id": marker}
    assert http.request("GET", f"{proxied.url}{BASE}/jobs").status == 401
    ok = http.request("GET", f"{proxied.url}{BASE}/jobs", headers=bearer)
    assert ok.status == 200 and orjson.loads(ok.data)["types"][0]["name"] == "ingestion"
    filtered = http.request("GET", f"{proxied.url}{BASE}/jobs/_search?filter_path=hits.total", headers=bearer)
    assert orjson.loads(filtered.data) == {"hits": {"total": 0}}
    put = http.request(
        "PUT", f"{proxied.url}{BASE}/datasource/p", body=b'{"sql": {"url": "sqlite:///p.db"}}', headers=bearer
    )
    assert put.status == 415  # no Content-Type: the connector API still wants JSON
    assert http.request("GET", f"{proxied.url}/metrics").status == 401
    assert http.request("GET", f"{proxied.url}{BASE}/_health").status == 200
    assert recorder.find(marker) == []  # none of them was forwarded


def test_requests_are_forwarded_unchanged_without_the_services_credentials(
    proxied: Proxied, recorder: Recorder, index_name: str
) -> None:
    marker = uuid.uuid4().hex
    user_auth = "Basic " + base64.b64encode(b"analyst:their-own-pw").decode()
    http = urllib3.PoolManager()
    target = f"/{index_name}/_doc/a%2Fb?refresh=true&pretty"
    resp = http.request(
        "PUT",
        proxied.url + target,
        body=b'{"x": "y"}',
        headers={
            "Authorization": user_auth,
            "X-Opaque-Id": marker,
            "Content-Type": "text/plain",  # the 415 rule is the connector API's, not Elasticsearch's
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "dropped",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "TE": "trailers",
            "X-Custom": "kept",
        },
    )
    assert resp.status == 406, resp.data  # Elasticsearch's own refusal of text/plain, not the connector's 415
    [seen] = recorder.find(marker)
    assert (seen.method, seen.target, seen.body) == ("PUT", target, b'{"x": "y"}')
    assert seen.headers["authorization"] == user_auth
    assert seen.headers["x-custom"] == "kept" and seen.headers["content-type"] == "text/plain"
    assert seen.headers["host"] == f"127.0.0.1:{recorder.port}"
    for hop in ("x-hop", "keep-alive", "proxy-authorization", "te"):
        assert hop not in seen.headers, hop
    # The service's own Elasticsearch credentials never ride along.
    service_auth = "Basic " + base64.b64encode(f"service:{SERVICE_ES_PASSWORD}".encode()).decode()
    assert any(s.headers.get("authorization") == service_auth for s in recorder.seen)  # its own requests
    anonymous = str(uuid.uuid4())
    assert http.request("GET", f"{proxied.url}/_cluster/health", headers={"X-Opaque-Id": anonymous}).status == 200
    [seen] = recorder.find(anonymous)
    assert "authorization" not in seen.headers
    assert SERVICE_ES_PASSWORD not in proxied.proc.output


def test_a_large_response_is_streamed_not_buffered(proxied: Proxied, recorder: Recorder) -> None:
    recorder.gate.clear()
    http = urllib3.PoolManager()
    resp = http.request("GET", f"{proxied.url}/_test/stream", preload_content=False)
    assert resp.status == 200
    first = resp.read(512 * 1024)  # arrives while the upstream holds the rest back
    assert first == (bytes(range(256)) * 2048)
    recorder.gate.set()
    rest = 0
    while chunk := resp.read(1 << 20):  # read() only: mixing it with stream() desynchronises urllib3
        rest += len(chunk)
    assert len(first) + rest == STREAM_BYTES


def test_compressed_bodies_pass_through_as_they_are(proxied: Proxied, recorder: Recorder) -> None:
    http = urllib3.PoolManager()
    resp = http.request("GET", f"{proxied.url}/_test/gzip", headers={"Accept-Encoding": "gzip"}, decode_content=False)
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.data) == b'{"compressed": true}'
    marker = uuid.uuid4().hex
    body = gzip.compress(b'{"query": {"match_all": {}}}')
    sent = http.request(
        "POST",
        f"{proxied.url}/_search",
        body=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json", "X-Opaque-Id": marker},
    )
    assert sent.status < 500
    [seen] = recorder.find(marker)
    assert seen.body == body and seen.headers["content-encoding"] == "gzip"


def test_a_request_body_is_streamed_as_it_arrives(proxied: Proxied, recorder: Recorder) -> None:
    recorder.first_part.clear()

    def body() -> Iterator[bytes]:
        yield b"a" * UPLOAD_FIRST
        # The recorder has the first part before the client sends the rest: nothing waited for the whole.
        assert recorder.first_part.wait(20)
        yield b"b" * 1000

    http = urllib3.PoolManager()
    resp = http.request("POST", f"{proxied.url}/_test/upload", body=body(), chunked=True)
    assert orjson.loads(resp.data) == {"received": UPLOAD_FIRST + 1000}


@pytest.mark.parametrize(
    ("target", "forwarded"),
    [
        ("//_siren/connector/jobs", False),  # falcon's router ignores the extra slash: the connector's
        ("/_siren%2Fconnector/jobs", False),  # decoded before routing: the connector's
        ("/_siren/connector/../../_cluster/health", False),  # under the prefix: never forwarded
        ("/_siren/connector/%2E%2E/%2E%2E/_cluster/health", False),
        ("/metrics", False),
        ("/_SIREN/connector/jobs", True),  # another path: Elasticsearch's (with the caller's credentials)
        ("/x/../_siren/connector/jobs", False),  # dot segments: refused, or urllib3 would resolve them
        ("/x/%2e%2E/_siren/connector/jobs", False),
        ("/_siren/./connector/jobs", False),
        ("/_siren/connectors", True),
    ],
)
def test_paths_cannot_be_smuggled_across_the_boundary(
    proxied: Proxied, recorder: Recorder, target: str, forwarded: bool
) -> None:
    marker = uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", int(proxied.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nX-Opaque-Id: {marker}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    seen = recorder.find(marker)
    if forwarded:
        assert [s.target for s in seen] == [target]
    else:
        assert seen == [], seen
        assert answer.split(b" ", 2)[1] in (b"400", b"401", b"404"), answer[:200]


def test_a_broken_answer_from_elasticsearch_is_a_502(proxied: Proxied) -> None:
    resp = urllib3.PoolManager().request("GET", f"{proxied.url}/_test/broken")
    assert resp.status == 502
    body = orjson.loads(resp.data)
    assert body["error"]["type"] == "bad_gateway_exception"
    assert body["error"]["reason"] == "Elasticsearch is unreachable" and "Traceback" not in proxied.proc.output


def test_a_dead_node_is_skipped_for_a_request_without_a_body(recorder: Recorder, secret_key: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = load_settings(
        environ={
            "CONNECTOR_ES_URL": f"{dead},http://127.0.0.1:{recorder.port}",
            "CONNECTOR_SECRET_KEY": secret_key,
            "CONNECTOR_API_ES_PROXY": "true",
        }
    )
    services = Services(datasources=None, ingestions=None, jobs=None, health=dict)  # type: ignore[arg-type]
    client = testing.TestClient(create_app(settings, services), headers=LOCAL)
    for _ in range(4):  # whichever node the round robin starts with
        resp = client.simulate_get("/_cluster/health")
        assert resp.status_code == 200, resp.text
    resp = client.simulate_post("/_search", body=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status_code in (200, 502)  # a body is never sent twice


def test_connector_mode_without_proxy_does_not_forward(es_url: str, secret_key: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "CONNECTOR_ES_URL": es_url,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": f".t{uuid.uuid4().hex[:10]}-",
        "CONNECTOR_WORKER_PROCESSES": "0",
    }
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "s.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}{BASE}/_health")
        http = urllib3.PoolManager(retries=False)
        for path in ("/_cluster/health", "/_search", "/my-index/_doc/1"):
            resp = http.request("GET", f"http://127.0.0.1:{port}{path}")
            assert resp.status == 404
            assert orjson.loads(resp.data)["error"]["type"] == "resource_not_found_exception"
        root = http.request("GET", f"http://127.0.0.1:{port}/", redirect=False)
        assert root.status == 307 and root.headers["Location"] == "_siren/connector/_ui/"  # the web page
    finally:
        proc.stop()
    wait_until(lambda: proc.process.poll() is not None)


def test_clients_trickling_large_forwarded_bodies_cannot_take_every_thread(proxied: Proxied) -> None:
    """Bodies over api.max_body_bytes are streamed by a thread: at most half the threads may wait on them."""
    port = int(proxied.url.rsplit(":", 1)[1])
    head = (
        b"PUT /trickle/_doc/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n\r\n{"
    )
    attackers = []
    try:
        for _ in range(12):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(head + b" " * 100_000)  # past the 64 kB the loop buffers, then nothing more
            attackers.append(sock)
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert http.request("GET", f"{proxied.url}{BASE}/_health").status == 200
            assert time.monotonic() - started < 1.0
            time.sleep(0.1)
    finally:
        for sock in attackers:
            sock.close()
