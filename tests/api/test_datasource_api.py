"""Datasource API through the falcon TestClient, stored in the real Elasticsearch-API server."""

from __future__ import annotations

import pytest
from falcon import testing

from tests.support import assert_error

pytestmark = pytest.mark.api

DS = "/_siren/connector/datasource"


@pytest.fixture
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory under the tests' sql.sqlite_roots."""
    return str(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture
def sqlite_body(sqlite_dir: str) -> dict[str, dict[str, str]]:
    return {
        "jdbc": {"driver": "org.sqlite.JDBC", "url": f"jdbc:sqlite:{sqlite_dir}/none.db", "timezone": "Europe/Paris"}
    }


def test_crud_round_trip(api: testing.TestClient, sqlite_body: dict[str, dict[str, str]]) -> None:
    created = api.simulate_put(f"{DS}/events", json=sqlite_body)
    assert created.status_code == 201
    assert created.json == {"_id": "events", "result": "created"}
    got = api.simulate_get(f"{DS}/events")
    assert got.status_code == 200
    assert got.json == {"_id": "events", "found": True, "_source": sqlite_body}
    deleted = api.simulate_delete(f"{DS}/events")
    assert deleted.json == {"_id": "events", "result": "deleted"}
    assert_error(api.simulate_get(f"{DS}/events"), 404, "resource_not_found_exception")


def test_put_existing_needs_overwrite(
    api: testing.TestClient,
    sqlite_body: dict[str, dict[str, str]],
    sqlite_dir: str,
) -> None:
    api.simulate_put(f"{DS}/a", json=sqlite_body)
    assert_error(api.simulate_put(f"{DS}/a", json=sqlite_body), 409, "resource_already_exists_exception")
    other = {"sql": {"url": f"sqlite:///{sqlite_dir}/other.db"}}
    updated = api.simulate_put(f"{DS}/a", json=other, params={"overwrite": "true"})
    assert updated.status_code == 200
    assert updated.json["result"] == "updated"
    assert api.simulate_get(f"{DS}/a").json["_source"] == other


def test_update_without_password_keeps_the_stored_one_for_the_same_server(api: testing.TestClient, runtime) -> None:
    body = {"sql": {"url": "postgresql+psycopg://h/db", "username": "u", "password": "Keep-Me-9"}}
    api.simulate_put(f"{DS}/p", json=body)
    stored_before = runtime.datasource_store.get("p").password
    same_server = {"sql": {"url": "postgresql+psycopg://h/db", "username": "u", "timezone": "Europe/Paris"}}
    api.simulate_put(f"{DS}/p", json=same_server, params={"overwrite": "true"})
    after = runtime.datasource_store.get("p")
    assert after.timezone == "Europe/Paris"
    assert after.password == stored_before
    assert runtime.box.decrypt(after.password) == "Keep-Me-9"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://h2/db",  # another host
        "postgresql+psycopg://h:5433/db",  # another port
        "postgresql+psycopg://h/other",  # another database
        "mysql+pymysql://h/db",  # another kind of server
    ],
)
def test_a_stored_password_never_follows_a_changed_server(api: testing.TestClient, runtime, url: str) -> None:
    body = {"sql": {"url": "postgresql+psycopg://h/db", "username": "u", "password": "Keep-Me-9"}}
    api.simulate_put(f"{DS}/p", json=body)
    moved = api.simulate_put(f"{DS}/p", json={"sql": {"url": url, "username": "u"}}, params={"overwrite": "true"})
    assert moved.status_code == 200
    assert runtime.datasource_store.get("p").password is None
    renamed = {"sql": {"url": "postgresql+psycopg://h/db", "username": "someone-else"}}
    api.simulate_put(f"{DS}/p", json=body, params={"overwrite": "true"})
    api.simulate_put(f"{DS}/p", json=renamed, params={"overwrite": "true"})
    assert runtime.datasource_store.get("p").password is None


def test_credentials_in_urls_are_moved_out(api: testing.TestClient, runtime) -> None:
    api.simulate_put(f"{DS}/j", json={"jdbc": {"url": "jdbc:postgresql://h/db?user=bob&password=In-Url-7&ssl=true"}})
    api.simulate_put(f"{DS}/s", json={"sql": {"url": "mysql+pymysql://al:In-Url-8@h/db"}})
    j, s = api.simulate_get(f"{DS}/j").json["_source"], api.simulate_get(f"{DS}/s").json["_source"]
    assert j == {"jdbc": {"url": "jdbc:postgresql://h/db?user=bob&ssl=true", "username": "bob"}}
    assert s == {"sql": {"url": "mysql+pymysql://al@h/db", "username": "al"}}
    assert runtime.box.decrypt(runtime.datasource_store.get("s").password) == "In-Url-8"


def test_list_with_paging(api: testing.TestClient, sqlite_body: dict[str, dict[str, str]]) -> None:
    for name in ("c", "a", "b"):
        api.simulate_put(f"{DS}/{name}", json=sqlite_body)
    page = api.simulate_get(f"{DS}/_search", params={"from": "1", "size": "1"})
    assert page.status_code == 200
    assert page.json["hits"]["total"] == 3
    assert [h["_id"] for h in page.json["hits"]["hits"]] == ["b"]
    everything = api.simulate_get(f"{DS}/_search").json["hits"]["hits"]
    assert [h["_id"] for h in everything] == ["a", "b", "c"]
    assert everything[0]["_source"] == sqlite_body


def test_delete_force_and_unknown(api: testing.TestClient) -> None:
    assert_error(api.simulate_delete(f"{DS}/ghost"), 404, "resource_not_found_exception")


