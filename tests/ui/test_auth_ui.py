"""Signing in with a token, and what a `job:read` token may not do."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import Page, expect

from connector.security import hash_password
from tests.support import ServiceProcess, free_port
from tests.ui.conftest import UiService, sign_in, unique

pytestmark = pytest.mark.ui


def test_token_sign_in_and_a_read_only_token(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]
) -> None:
    job = unique("ui-auth")
    ui_service.put_ingestion(job, query="SELECT * FROM cities", pk_field="id")
    ui_service.run_to_end(job)

    page.goto(ui_service.ui)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "sign-in")
    page.fill("#signin-token", "cst_not-a-token")
    page.click("form.signin button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("refused")
    assert page.evaluate("sessionStorage.length") == 0  # a refused token is not kept

    page.fill("#signin-token", ui_service.read_token)
    page.click("form.signin button[type=submit]")
    expect(page.locator(".who-name")).to_have_text("ui-reader")
    expect(page.locator(".who .scope")).to_have_text(["job:read"])
    # The token is in this tab's session storage, nowhere else.
    assert page.evaluate("Object.keys(sessionStorage)") == ["connector.authorization"]
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    assert ui_service.read_token not in page.content()

    ingestions = page.locator("#nav .nav-item", has_text="Ingestions")
    expect(ingestions).to_have_attribute("aria-disabled", "true")
    expect(ingestions).to_have_attribute("title", "Needs the admin scope")

    page.goto(f"{ui_service.ui}#/jobs/ingestion/{job}")
    expect(page.locator(".title-badge [data-state]")).to_have_text("successful")
    for name in ("Run", "Resume", "Abort"):
        button = page.get_by_role("button", name=name, exact=True)
        expect(button).to_be_disabled()
        expect(button).to_have_attribute("data-requires-scope", "job:write")
        expect(button).to_have_attribute("title", "Needs the job:write scope; ui-reader has job:read")
    shot(page, "read-only-job")

    # Reload: the tab keeps its session; a new tab (another session storage) asks again.
    page.reload()
    expect(page.locator(".who-name")).to_have_text("ui-reader")
    other = page.context.new_page()
    other.goto(ui_service.ui)
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    other.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_admin_token_enables_every_action(page: Page, ui_service: UiService) -> None:
    job = unique("ui-admin")
    ui_service.put_ingestion(job, query="SELECT * FROM cities", pk_field="id")
    sign_in(page, ui_service, ui_service.admin_token, at=f"jobs/ingestion/{job}")
    expect(page.locator(".who-name")).to_have_text("ui-admin")
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    expect(page.locator("#nav a.nav-item", has_text="Ingestions")).to_be_visible()
    expect(page.locator("[data-requires-scope]")).to_have_count(0)


@pytest.fixture(scope="module")
def basic_service(
    search_server: tuple[str, int | None], secret_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second service, API only, with basic authentication; its base URL."""
    users = [
        {"username": "ops", "hash": hash_password("s3cret ops", iterations=1000), "scopes": ["job:read", "job:write"]}
    ]
    env = {
        "CONNECTOR_ES_URL": search_server[0],
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": f".uib{uuid.uuid4().hex[:8]}-",
        "CONNECTOR_AUTH_MODE": "basic",
        "CONNECTOR_AUTH_USERS": orjson.dumps(users).decode(),
        "CONNECTOR_WORKER_PROCESSES": "0",
        "CONNECTOR_API_GUNICORN_WORKERS": "1",
    }
    port = free_port()
    process = ServiceProcess(
        ["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path_factory.mktemp("uib") / "serve.log"
    )
    try:
        process.wait_http(f"http://127.0.0.1:{port}/_siren/connector/_health", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def test_basic_sign_in_form(page: Page, basic_service: str, shot: Callable[[Page, str], Path]) -> None:
    page.goto(f"{basic_service}/_siren/connector/_ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#signin-user", "ops")
    page.fill("#signin-password", "wrong")
    page.click("form.signin button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("invalid username or password")
    shot(page, "basic-refused")
    page.fill("#signin-password", "s3cret ops")
    page.click("form.signin button[type=submit]")
    expect(page.locator(".who-name")).to_have_text("ops")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.locator(".empty-state")).to_contain_text("No run is queued or running")
    stored = page.evaluate("sessionStorage.getItem('connector.authorization')")
    assert stored.startswith("Basic ")
    assert page.context.cookies() == []
    assert "s3cret ops" not in page.content()
