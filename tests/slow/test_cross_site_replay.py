"""Third security review: the browser and proxy findings, replayed against a running `connector serve`.

- F1: proxy mode answered 502/504 with the node's URL, ``user:password@``
  included, to callers without credentials.
- F2: a POST without a body (an empty form, ``fetch(..., {mode: "no-cors"})``)
  passed the 415 rule, so a page of another site could start and abort runs
  of a service under ``auth.mode = none`` (or basic credentials the browser
  held).
- DNS rebinding: under ``auth.mode = none`` the service answered any
  ``Host``, so a page whose name was rebound to 127.0.0.1 was same-origin.

Each request is sent as the browser sends it (headers included); the web
page itself (same-origin) and programs (no Origin, no Sec-Fetch-Site) keep
working.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import urllib3

from api.dev_stack import EmbeddedSearch
from tests.conftest import Database
from tests.support import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow

BASE = "/_siren/connector"


def _serve(env: dict[str, str], tmp_path: Path, name: str) -> tuple[ServiceProcess, str]:
    port = free_port()
    process = ServiceProcess(["serve"], {**env, "CONNECTOR_BIND": f"127.0.0.1:{port}"}, tmp_path / f"{name}.log")
    base = f"http://127.0.0.1:{port}"
    process.wait_http(f"{base}{BASE}/_health")
    return process, base


@pytest.fixture
def open_service(
    es_url: str, secret_key: str, tmp_path: Path, pg: Database, target_prefix: str
) -> Iterator[tuple[str, urllib3.PoolManager]]:
    """`connector serve` under auth.mode none (loopback), with a datasource and an ingestion."""
    tag = f"x{uuid.uuid4().hex[:10]}"
    env = {
        "CONNECTOR_ES_URL": es_url,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": f".{tag}-s-",
        "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
    }
    pg.execute("CREATE TABLE victim AS SELECT g AS id FROM generate_series(1, 10) g")
    process, base = _serve(env, tmp_path, "open")
    http = urllib3.PoolManager()
    json = {"Content-Type": "application/json"}
    for path, body in (
        ("/datasource/db", {"jdbc": {"url": pg.jdbc_url}}),
        ("/ingestion/victim", {"ingest": {"datasource": "db", "query": "SELECT id FROM victim",
                                          "target": f"{target_prefix}victim", "pk_field": "id"}}),
    ):  # fmt: skip
        resp = http.request("PUT", f"{base}{BASE}{path}", body=orjson.dumps(body), headers=json)
        assert resp.status in (200, 201), resp.data
    try:
        yield base, http
    finally:
        process.stop()


def _never_ran(base: str, http: urllib3.PoolManager) -> bool:
    resp = http.request("GET", f"{base}{BASE}/jobs/ingestion/victim")
    return resp.status == 404 or orjson.loads(resp.data).get("found") is False


# The headers Chromium sends with an empty cross-site form POST and with a body-less no-cors fetch.
CROSS_SITE_FORM = {
    "Origin": "http://evil.example",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Content-Type": "application/x-www-form-urlencoded",
    "Content-Length": "0",
}
NO_CORS_FETCH = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
# An older browser: no Sec-Fetch-* headers, only Origin.
ORIGIN_ONLY = {"Origin": "http://evil.example"}


@pytest.mark.parametrize("headers", [CROSS_SITE_FORM, NO_CORS_FETCH, ORIGIN_ONLY], ids=["form", "no-cors", "origin"])
@pytest.mark.parametrize("path", ["/ingestion/victim/_run?allow_large=true", "/jobs/ingestion/victim/_abort"])
def test_f2_a_page_of_another_site_cannot_start_or_abort_runs_without_a_body(
    open_service: tuple[str, urllib3.PoolManager], headers: dict[str, str], path: str
) -> None:
    base, http = open_service
    resp = http.request("POST", f"{base}{BASE}{path}", headers=headers)
    assert resp.status == 403, resp.data
    error = orjson.loads(resp.data)["error"]
    assert "cross-" in error["reason"], error
    assert _never_ran(base, http)


def test_f2_the_page_itself_and_programs_still_can(open_service: tuple[str, urllib3.PoolManager]) -> None:
    base, http = open_service
    # What the web page sends (same origin), then what curl sends (neither header, no body).
    same_origin = {"Origin": base, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
    resp = http.request("POST", f"{base}{BASE}/ingestion/victim/_validate", headers=same_origin, body=b"{}")
    assert resp.status == 200, resp.data
    resp = http.request("POST", f"{base}{BASE}/ingestion/victim/_run")
    assert resp.status == 202, resp.data
    ended = wait_until(
        lambda: (
            (s := orjson.loads(http.request("GET", f"{base}{BASE}/jobs/ingestion/victim").data)["status"])["state"]
            in ("successful", "error")
            and s
        ),
        timeout=60,
        what="the run",
    )
    assert ended["state"] == "successful" and ended["count"] == 10, ended


def test_dns_rebinding_a_foreign_host_name_is_not_answered_without_auth(
    open_service: tuple[str, urllib3.PoolManager],
) -> None:
    base, http = open_service
    # Same-origin for the browser (the page's own name, rebound to 127.0.0.1): no Origin check can help.
    rebound = {"Host": "evil.example:80", "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
    resp = http.request("POST", f"{base}{BASE}/datasource/db/_sample", headers=rebound, body=b'{"query": "SELECT 1"}')
    assert resp.status == 403, resp.data
    assert "Host" in orjson.loads(resp.data)["error"]["reason"]
    resp = http.request("GET", f"{base}{BASE}/datasource/db", headers={"Host": "evil.example"})
    assert resp.status == 403
    for host in ("localhost", "127.0.0.1", "app.localhost", "[::1]"):
        resp = http.request("GET", f"{base}{BASE}/_health", headers={"Host": host})
        assert resp.status == 200, (host, resp.data)


def test_f1_proxy_errors_never_show_the_nodes_credentials(secret_key: str, tmp_path: Path) -> None:
    search = EmbeddedSearch.start()
    node = search.url.replace("http://", "http://elastic:Sup3rSecretEsPw@")
    env = {
        "CONNECTOR_ES_URL": node,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": f".p{uuid.uuid4().hex[:10]}-s-",
        "CONNECTOR_API_ES_PROXY": "true",
        "CONNECTOR_API_ES_PROXY_TIMEOUT_S": "1",
    }
    process, base = _serve(env, tmp_path, "proxy")
    http = urllib3.PoolManager(retries=False)
    try:
        search.process.send_signal(signal.SIGSTOP)  # the node stops answering: 504
        try:
            slow = http.request("GET", f"{base}/_cat/indices", timeout=30)
        finally:
            search.process.send_signal(signal.SIGCONT)
        search.stop()  # the node is gone: 502
        gone = http.request("GET", f"{base}/_cat/indices", timeout=30)
    finally:
        process.stop()
        search.stop()
    assert (slow.status, gone.status) == (504, 502), (slow.data, gone.data)
    for resp in (slow, gone):
        text = resp.data.decode()
        assert "Sup3rSecretEsPw" not in text and "elastic:" not in text and "127.0.0.1" not in text, text
    assert "Sup3rSecretEsPw" not in process.output


def test_f8_an_id_with_a_trailing_newline_is_refused(open_service: tuple[str, urllib3.PoolManager]) -> None:
    base, http = open_service
    for path in ("/ingestion/victim%0A", "/datasource/db%0A"):
        resp = http.request("PUT", f"{base}{BASE}{path}", body=b"{}", headers={"Content-Type": "application/json"})
        assert resp.status == 400, (path, resp.data)
        assert orjson.loads(resp.data)["error"]["type"] == "validation_exception"


def test_f9_a_page_far_past_the_result_window_is_refused_at_once(
    open_service: tuple[str, urllib3.PoolManager],
) -> None:
    base, http = open_service
    resp = http.request("GET", f"{base}{BASE}/jobs/_search?from=2000000000")
    assert resp.status == 400, resp.data
    error = orjson.loads(resp.data)["error"]
    assert error["invalid"][0]["entry"] == "from" and "narrow the filters" in error["reason"], error
