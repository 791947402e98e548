"""The OpenAPI document: valid OpenAPI 3.1, served without credentials, and equal to the routes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import falcon
import pytest
from falcon import testing
from openapi_spec_validator import OpenAPIV31SpecValidator

from api import params
from api.app import BASE, Services, create_app
from api.auth import ANY_SCOPE
from api.openapi import build_spec
from api.operations import ROUTES
from api.params import COMMON_PARAMS
from api.resources import datasources, health, ingestions, jobs, whoami
from api.resources import openapi as openapi_resource
from api.ui import resources as ui_resources
from connector.settings import load_settings
from tests.support import LOCAL

pytestmark = pytest.mark.api

SPEC_PATH = f"{BASE}/_openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def registered_routes(app: falcon.App[Any, Any]) -> dict[str, tuple[object, set[str]]]:
    """Every route template ``create_app`` added, with its resource and the methods it answers."""
    found: dict[str, tuple[object, set[str]]] = {}

    def walk(nodes: Iterable[Any]) -> None:
        for node in nodes:
            if node.resource is not None:
                methods = {m for m in node.method_map if hasattr(node.resource, f"on_{m.lower()}")}
                found[node.uri_template] = (node.resource, methods)
            walk(node.children)

    walk(app._router._roots)
    return found


def offline_app(**environ: str) -> falcon.App[Any, Any]:
    """The app without any store: what needs no Elasticsearch must work with it."""
    settings = load_settings(environ={"CONNECTOR_ES_URL": "http://127.0.0.1:9", **environ})
    services = Services(datasources=None, ingestions=None, jobs=None, health=dict)  # type: ignore[arg-type]
    return create_app(settings, services)


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = build_spec(base=BASE)
    OpenAPIV31SpecValidator(spec).validate()
    assert spec["openapi"].startswith("3.1")


def test_routes_equal_the_documented_paths_and_methods() -> None:
    spec = build_spec(base=BASE)
    routes = registered_routes(offline_app())
    documented = {path: {m.upper() for m in item if m in METHODS} for path, item in spec["paths"].items()}
    assert {path: methods for path, (_, methods) in routes.items()} == documented
    by_path = {route.path(BASE): route for route in ROUTES}
    for path, (resource, _) in routes.items():
        assert type(resource) is by_path[path].resource, path


def test_every_operation_documents_its_scope_and_errors() -> None:
    spec = build_spec(base=BASE)
    for route in ROUTES:
        item = spec["paths"][route.path(BASE)]
        for method in route.ops:
            op = item[method.lower()]
            if getattr(route.resource, "public", False):
                assert op["security"] == []
                assert "401" not in op["responses"]
            else:
                scope = route.resource.scopes[method]
                roles = [] if scope == ANY_SCOPE else [scope]  # any authenticated caller: no role needed
                assert op["security"] == [{"bearerAuth": roles}, {"basicAuth": roles}]
                assert {"400", "401", "403"} <= set(op["responses"])
            for status, response in op["responses"].items():
                if int(status) >= 400 and "$ref" in response:
                    assert response["$ref"].startswith("#/components/responses/")


def _value(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return str(schema["enum"][0])
    return {"boolean": "true", "integer": "1"}.get(schema.get("type", ""), "x")


def _requests(spec: dict[str, Any]) -> Iterable[tuple[str, str, list[dict[str, Any]]]]:
    for path, item in spec["paths"].items():
        concrete = path
        for param in item.get("parameters", []):
            concrete = concrete.replace(f"{{{param['name']}}}", _value(param["schema"]) or "x")
        for method, op in item.items():
            if method in METHODS:
                query = [p for p in op.get("parameters", []) if p["in"] == "query"]
                yield method.upper(), concrete, query


def _unknown_parameter(resp: testing.Result) -> str | None:
    if resp.status_code != 400:
        return None
    invalid = resp.json["error"]["invalid"]
    rules = [rule["rule"] for entry in invalid for rule in entry["rules"]]
    return invalid[0]["entry"] if "unknown_parameter" in rules else None


def test_documented_query_parameters_are_the_accepted_ones(api: testing.TestClient) -> None:
    """Each documented parameter is accepted; any other (even one documented elsewhere) is refused."""
    spec = build_spec(base=BASE)
    requests = list(_requests(spec))
    known = {p["name"]: p["schema"] for _, _, query in requests for p in query} | {"undocumented": {}}
    for method, path, query in requests:
        documented = {p["name"] for p in query}
        for name, schema in known.items():
            resp = api.simulate_request(method, path, params={name: _value(schema)})
            if name in documented or name in COMMON_PARAMS:
                assert _unknown_parameter(resp) is None, (method, path, name, resp.text)
            elif path != "/metrics":  # it takes no parameters and ignores them, as Prometheus scrapers expect
                assert _unknown_parameter(resp) == name, (method, path, name, resp.text)


def test_documented_query_parameters_are_exactly_what_each_resource_checks(
    api: testing.TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[frozenset[str]] = []

    def spy(req: falcon.Request, allowed: Iterable[str]) -> None:
        checked.append(frozenset(allowed))
        params.check_params(req, allowed)

    for module in (datasources, ingestions, jobs, health, openapi_resource, whoami, ui_resources):
        monkeypatch.setattr(module, "check_params", spy)
    for method, path, query in _requests(build_spec(base=BASE)):
        checked.clear()
        # Any parameter makes POST /jobs/_search read the query string rather than the body.
        api.simulate_request(method, path, params={"pretty": "true"})
        accepted = set(checked[0]) if checked else set()
        assert accepted - COMMON_PARAMS == {p["name"] for p in query} - COMMON_PARAMS, (method, path)


def test_served_without_credentials_and_without_elasticsearch() -> None:
    client = testing.TestClient(
        offline_app(CONNECTOR_AUTH_MODE="token", CONNECTOR_API_MAX_PAGE_SIZE="50"), headers=LOCAL
    )
    served = client.simulate_get(SPEC_PATH)
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.headers.get("x-request-id")
    assert served.json == build_spec(base=BASE, api=load_settings(environ={"CONNECTOR_API_MAX_PAGE_SIZE": "50"}).api)
    size = next(p for p in served.json["paths"][f"{BASE}/jobs/_search"]["get"]["parameters"] if p["name"] == "size")
    assert size["schema"]["maximum"] == 50
    assert client.simulate_get(f"{BASE}/jobs").status_code == 401
