"""Secrets end to end: a whole ingestion flow with known secret values leaves them nowhere in clear;
key rotation re-encrypts every stored secret."""

from __future__ import annotations

import io
import logging
import tomllib

import orjson
import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from api.runtime import Runtime
from connector.crypto import SecretBox
from connector.errors import SettingsError
from connector.security import CredentialChecker
from connector.settings import load_settings
from tests.conftest import Database
from tests.integration.ingest_support import BASE, wait_final
from tests.support import run_command

pytestmark = pytest.mark.integration

ES_SECRET = "Es-Writer-Secret-31"
WRONG = "Wrong-Db-Secret-47"


def test_no_secret_in_any_response_log_or_document(
    api: testing.TestClient,
    worker,
    mariadb: Database,
    mariadb_user: tuple[str, str],
    es: Elasticsearch,
    index_prefix: str,
    caplog: pytest.LogCaptureFixture,
    service_log: io.StringIO,
    target_prefix: str,
) -> None:
    user, db_password = mariadb_user
    caplog.set_level(logging.DEBUG)
    mariadb.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT)")
    mariadb.execute("INSERT INTO s VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    target = f"{target_prefix}secret"
    responses = []

    def call(method: str, path: str, body: object = None, **params: str) -> dict:
        resp = api.simulate_request(method, path, json=body, params=params or None)
        responses.append(resp)
        return resp.json if (resp.content_type or "").startswith("application/json") else {}

    call("PUT", f"{BASE}/datasource/db", {"jdbc": {"url": mariadb.jdbc_url, "username": user, "password": db_password}})
    ingest = {
        "datasource": "db",
        "query": "SELECT * FROM s",
        "target": target,
        "pk_field": "id",
        "ds_credentials": {"username": user, "password": db_password},
        "es_credentials": {"username": "writer", "password": ES_SECRET},
        "mapping": {"properties": {"v": {"type": "integer"}}},
        "max_error_ratio": 1.0,
    }
    call("PUT", f"{BASE}/ingestion/secret", {"ingest": ingest})
    call("POST", f"{BASE}/datasource/db/_validate")
    call("POST", f"{BASE}/datasource/db/_sample", {"query": "SELECT * FROM s"})
    call("POST", f"{BASE}/ingestion/secret/_validate")
    call("POST", f"{BASE}/ingestion/secret/_run")
    final = wait_final(api, "secret")
    assert final["state"] == "successful" and final["error_count"] == 3  # every v is rejected: errors report
    call("GET", f"{BASE}/ingestion/secret")
    call("GET", f"{BASE}/datasource/db")
    call("GET", f"{BASE}/jobs/_search")
    call("GET", final["links"]["errors"])
    call("GET", final["links"]["errors"], format="csv")
    # The same flow with a wrong password: error paths, driver messages.
    call(
        "PUT",
        f"{BASE}/ingestion/secret",
        {"ingest": {**ingest, "ds_credentials": {"username": user, "password": WRONG}}},
    )
    call("POST", f"{BASE}/ingestion/secret/_run")
    failed = wait_final(api, "secret")
    assert failed["state"] == "error" and "Access denied" in " ".join(failed["error"])
    call("GET", f"{BASE}/jobs/ingestion/secret")
    call("POST", f"{BASE}/ingestion/secret/_validate")
    call("PUT", f"{BASE}/datasource/bad", {"sql": {"url": f"mysql+pymysql://{user}:{WRONG}@127.0.0.1:3306/none"}})
    call("POST", f"{BASE}/datasource/bad/_validate")

    assert all(r.status_code < 500 for r in responses)
    everything = ["".join(r.text for r in responses), "".join(str(r.headers) for r in responses)]
    everything += [service_log.getvalue(), caplog.text]
    es.indices.refresh(index=f"{index_prefix}*,{target}", expand_wildcards="all")
    stored = es.search(index=f"{index_prefix}*,{target}", expand_wildcards="all", size=1000)
    assert stored["hits"]["total"]["value"] >= 8
    everything.append(orjson.dumps(stored.body).decode())
    for secret in (db_password, ES_SECRET, WRONG):
        for text in everything:
            assert secret not in text


def test_secrets_rotate_re_encrypts_every_stored_secret(
    api: testing.TestClient, settings_env: dict[str, str], runtime: Runtime, es: Elasticsearch, sqlite_db: Database
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    api.simulate_put(
        f"{BASE}/datasource/pw", json={"sql": {"url": "mysql+pymysql://u@127.0.0.1:1/x", "password": "Rot-Pw-1"}}
    )
    api.simulate_put(f"{BASE}/datasource/lite", json={"jdbc": {"url": sqlite_db.jdbc_url}})
    api.simulate_put(
        f"{BASE}/ingestion/rot",
        json={
            "ingest": {
                "datasource": "lite",
                "query": "SELECT * FROM t",
                "target": "rot",
                "ds_credentials": {"username": "x", "password": "Rot-Pw-2"},
                "es_credentials": {"username": "y", "password": "Rot-Pw-3"},
            }
        },
    )
    new_key = SecretBox.generate_key()
    old_key = settings_env["CONNECTOR_SECRET_KEY"]
    rotated_env = {**settings_env, "CONNECTOR_SECRET_KEY": new_key, "CONNECTOR_PREVIOUS_SECRET_KEYS": f'["{old_key}"]'}
    result = run_command(["secrets", "rotate"], rotated_env)
    assert result.returncode == 0, result.stderr
    assert "datasources: 1 secrets in 1 documents re-encrypted" in result.stdout
    assert "ingestions: 2 secrets in 1 documents re-encrypted" in result.stdout
    only_new = Runtime.build(load_settings(environ={**settings_env, "CONNECTOR_SECRET_KEY": new_key}))
    try:
        assert only_new.box.decrypt(only_new.datasource_store.get("pw").password or "") == "Rot-Pw-1"
        ingestion = only_new.ingestion_store.get("rot")
        assert only_new.box.decrypt(ingestion.ds_password or "") == "Rot-Pw-2"
        assert only_new.box.decrypt(ingestion.es_password or "") == "Rot-Pw-3"
    finally:
        only_new.close()
    with pytest.raises(SettingsError) as caught:
        runtime.box.decrypt(runtime.datasource_store.get("pw").password or "")  # the old key alone no longer works
    assert "cannot be decrypted" in caught.value.reason
    again = run_command(["secrets", "rotate"], rotated_env)  # idempotent: run it again safely
    assert again.returncode == 0, again.stderr


def test_token_create_prints_a_working_entry(settings_env: dict[str, str]) -> None:
    result = run_command(
        ["token", "create", "--name", "ci", "--scopes", "job:read,job:write", "--expires-in-days", "30"], {}
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.split("token (shown once): ")[1].split()[0]
    entry = result.stdout.split("add to config/connector.toml:\n")[1]
    assert token not in entry and 'name = "ci"' in entry and 'scopes = ["job:read","job:write"]' in entry
    parsed = tomllib.loads(entry)["auth"]["tokens"][0]
    settings = load_settings(
        environ={
            "CONNECTOR_AUTH_MODE": "token",
            "CONNECTOR_AUTH_TOKENS": orjson.dumps([{**parsed, "expires": parsed["expires"].isoformat()}]).decode(),
        }
    )
    checker = CredentialChecker(settings.auth)
    principal = checker.check_token(token)
    assert principal is not None and principal.scopes == frozenset({"job:read", "job:write"})
    assert checker.check_token(token + "x") is None
    bad = run_command(["token", "create", "--name", "x", "--scopes", "root"], {})
    assert bad.returncode == 1 and "unknown scope" in bad.stderr
