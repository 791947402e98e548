"""The HTTP edge through the app: media types, response headers, metric labels, ES response parameters, health."""

from __future__ import annotations

import random
import string
from typing import Any

import orjson
import pytest
from falcon import testing
from prometheus_client import REGISTRY

from api.app import create_app
from api.middleware import REQUESTS
from api.proxy import forwarded
from connector.security import new_token
from connector.settings import load_settings
from tests.support import assert_error

pytestmark = pytest.mark.api

BASE = "/_siren/connector"
SAMPLE = orjson.dumps({"query": "SELECT 1 AS x"})


# ---------------------------------------------------------------- 415


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json-patch+json",
        "application/json, text/plain",
        "text/plain; type=application/json",
        "",
        " ",
    ],
)
def test_bodies_not_declared_json_are_415_before_anything_runs(
    api: testing.TestClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    for method, path in [
        ("POST", f"{BASE}/datasource/nope/_sample"),
        ("POST", f"{BASE}/ingestion/nope/_run"),
        ("PUT", f"{BASE}/datasource/created-by-a-form"),
        ("GET", f"{BASE}/jobs"),
        ("POST", f"{BASE}/no/such/route"),
    ]:
        body = b'{"sql": {"url": "sqlite:///x.db"}}' if method == "PUT" else SAMPLE
        resp = api.simulate_request(method, path, body=body, headers=headers)
        error = assert_error(resp, 415, "media_type_exception")
        assert "application/json" in error["reason"]
    assert api.simulate_get(f"{BASE}/datasource/created-by-a-form").status_code == 404


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.elasticsearch+json; compatible-with=8",
    ],
)
def test_json_bodies_are_accepted(api: testing.TestClient, content_type: str) -> None:
    resp = api.simulate_post(f"{BASE}/jobs/_search", body=b'{"size": 1}', headers={"Content-Type": content_type})
    assert resp.status_code == 200, resp.text


def test_a_chunked_body_needs_a_json_type_too(api: testing.TestClient) -> None:
    resp = api.simulate_post(
        f"{BASE}/jobs/_search", body=b"", headers={"Transfer-Encoding": "chunked", "Content-Type": "text/plain"}
    )
    assert_error(resp, 415, "media_type_exception")


def test_requests_without_a_body_need_no_type(api: testing.TestClient) -> None:
    assert api.simulate_get(f"{BASE}/jobs").status_code == 200
    assert api.simulate_post(f"{BASE}/jobs/_search", headers={"Content-Length": "0"}).status_code == 200


# ---------------------------------------------------------------- response headers


def test_every_response_has_the_security_headers(api: testing.TestClient) -> None:
    for resp in [
        api.simulate_get(f"{BASE}/jobs"),
        api.simulate_get(f"{BASE}/jobs/ingestion/nope"),
        api.simulate_get("/nowhere"),
        api.simulate_post(f"{BASE}/jobs/_search", body=b"{", headers={"Content-Type": "application/json"}),
        api.simulate_post(f"{BASE}/jobs/_search", body=b"{}", headers={"Content-Type": "text/plain"}),
        api.simulate_get(f"{BASE}/_openapi.json"),
        api.simulate_get(f"{BASE}/_health"),
        api.simulate_get("/metrics"),
    ]:
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["cache-control"] == "no-store"
        assert "server" not in resp.headers


# ---------------------------------------------------------------- metric labels


def _series() -> set[tuple[str, ...]]:
    return {
        (sample.labels["method"], sample.labels["route"])
        for metric in REGISTRY.collect()
        if metric.name == "connector_http_requests"
        for sample in metric.samples
    }


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")  # the test client's validator dislikes them
def test_metric_labels_stay_bounded_whatever_the_method_and_path(api: testing.TestClient) -> None:
    rng = random.Random(11)
    for _ in range(300):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        path = "/" + "".join(rng.choices(string.ascii_lowercase + "/_", k=rng.randint(1, 30)))
        api.simulate_request(method, path)
        api.simulate_request(method, f"{BASE}/jobs")
    labels = _series()
    methods = {method for method, _ in labels}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "other"}
    assert ("other", "unmatched") in labels
    assert ("other", f"{BASE}/jobs") in labels
    routes = {route for _, route in labels}
    # Route templates ("/" is the web page's redirect), or the two fixed values.
    assert all(route in ("unmatched", "proxy", "/") or route.startswith((BASE, "/metrics")) for route in routes), routes
    assert REQUESTS  # the counter the labels belong to


# ---------------------------------------------------------------- Elasticsearch response parameters


