"""The web page in headless Chromium against a running service (SPEC §11).

One `connector serve` process (API + a worker, auth mode token) serves every
test of this package (and stops when the package's tests are done), against the session's Elasticsearch-API server and a
PostgreSQL schema of its own; each test creates its own datasources and
ingestions under fresh ids, so tests do not see each other's runs unless they
ask for them. Playwright drives the Debian Chromium (`/usr/bin/chromium`, or
CONNECTOR_TEST_CHROMIUM); its own browser download is not used.

Every page a test opens records console errors, uncaught exceptions and 5xx
answers; the test fails on any of them. Chromium logs each 4xx answer of a
fetch as a console error ("Failed to load resource"); those are the API's
answers that the page shows (a refused form, a 409), so they are allowed.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
import urllib3
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response, sync_playwright

from connector.es_client import create_client
from connector.security import new_token
from connector.settings import load_settings
from tests.support import ServiceProcess, free_port, wait_until

CHROMIUM = Path(os.environ.get("CONNECTOR_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("CONNECTOR_UI_SCREENSHOTS", Path(__file__).parent / "screenshots"))
DS_PASSWORD = "Ui-t3st-pa55word-never-shown"
BROWSER_ZONE = "Asia/Kolkata"  # UTC+05:30 all year: local times cannot pass for UTC ones
ITEMS = 3000  # rows of the slow table: a run of them lasts 15 s or more (5 ms per row, in SQL)
_ALLOWED_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d\b")


@dataclass
class UiService:
    """The running service, its tokens and its PostgreSQL schema."""

    base: str
    admin_token: str
    read_token: str
    schema: str
    jdbc_url: str
    target_prefix: str  # of the test's target indices, removed with the service's own
    process: ServiceProcess
    pg_url: str = ""  # SQLAlchemy URL of the database that holds ``schema``
    http: urllib3.PoolManager = field(default_factory=urllib3.PoolManager)

    @property
    def ui(self) -> str:
        return f"{self.base}/_siren/connector/_ui/"

    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> tuple[int, Any]:
        """Call the API as the admin (or ``token``); returns (status, decoded body)."""
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        resp = self.http.request(method, f"{self.base}/_siren/connector/{path}", body=data, headers=headers)
        return resp.status, orjson.loads(resp.data) if resp.data else None

    def sql(self, *statements: str) -> None:
        """Run statements in the test schema, in one transaction (a test's own tables and changes)."""
        engine = sa.create_engine(self.pg_url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL search_path TO {self.schema}")
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def target(self, name: str) -> str:
        return f"{self.target_prefix}{name}"

    def put_ingestion(self, ingestion_id: str, **ingest: Any) -> None:
        body = {"datasource": "ui-pg", "target": self.target(ingestion_id), **ingest}
        status, answer = self.api("PUT", f"ingestion/{ingestion_id}", {"ingest": body})
        assert status == 201, answer

    def run_to_end(self, ingestion_id: str) -> dict[str, Any]:
        status, body = self.api("POST", f"ingestion/{ingestion_id}/_run", {})
        assert status == 202, body

        def ended() -> dict[str, Any] | None:
            _, envelope = self.api("GET", f"jobs/ingestion/{ingestion_id}")
            run = envelope.get("status") or {}
            return run if run.get("state") in ("successful", "error", "aborted") else None

        return wait_until(ended, timeout=60, interval=0.2, what=f"the run of {ingestion_id} to end")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]  # read by the page fixture
    return report


@pytest.fixture(scope="package")
def ui_schema(pg_server_url: str) -> Iterator[str]:
    """A PostgreSQL schema with `items` (ITEMS rows), `cities` (5 rows) and a slow function."""
    schema = f"ui_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pg_server_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(
            f"CREATE TABLE {schema}.items (id integer PRIMARY KEY, name text NOT NULL, "
            "price numeric(10, 2), created_at timestamptz NOT NULL)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {schema}.items SELECT i, 'item ' || i, mod(i, 500) / 4.0, "
            f"timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute' FROM generate_series(1, {ITEMS}) i"
        )
        conn.exec_driver_sql(f"ANALYZE {schema}.items")  # the planner's estimate is the run's total
        conn.exec_driver_sql(
            f"CREATE TABLE {schema}.cities (id integer PRIMARY KEY, name text NOT NULL, country text, lat float8, lon float8)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {schema}.cities VALUES (1, 'Dublin', 'IE', 53.35, -6.26), (2, 'Galway', 'IE', 53.27, -9.05), "
            "(3, 'Lyon', 'FR', 45.76, 4.84), (4, 'Paris', 'FR', 48.86, 2.35), (5, 'Porto', 'PT', 41.15, -8.61)"
        )
        # Each row costs 5 ms on the database: a run of `items` moves visibly, and is still running
        # when the test gets to Abort, however fast the machine.
        conn.exec_driver_sql(
            f"CREATE FUNCTION {schema}.slow_id(i integer) RETURNS integer LANGUAGE sql VOLATILE "
            "AS $$ SELECT pg_sleep(0.005); SELECT i $$"
        )
    yield schema
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


