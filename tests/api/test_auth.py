"""Authentication and scopes (SPEC §7), table-driven over modes, credentials and endpoint classes."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson
import pytest
from falcon import testing

from api.app import create_app
from connector.security import hash_password, new_token
from connector.settings import Settings, load_settings
from tests.support import LOCAL

pytestmark = pytest.mark.api

BASE = "/_siren/connector"
READ, WRITE, ADMIN = "job:read", "job:write", "admin"

# (method, path, body, scope needed); the resources behind them exist or answer 404/409 — what
# matters is that authorisation passes or fails before them.
ENDPOINTS: list[tuple[str, str, Any, str | None]] = [
    ("GET", f"{BASE}/datasource/_search", None, ADMIN),
    ("PUT", f"{BASE}/datasource/ds1", {"sql": {"url": "sqlite:///x.db"}}, ADMIN),
    ("POST", f"{BASE}/datasource/ds1/_metadata", None, ADMIN),
    ("GET", f"{BASE}/ingestion/_search", None, ADMIN),
    ("POST", f"{BASE}/ingestion/nope/_validate", None, ADMIN),
    ("GET", f"{BASE}/jobs", None, READ),
    ("GET", f"{BASE}/jobs/ingestion", None, READ),
    ("GET", f"{BASE}/jobs/_search", None, READ),
    ("POST", f"{BASE}/jobs/_search", {}, READ),
    ("GET", f"{BASE}/jobs/ingestion/nope", None, READ),
    ("POST", f"{BASE}/ingestion/nope/_run", None, WRITE),
    ("POST", f"{BASE}/jobs/ingestion/nope/_abort", None, WRITE),
    ("GET", "/metrics", None, READ),
    ("GET", f"{BASE}/_health", None, None),
]

TOKENS = {scope: new_token() for scope in (READ, WRITE, ADMIN, "expired")}
PASSWORDS = {READ: "reader-pw-1", WRITE: "writer-pw-2", ADMIN: "admin-pw-3"}
USERS = {READ: "reader", WRITE: "writer", ADMIN: "boss"}  # basic-auth user names cannot hold ':'


def _settings(env: dict[str, str], mode: str) -> Settings:
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    tokens = [{"name": f"t-{s}", "hash": TOKENS[s][1], "scopes": [s]} for s in (READ, WRITE, ADMIN)]
    tokens.append({"name": "t-expired", "hash": TOKENS["expired"][1], "scopes": [ADMIN], "expires": yesterday})
    users = [
        {"username": USERS[s], "hash": hash_password(p, iterations=1000), "scopes": [s]} for s, p in PASSWORDS.items()
    ]
    return load_settings(
        environ={
            **env,
            "CONNECTOR_AUTH_MODE": mode,
            "CONNECTOR_AUTH_TOKENS": orjson.dumps(tokens).decode(),
            "CONNECTOR_AUTH_USERS": orjson.dumps(users).decode(),
        }
    )


@pytest.fixture(params=["token", "basic"])
def secured(request: pytest.FixtureRequest, runtime, settings_env: dict[str, str]) -> tuple[str, testing.TestClient]:
    mode = request.param
    return mode, testing.TestClient(create_app(_settings(settings_env, mode), runtime.services()), headers=LOCAL)


def _call(client: testing.TestClient, method: str, path: str, body: Any, authorization: str | None) -> Any:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.simulate_request(method, path, json=body, headers=headers)


def _credentials(mode: str, scope: str) -> str:
    if mode == "token":
        return f"Bearer {TOKENS[scope][0]}"
    raw = f"{USERS[scope]}:{PASSWORDS[scope]}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(("method", "path", "body", "needed"), ENDPOINTS)
def test_scopes(secured: tuple[str, testing.TestClient], method: str, path: str, body: Any, needed: str | None) -> None:
    mode, client = secured
    for scope in (READ, WRITE, ADMIN):
        resp = _call(client, method, path, body, _credentials(mode, scope))
        allowed = needed is None or scope in (needed, ADMIN)
        if allowed:
            assert resp.status_code not in (401, 403), (scope, resp.text)
        else:
            assert resp.status_code == 403, (scope, resp.text)
            error = resp.json["error"]
            assert error["type"] == "security_exception"
            assert f"requires scope [{needed}]" in error["reason"]
            assert (USERS[scope] if mode == "basic" else f"t-{scope}") in error["reason"]


@pytest.mark.parametrize(("method", "path", "body", "needed"), [e for e in ENDPOINTS if e[3] is not None])
@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "Bearer cst_unknown-token",
        "Token abc",
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"boss:wrong").decode(),
        "Basic " + base64.b64encode(b"nobody:x").decode(),
        None,
        "expired",
    ],
)
def test_missing_or_invalid_credentials_are_401(
    secured: tuple[str, testing.TestClient], method: str, path: str, body: Any, needed: str, authorization: str | None
) -> None:
    mode, client = secured
    if authorization == "expired":
        authorization = f"Bearer {TOKENS['expired'][0]}"
    if mode == "token" and authorization is not None and authorization.startswith("Basic "):
        authorization = authorization.replace("Basic ", "Bearer ")  # still wrong in token mode
    resp = _call(client, method, path, body, authorization)
    assert resp.status_code == 401, resp.text
    assert resp.json["error"]["type"] == "security_exception"
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("Bearer " if mode == "token" else "Basic ")


def test_wrong_scheme_for_the_mode(secured: tuple[str, testing.TestClient]) -> None:
    mode, client = secured
    other = "basic" if mode == "token" else "token"
    resp = _call(client, "GET", f"{BASE}/jobs", None, _credentials(other, ADMIN))
    assert resp.status_code == 401


def test_public_endpoints_need_nothing(secured: tuple[str, testing.TestClient]) -> None:
    _, client = secured
    assert client.simulate_get(f"{BASE}/_health").status_code == 200


def test_auth_none_allows_everything(api: testing.TestClient) -> None:
    assert api.simulate_get(f"{BASE}/jobs").status_code == 200
    assert api.simulate_get(f"{BASE}/datasource/_search").status_code == 200


def test_tokens_and_password_hashes_are_not_clear_text() -> None:
    token, entry = new_token()
    assert token.startswith("cst_") and len(token) > 40
    assert entry.startswith("sha256:") and token not in entry
    stored = hash_password("s3cret")
    assert "s3cret" not in stored and stored.startswith("pbkdf2_sha256$")