def test_filter_path_on_search(api: testing.TestClient) -> None:
    assert api.simulate_get(f"{BASE}/jobs/_search", params={"filter_path": "hits.total"}).json == {"hits": {"total": 0}}
    resp = api.simulate_post(
        f"{BASE}/jobs/_search",
        params={"filter_path": "-hits.hits"},
    )
    assert resp.json == {"hits": {"total": 0}}
    assert api.simulate_get(f"{BASE}/jobs", params={"filter_path": "types.name"}).json == {
        "types": [{"name": "ingestion"}]
    }
    assert api.simulate_get(f"{BASE}/jobs", params={"filter_path": "nothing"}).json == {}


def test_filter_path_leaves_errors_whole_and_pretty_indents(api: testing.TestClient) -> None:
    missing = api.simulate_get(f"{BASE}/datasource/nope", params={"filter_path": "found"})
    assert_error(missing, 404, "resource_not_found_exception")
    pretty = api.simulate_get(f"{BASE}/jobs", params={"filter_path": "types.name", "pretty": ""})
    assert pretty.text == '{\n  "types": [\n    {\n      "name": "ingestion"\n    }\n  ]\n}'


@pytest.mark.parametrize("name", ["human", "error_trace", "pretty", "filter_path"])
def test_es_parameters_are_accepted_everywhere(api: testing.TestClient, name: str) -> None:
    for method, path in [("GET", f"{BASE}/jobs"), ("GET", f"{BASE}/datasource/_search"), ("GET", f"{BASE}/_health")]:
        resp = api.simulate_request(method, path, params={name: "true"})
        assert resp.status_code == 200, (path, resp.text)


def test_a_too_complex_filter_path_refuses_the_request_before_it_runs(api: testing.TestClient) -> None:
    text = ",".join(f"f{i}" for i in range(400))
    resp = api.simulate_put(
        f"{BASE}/datasource/never", params={"filter_path": text}, json={"sql": {"url": "sqlite:///x.db"}}
    )
    assert_error(resp, 400, "validation_exception", entry="filter_path")
    assert api.simulate_get(f"{BASE}/datasource/never").status_code == 404


# ---------------------------------------------------------------- _health details


def _health(client: testing.TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = client.simulate_get(f"{BASE}/_health", headers=headers or {})
    assert resp.status_code == 200, resp.text
    return dict(resp.json)


def test_health_shows_versions_only_to_an_authenticated_caller(runtime, settings_env: dict[str, str]) -> None:
    token, digest = new_token()
    settings = load_settings(
        environ={
            **settings_env,
            "CONNECTOR_AUTH_MODE": "token",
            "CONNECTOR_AUTH_TOKENS": orjson.dumps([{"name": "r", "hash": digest, "scopes": ["job:read"]}]).decode(),
        }
    )
    client = testing.TestClient(create_app(settings, runtime.services()))
    assert _health(client) == {"status": "green"}
    assert _health(client, {"Authorization": "Bearer cst_wrong"}) == {"status": "green"}
    full = _health(client, {"Authorization": f"Bearer {token}"})
    assert full["elasticsearch"]["version"] and full["elasticsearch"]["distribution"]
    assert "compatibility_mode" in full["elasticsearch"]


def test_health_in_auth_mode_none_shows_everything(api: testing.TestClient) -> None:
    assert "version" in _health(api)["elasticsearch"]


# ---------------------------------------------------------------- proxy mode: which paths are Elasticsearch's


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", True),
        ("/_search", True),
        ("/my-index/_doc/1", True),
        ("/_siren/connectors", True),
        ("/_SIREN/connector/jobs", True),
        ("/metricsx", True),
        ("/_siren/connector", False),
        ("/_siren/connector/jobs", False),
        ("//_siren/connector/jobs", False),  # falcon's router ignores leading slashes: so does the rule
        ("///metrics", False),
        ("/metrics", False),
        ("/metrics/", False),
        ("/_siren/connector\n", True),  # not the connector's ("$" would have matched before the newline)
    ],
)
def test_forwarded_paths(path: str, expected: bool) -> None:
    assert forwarded(path) is expected


def test_proxy_mode_keeps_the_connector_rules_on_every_path_the_router_gives_it(
    runtime, settings_env: dict[str, str]
) -> None:
    settings = load_settings(environ={**settings_env, "CONNECTOR_API_ES_PROXY": "true"})
    client = testing.TestClient(create_app(settings, runtime.services()))
    for path in (f"{BASE}/jobs/_search", f"/{BASE}/jobs/_search", f"//{BASE}/jobs/_search"):
        resp = client.simulate_post(path, body=b"{}", headers={"Content-Type": "text/plain"})
        assert_error(resp, 415, "media_type_exception")
        filtered = client.simulate_get(path, params={"filter_path": "hits.total"})
        assert filtered.json == {"hits": {"total": 0}}, (path, filtered.text)