@pytest.mark.parametrize(
    ("body", "error_type", "entry"),
    [
        (b"{not json", "parse_exception", None),
        (b"", "parse_exception", None),
        (b"[]", "validation_exception", "$"),
        (b'{"jdbc": {"url": "jdbc:sqlite:/x"}, "extra": 1}', "validation_exception", "$.extra"),
        (b'{"jdbc": {"url": "jdbc:sqlite:/x", "passwrd": "x"}}', "validation_exception", "$.jdbc.passwrd"),
        (b'{"jdbc": {}}', "validation_exception", "$.jdbc.url"),
        (b'{"jdbc": {"url": 5}}', "validation_exception", "$.jdbc.url"),
        (
            b'{"jdbc": {"url": "jdbc:sqlite:/x", "properties": {"a": [1]}}}',
            "validation_exception",
            "$.jdbc.properties.a",
        ),
        (b'{"jdbc": {"url": "jdbc:sybase:Tds:h:5000/x"}}', "validation_exception", "$.jdbc.url"),
        (b'{"jdbc": {"url": "postgresql://h/db"}}', "validation_exception", "$.jdbc.url"),
        (b'{"jdbc": {"url": "jdbc:postgresql://h/db?bogus=1"}}', "validation_exception", "$.jdbc.url"),
        (b'{"sql": {"url": "nosuchdialect://h/db"}}', "validation_exception", "$.sql.url"),
        (b'{"sql": {"url": "not a url"}}', "validation_exception", "$.sql.url"),
        (b'{"sql": {"url": "sqlite:///x", "driver": "x"}}', "validation_exception", "$.sql.driver"),
        (b'{"sql": {"url": "sqlite:///x", "timezone": "Mars/Olympus"}}', "validation_exception", "$.sql.timezone"),
        (b'{"sql": {"url": "sqlite:///x"}, "jdbc": {"url": "jdbc:sqlite:/x"}}', "validation_exception", "$"),
        (b"{}", "validation_exception", "$"),
        (b'{"sql": {"url": "mysql+pymysql://u:a@h/db", "password": "b"}}', "validation_exception", "$.sql.password"),
    ],
)
def test_put_bad_bodies(api: testing.TestClient, body: bytes, error_type: str, entry: str | None) -> None:
    resp = api.simulate_put(f"{DS}/bad", body=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, error_type, entry)
    assert_error(api.simulate_get(f"{DS}/bad"), 404, "resource_not_found_exception")


def test_put_bad_id(api: testing.TestClient, sqlite_body: dict[str, dict[str, str]]) -> None:
    assert_error(api.simulate_put(f"{DS}/-bad", json=sqlite_body), 400, "validation_exception", "id")
    assert_error(api.simulate_put(f"{DS}/{'x' * 129}", json=sqlite_body), 400, "validation_exception", "id")


def test_oversized_body(api: testing.TestClient, settings) -> None:
    big = b'{"sql": {"url": "sqlite:///x", "description": "' + b"x" * settings.api.max_body_bytes + b'"}}'
    assert_error(
        api.simulate_put(f"{DS}/big", body=big, headers={"Content-Type": "application/json"}),
        413,
        "content_too_long_exception",
    )


def test_unknown_query_parameter(api: testing.TestClient, sqlite_body: dict[str, dict[str, str]]) -> None:
    assert_error(
        api.simulate_put(f"{DS}/a", json=sqlite_body, params={"overwite": "true"}),
        400,
        "validation_exception",
        "overwite",
    )


@pytest.mark.parametrize(
    "params",
    [{"size": "x"}, {"size": "-1"}, {"size": "1001"}, {"from": "9999", "size": "10"}, {"from": "1", "start": "2"}],
)
def test_list_bad_paging(api: testing.TestClient, params: dict[str, str]) -> None:
    assert_error(api.simulate_get(f"{DS}/_search", params=params), 400, "validation_exception")


def test_unknown_route_and_method(api: testing.TestClient) -> None:
    assert_error(api.simulate_get("/_siren/connector/nothing"), 404, "resource_not_found_exception")
    assert_error(api.simulate_patch(f"{DS}/a"), 405, "method_not_allowed_exception")


def test_request_id_echoed_or_generated(api: testing.TestClient) -> None:
    assert api.simulate_get(f"{DS}/_search", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = api.simulate_get(f"{DS}/_search", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
    assert generated != "bad id\n" and len(generated) == 32


def test_validate_metadata_sample_unknown_id(api: testing.TestClient) -> None:
    for action in ("_validate", "_metadata"):
        assert_error(api.simulate_post(f"{DS}/ghost/{action}"), 404, "resource_not_found_exception")
    assert_error(
        api.simulate_post(f"{DS}/ghost/_sample", json={"query": "SELECT 1"}), 404, "resource_not_found_exception"
    )


def test_health(api: testing.TestClient) -> None:
    resp = api.simulate_get("/_siren/connector/_health")
    assert resp.status_code == 200
    assert resp.json["status"] == "green"
    assert resp.json["elasticsearch"]["reachable"] is True


def test_metrics(api: testing.TestClient) -> None:
    api.simulate_get(f"{DS}/_search")
    text = api.simulate_get("/metrics").text
    assert (
        'connector_http_requests_total{method="GET",route="/_siren/connector/datasource/_search",status="200"}' in text
    )


def test_query_string_limit(api: testing.TestClient, settings) -> None:
    long = "a" * (settings.api.max_query_string_bytes + 1)
    assert_error(
        api.simulate_get(f"{DS}/_search", query_string=f"size={long}"), 400, "validation_exception", "query_string"
    )
