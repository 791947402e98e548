"""The web page's routes over HTTP: redirect, CSP, caching, package data; and `_whoami` in each auth mode."""

from __future__ import annotations

import base64
import fnmatch
import re
import tomllib
from pathlib import Path

import orjson
import pytest
from falcon import testing

from api.app import BASE, Services, create_app
from api.ui import resources as ui
from connector.security import hash_password, new_token
from connector.settings import load_settings
from tests.support import LOCAL, REPO

pytestmark = pytest.mark.api

PAGE = f"{BASE}/_ui/"


def client(**environ: str) -> testing.TestClient:
    """The app without stores: the page and _whoami need none."""
    settings = load_settings(environ={"CONNECTOR_ES_URL": "http://127.0.0.1:9", **environ})
    services = Services(datasources=None, ingestions=None, jobs=None, health=dict)  # type: ignore[arg-type]
    return testing.TestClient(create_app(settings, services), headers=LOCAL)


def assets_of(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(static/[^"]+)"', html)


def test_root_and_the_bare_path_redirect_to_the_page() -> None:
    app = client()
    root = app.simulate_get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "_siren/connector/_ui/"  # relative: also right behind a path prefix
    bare = app.simulate_get(f"{BASE}/_ui")
    assert bare.status_code == 307
    assert bare.headers["location"] == "_ui/"


def test_the_page_has_a_strict_policy_and_is_revalidated() -> None:
    resp = client(CONNECTOR_AUTH_MODE="token").simulate_get(PAGE)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    policy = resp.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "require-trusted-types-for 'script'" in policy
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers.get("x-request-id")
    assert '<meta name="connector-auth-mode" content="token">' in resp.text
    # No inline code anywhere: no <script> with a body, no style attributes, no event handler attributes.
    assert not re.search(r"<script[^>]*>[^<]+</script>", resp.text)
    assert not re.search(r"\sstyle=|\son[a-z]+=", resp.text)
    again = client(CONNECTOR_AUTH_MODE="token").simulate_get(PAGE, headers={"If-None-Match": resp.headers["etag"]})
    assert again.status_code == 304
    assert again.text == ""


def test_static_files_are_cached_for_good_under_their_digest() -> None:
    app = client()
    html = app.simulate_get(PAGE).text
    urls = assets_of(html)
    assert {u.rsplit("/", 1)[1] for u in urls} >= {"app.js", "style.css", "favicon.svg"}
    version, assets = ui.load_assets()
    for url in urls:
        resp = app.simulate_get(f"{BASE}/_ui/{url}")
        assert resp.status_code == 200, url
        assert url.startswith(f"static/{version}/")
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert resp.headers["etag"] == assets[url.rsplit("/", 1)[1]].etag
        assert "content-security-policy" in resp.headers
    script = app.simulate_get(f"{BASE}/_ui/static/{version}/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    cached = app.simulate_get(f"{BASE}/_ui/static/{version}/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert cached.status_code == 304
    # A page from before an upgrade still gets the file, but not as an immutable one under the old name.
    stale = app.simulate_get(f"{BASE}/_ui/static/0123456789abcdef/app.js")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"


def test_every_module_the_page_imports_is_served() -> None:
    """Relative imports between the ES modules resolve to files the resource serves."""
    _, assets = ui.load_assets()
    for name, asset in assets.items():
        if name.endswith(".js"):
            for imported in re.findall(r'from "\./([^"]+)"', asset.body.decode()):
                assert imported in assets, f"{name} imports {imported}"


@pytest.mark.parametrize("path", ["nope.js", "..%2Fresources.py", "__init__.py", "index.html"])
def test_only_the_page_files_are_served(path: str) -> None:
    resp = client().simulate_get(f"{BASE}/_ui/static/v1/{path}")
    assert resp.status_code == 404
    assert resp.json["error"]["type"] == "resource_not_found_exception"


def test_the_page_files_ship_in_the_package() -> None:
    """pyproject's package data covers every file of api/ui that is not Python."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["api.ui"]
    root = REPO / "api" / "ui"
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for name in files:
        if not name.endswith(".py"):
            assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
    assert "templates/index.html" in files


def test_the_page_scripts_never_write_html_strings() -> None:
    """The CSP enforces Trusted Types; this keeps the source honest too (and the check cheap to read)."""
    for path in Path(ui.STATIC_DIR).glob("*.js"):
        source = path.read_text()
        for sink in (".innerHTML", ".outerHTML", ".insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{path.name} uses {sink}"
        for storage in ("localStorage.setItem", "document.cookie"):
            assert storage not in source, f"{path.name} stores in {storage}"


# ---------------------------------------------------------------- _whoami


def whoami(app: testing.TestClient, authorization: str | None = None) -> testing.Result:
    headers = {"Authorization": authorization} if authorization else {}
    return app.simulate_get(f"{BASE}/_whoami", headers=headers)


def test_whoami_without_authentication_is_anonymous_with_every_scope() -> None:
    resp = whoami(client())
    assert resp.status_code == 200
    assert resp.json == {"name": "anonymous", "scopes": ["admin", "job:read", "job:write"], "auth_mode": "none"}


def test_whoami_with_tokens() -> None:
    reader, reader_hash = new_token()
    tokens = [{"name": "reader", "hash": reader_hash, "scopes": ["job:read"]}]
    app = client(CONNECTOR_AUTH_MODE="token", CONNECTOR_AUTH_TOKENS=orjson.dumps(tokens).decode())
    missing = whoami(app)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert whoami(app, "Bearer cst_wrong").status_code == 401
    found = whoami(app, f"Bearer {reader}")
    assert found.status_code == 200
    assert found.json == {"name": "reader", "scopes": ["job:read"], "auth_mode": "token"}


def test_whoami_with_basic_credentials() -> None:
    users = [{"username": "ops", "hash": hash_password("pw", iterations=1000), "scopes": ["job:write"]}]
    app = client(CONNECTOR_AUTH_MODE="basic", CONNECTOR_AUTH_USERS=orjson.dumps(users).decode())

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert whoami(app).status_code == 401
    assert whoami(app, basic("ops", "nope")).status_code == 401
    # Any authenticated caller may ask, even one whose only scope is job:write.
    resp = whoami(app, basic("ops", "pw"))
    assert resp.status_code == 200
    assert resp.json == {"name": "ops", "scopes": ["job:write"], "auth_mode": "basic"}


def test_the_page_itself_needs_no_credentials() -> None:
    """The shell and its files hold no data, so a browser can load them before asking who you are."""
    app = client(CONNECTOR_AUTH_MODE="token")
    assert app.simulate_get(PAGE).status_code == 200
    version, _ = ui.load_assets()
    assert app.simulate_get(f"{BASE}/_ui/static/{version}/app.js").status_code == 200
    assert app.simulate_get(f"{BASE}/jobs").status_code == 401
