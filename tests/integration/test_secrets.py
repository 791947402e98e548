"""A datasource password never appears in a response, a log line or a stored document."""

from __future__ import annotations

import io
import logging

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database

pytestmark = pytest.mark.integration

DS = "/_siren/connector/datasource"


def test_password_is_never_exposed(
    api: testing.TestClient,
    mariadb: Database,
    mariadb_user: tuple[str, str],
    es: Elasticsearch,
    index_prefix: str,
    caplog: pytest.LogCaptureFixture,
    service_log: io.StringIO,
) -> None:
    user, password = mariadb_user
    wrong = "Wrong-Secret-77"
    stream = service_log
    caplog.set_level(logging.DEBUG)
    responses = [
        api.simulate_put(
            f"{DS}/good", json={"jdbc": {"url": mariadb.jdbc_url, "username": user, "password": password}}
        ),
        api.simulate_put(f"{DS}/inurl", json={"sql": {"url": f"mysql+pymysql://{user}:{password}@127.0.0.1:3306/x"}}),
        api.simulate_put(f"{DS}/wrong", json={"jdbc": {"url": f"{mariadb.jdbc_url}?user={user}&password={wrong}"}}),
        api.simulate_put(
            f"{DS}/props", json={"jdbc": {"url": mariadb.jdbc_url, "properties": {"user": user, "password": wrong}}}
        ),
        api.simulate_get(f"{DS}/good"),
        api.simulate_get(f"{DS}/inurl"),
        api.simulate_get(f"{DS}/_search"),
        api.simulate_post(f"{DS}/good/_validate"),
        api.simulate_post(f"{DS}/good/_sample", json={"query": "SELECT CURRENT_USER() AS u"}),
        api.simulate_post(f"{DS}/good/_sample", json={"query": f"SELECT '{password}' AS leak FROM nowhere"}),
        api.simulate_post(f"{DS}/wrong/_validate"),
        api.simulate_post(f"{DS}/wrong/_sample", json={"query": "SELECT 1"}),
        api.simulate_post(f"{DS}/inurl/_metadata"),
        api.simulate_put(f"{DS}/good", json={"jdbc": {"url": mariadb.jdbc_url, "password": password}}),
    ]
    assert [r.status_code for r in responses[:4]] == [201, 201, 201, 201]
    assert responses[7].json["valid"] is True
    assert responses[10].status_code == 400 and "Access denied" in responses[10].text
    for secret in (password, wrong):
        for resp in responses:
            assert secret not in resp.text
            assert secret not in str(resp.headers)
        assert secret not in stream.getvalue()
        assert secret not in caplog.text
    es.indices.refresh(index=f"{index_prefix}*", expand_wildcards="all")
    stored = es.search(index=f"{index_prefix}*", expand_wildcards="all", size=1000)
    raw = str(stored.body)
    assert stored["hits"]["total"]["value"] >= 4
    assert password not in raw and wrong not in raw
