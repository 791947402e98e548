"""Authentication and scopes (SPEC §7), table-driven over modes, credentials and endpoint classes."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from typing import Any

import falcon
import orjson
import pytest
from falcon import testing

from api import errors
from api.app import create_app
from api.auth import AuthMiddleware
from api.resources.health import Health
from connector.security import CredentialChecker, hash_password, new_token, verify_password
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


class _Jobs:
    scopes = {"GET": READ}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"jobs": []}


def test_saturated_password_checks_answer_429_while_verified_credentials_and_health_answer() -> None:
    """A guess beyond the process's password-check slot is 429 with Retry-After; nothing else waits for it."""
    gate, entered = threading.Event(), threading.Event()
    gate.set()

    def held_verify(password: str, stored: str) -> bool:
        entered.set()
        assert gate.wait(10)
        return verify_password(password, stored)

    auth = load_settings(
        environ={
            "CONNECTOR_AUTH_MODE": "basic",
            "CONNECTOR_AUTH_USERS": orjson.dumps(
                [{"username": "boss", "hash": hash_password("admin-pw-3", iterations=1000), "scopes": [ADMIN]}]
            ).decode(),
            "CONNECTOR_AUTH_PASSWORD_CHECKS": "1",
            "CONNECTOR_AUTH_PASSWORD_CHECK_QUEUE": "0",
        }
    ).auth
    app = falcon.App(middleware=[AuthMiddleware(CredentialChecker(auth, verify=held_verify))])
    errors.install(app)
    app.add_route(f"{BASE}/_health", Health(lambda: {"status": "green", "version": "x"}))
    app.add_route(f"{BASE}/jobs", _Jobs())
    client = testing.TestClient(app)

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert client.simulate_get(f"{BASE}/jobs", headers=basic("boss", "admin-pw-3")).status_code == 200
    entered.clear()
    gate.clear()
    guessing = threading.Thread(
        target=client.simulate_get, args=(f"{BASE}/jobs",), kwargs={"headers": basic("boss", "g1")}
    )
    guessing.start()
    assert entered.wait(10)
    try:
        refused = client.simulate_get(f"{BASE}/jobs", headers=basic("boss", "g2"))
        unknown = client.simulate_get(f"{BASE}/jobs", headers=basic("nobody", "g3"))
        verified = client.simulate_get(f"{BASE}/jobs", headers=basic("boss", "admin-pw-3"))
        health = client.simulate_get(f"{BASE}/_health", headers=basic("boss", "g4"))
    finally:
        gate.set()
        guessing.join(10)

    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.json["error"]["type"] == "too_many_requests_exception"
    assert "too many password checks" in refused.json["error"]["reason"]
    assert unknown.status_code == 429  # an unknown name is checked like a known one
    assert verified.status_code == 200
    assert health.status_code == 200 and health.json == {"status": "green"}