@pytest.fixture(scope="package")
def ui_service(
    search_server: tuple[str, int | None],
    secret_key: str,
    pg_server_url: str,
    ui_schema: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[UiService]:
    es_url = search_server[0]
    tag = f"ui{uuid.uuid4().hex[:8]}"
    index_prefix = f".{tag}-s-"  # targets are <tag>-<name>: outside the service's prefix (SPEC §14)
    admin_token, admin_hash = new_token()
    read_token, read_hash = new_token()
    tokens = [
        {"name": "ui-admin", "hash": admin_hash, "scopes": ["admin"]},
        {"name": "ui-reader", "hash": read_hash, "scopes": ["job:read"]},
    ]
    env = {
        "CONNECTOR_ES_URL": es_url,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": index_prefix,
        "CONNECTOR_AUTH_MODE": "token",
        "CONNECTOR_AUTH_TOKENS": orjson.dumps(tokens).decode(),
        "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
        "CONNECTOR_INGESTION_STATUS_INTERVAL_S": "0.2",
        "CONNECTOR_API_GUNICORN_WORKERS": "1",
        "CONNECTOR_API_GUNICORN_THREADS": "8",
    }
    port = free_port()
    log = tmp_path_factory.mktemp("ui") / "serve.log"
    process = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, log)
    url = sa.make_url(pg_server_url)
    jdbc = f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}?currentSchema={ui_schema}"
    service = UiService(
        f"http://127.0.0.1:{port}", admin_token, read_token, ui_schema, jdbc, f"{tag}-", process, pg_server_url
    )
    try:
        process.wait_http(f"{service.base}/_siren/connector/_health", timeout=60)
        # Trust authentication ignores the password, so it can be set and must never show.
        status, body = service.api(
            "PUT",
            "datasource/ui-pg",
            {"jdbc": {"url": jdbc, "username": url.username or "postgres", "password": DS_PASSWORD}},
        )
        assert status == 201, body
        yield service
    finally:
        process.stop()
        service.http.clear()
        settings = load_settings(environ={"CONNECTOR_ES_URL": es_url})
        client, _ = create_client(settings.elasticsearch)
        for pattern in (f".{tag}-*", f"{tag}-*"):
            found = client.indices.get(index=pattern, expand_wildcards="all", ignore_unavailable=True)
            for name in found:
                client.indices.delete(index=name, ignore_unavailable=True)
        client.close()
    assert "Traceback" not in process.output, process.output


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install chromium chromium-driver")
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@dataclass
class PageProblems:
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _ALLOWED_CONSOLE.match(message.text):
            self.console.append(message.text)

    def on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh tab (own session storage) at 1280 px, in a time zone far from UTC."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, locale="en-GB", timezone_id=BROWSER_ZONE, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems = PageProblems()
    tab.on("console", problems.on_console)
    tab.on("pageerror", lambda ex: problems.errors.append(str(ex)))
    tab.on("response", problems.on_response)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:  # what the page showed when the test failed
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()
    assert problems.errors == [], f"uncaught exceptions in the page: {problems.errors}"
    assert problems.console == [], f"console errors: {problems.console}"
    assert problems.server_errors == [], f"5xx answers: {problems.server_errors}"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Save a full-page screenshot as screenshots/<test>-<name>.png (looked at by people, not asserted)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = request.node.name.removeprefix("test_")

    def take(tab: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{test}-{name}.png"
        tab.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar lands mid-page in a full-page shot
        tab.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return take


def sign_in(page: Page, service: UiService, token: str, *, at: str = "") -> None:
    """Sign in through the form, as a person would, then open ``at`` (a hash route)."""
    page.goto(service.ui + (f"#/{at}" if at else ""))
    page.fill("#signin-token", token)
    page.click("form.signin button[type=submit]")
    page.wait_for_selector(".who-name")
