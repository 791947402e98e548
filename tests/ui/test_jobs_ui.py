"""Jobs in the browser: live progress, Abort, a 409 shown as a sentence, the history's filters."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import BROWSER_ZONE, ITEMS, UiService, sign_in, unique

pytestmark = pytest.mark.ui


def progress_of(page: Page, selector: str) -> float:
    value = page.get_attribute(f"{selector} [role=progressbar]", "aria-valuenow")
    return float(value) if value else 0.0


def test_running_job_moves_and_abort_stops_it(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]
) -> None:
    job = unique("ui-slow")
    ui_service.put_ingestion(job, query="SELECT slow_id(id) AS id, name, price FROM items", batch_size=50)
    sign_in(page, ui_service, ui_service.admin_token, at=f"jobs/ingestion/{job}")
    expect(page.locator(".title-badge")).to_have_text("never ran")
    shot(page, "job-never-ran")

    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text(f"Run of {job} queued")
    expect(page.locator(".title-badge [data-state]")).to_have_text("running", timeout=20_000)

    # The jobs page: the run's row, its bar and its document count move while we watch.
    page.click("#nav >> text=Jobs")
    row = f'table.active-jobs tr[data-job="{job}"]'
    page.wait_for_function(
        "sel => Number(document.querySelector(sel + ' [role=progressbar]')?.getAttribute('aria-valuenow')) > 0",
        arg=row,
        timeout=20_000,
    )
    first = progress_of(page, row)
    first_count = int(page.get_attribute(f"{row} td[data-count]", "data-count") or 0)
    page.wait_for_function(
        "([sel, before]) => Number(document.querySelector(sel + ' [role=progressbar]')"
        "?.getAttribute('aria-valuenow')) > before",
        arg=[row, first],
        timeout=20_000,
    )
    assert progress_of(page, row) > first
    assert int(page.get_attribute(f"{row} td[data-count]", "data-count") or 0) > first_count
    expect(page.locator(f"{row} td").nth(4)).to_contain_text("docs/s")  # the rate
    expect(page.locator(f"{row} td").nth(6)).not_to_have_text("—")  # the worker
    shot(page, "jobs-running")

    # A second run while this one is active: the API's 409, said in words.
    page.goto(f"{ui_service.ui}#/ingestions/{job}")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator(".flash-error")).to_contain_text("Conflict:")
    shot(page, "ingestion-run-conflict")

    page.goto(f"{ui_service.ui}#/jobs/ingestion/{job}")
    expect(page.locator(".live .progress-cell")).to_be_visible()
    expect(page.locator('[data-figure="rate"] .figure-value')).to_contain_text("docs/s")
    shot(page, "job-running")
    page.get_by_role("button", name="Abort", exact=True).click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Abort the run of {job}?")
    dialog.get_by_role("button", name="Abort run").click()
    expect(page.locator(".title-badge [data-state]")).to_have_text("aborted", timeout=20_000)
    expect(page.locator('[data-field="state"]')).to_have_text("aborted")
    expect(page.get_by_role("button", name="Abort", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled()
    shot(page, "job-aborted")

    _, envelope = ui_service.api("GET", f"jobs/ingestion/{job}")
    status = envelope["status"]
    assert status["state"] == "aborted"
    assert 0 < status["count"] < ITEMS
    expect(page.locator('[data-field="count"]')).to_have_text(f"{status['count']:,}")

    # Resume sends _run?resume=true; without pk_field there is no checkpoint: the button says so on
    # hover (the status's resumable is false), and the API's 409 says so when pressed.
    expect(page.get_by_role("button", name="Resume", exact=True)).to_have_attribute(
        "title", re.compile("no checkpoint to continue from")
    )
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.locator(".flash-error")).to_contain_text("cannot resume: without pk_field")
    expect(page.locator(".title-badge [data-state]")).to_have_text("aborted")


def test_the_job_page_follows_the_run_it_started_and_drops_a_stale_abort_question(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]
) -> None:
    job = unique("ui-follow")
    ui_service.put_ingestion(job, query="SELECT slow_id(id) AS id, name, price FROM items", batch_size=50)
    sign_in(page, ui_service, ui_service.admin_token, at=f"jobs/ingestion/{job}")
    expect(page.locator(".title-badge")).to_have_text("never ran")
    page.get_by_role("button", name="Run", exact=True).click()
    # The worker claims within 0.2 s; the page, idle a moment ago (a read every 5 s), follows at
    # the active pace (every second) from the click on.
    expect(page.locator(".title-badge [data-state]")).to_have_text("running", timeout=3_500)

    # Leaving the page answers the Abort question "no": it does not follow to the next page.
    page.get_by_role("button", name="Abort", exact=True).click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    page.evaluate("() => { window.location.hash = '#/ingestions'; }")
    expect(page.locator("h1")).to_contain_text("Ingestions")
    expect(dialog).to_have_count(0)

    # A run that ends while the question is open closes it, and the page says why.
    page.goto(f"{ui_service.ui}#/jobs/ingestion/{job}")
    expect(page.locator(".title-badge [data-state]")).to_have_text("running")
    page.get_by_role("button", name="Abort", exact=True).click()
    expect(dialog).to_be_visible()
    status, _ = ui_service.api("POST", f"jobs/ingestion/{job}/_abort")  # somebody else aborts it
    assert status == 200
    expect(dialog).to_have_count(0, timeout=10_000)
    expect(page.locator(".flash-info")).to_contain_text(f"The run of {job} has ended (aborted): nothing left to abort.")
    expect(page.locator(".title-badge [data-state]")).to_have_text("aborted")
    shot(page, "job-abort-question-dropped")
    assert page.locator(".flash").count() <= 3


def test_history_filters_narrow_the_list(page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]) -> None:
    good, bad = unique("ui-hist-ok"), unique("ui-hist-bad")
    ui_service.put_ingestion(good, query="SELECT * FROM cities", strategy="INCREMENTAL", pk_field="id")
    ui_service.put_ingestion(bad, query="SELECT 1 / (id - 3) AS ratio, id FROM cities", pk_field="id")
    assert ui_service.run_to_end(good)["state"] == "successful"
    assert ui_service.run_to_end(good)["state"] == "successful"
    failed = ui_service.run_to_end(bad)
    assert failed["state"] == "error"

    sign_in(page, ui_service, ui_service.admin_token)
    history = page.locator("table.history tbody tr[data-run]")
    page.fill("input[name=id]", f"{good},{bad}")
    page.get_by_role("button", name="Apply filters").click()
    expect(history).to_have_count(3)
    expect(page.locator(".pager-text")).to_have_text("Showing 1\N{EN DASH}3 of 3")
    shot(page, "history-by-id")
    # A failed run's long message is clipped in its cell (whole on hover): the table fits its card at 1280 px.
    width, room = page.evaluate(
        "() => { const t = document.querySelector('table.history'); return [t.scrollWidth, t.parentElement.clientWidth]; }"
    )
    assert width <= room, (width, room)

    page.check("input[name=state][value=error]")
    page.get_by_role("button", name="Apply filters").click()
    expect(history).to_have_count(1)
    expect(history.first).to_have_attribute("data-job", bad)
    expect(history.first.locator("[data-state]")).to_have_text("error")
    assert "state=error" in page.url  # the filters are in the address: a link shows the same list

    # A time range that ends before these runs started: nothing matches.
    page.uncheck("input[name=state][value=error]")
    yesterday = (dt.datetime.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("input[name=until]", yesterday)
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("table.history tbody tr.empty")).to_have_text("No run matches these filters.")
    page.fill("input[name=until]", "")
    page.select_option("select[name=ended]", "false")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("table.history tbody tr.empty")).to_be_visible()
    page.select_option("select[name=ended]", "true")
    page.get_by_role("button", name="Apply filters").click()
    expect(history).to_have_count(3)

    # Times are the browser's (UTC+05:30), with the UTC instant on hover.
    started = history.first.locator("time").first
    instant = dt.datetime.fromisoformat(started.get_attribute("datetime") or "")
    local = instant.astimezone(ZoneInfo(BROWSER_ZONE))
    expect(started).to_contain_text(local.strftime("%H:%M:%S"))
    expect(started).to_have_attribute("title", instant.strftime("%Y-%m-%d %H:%M:%S UTC"))

    # The failed run's page: the database's own message, in full.
    history.filter(has=page.locator('[data-state="error"]')).get_by_role("link", name=bad).click()
    panel = page.locator(".error-panel")
    expect(panel).to_contain_text("division by zero")
    for message in failed["error"]:
        expect(panel).to_contain_text(message)
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_enabled()
    for seed_field in ("version", "id", "is_running", "start_time", "end_time", "infos", "state", "count"):
        expect(page.locator(f'[data-field="{seed_field}"]')).not_to_have_text("—")
    shot(page, "job-error")


def test_history_search_and_sort(page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]) -> None:
    """`q` searches the runs' messages, `sort` orders the history; both are kept in the address."""
    small, large, failing = unique("ui-q-small"), unique("ui-q-large"), unique("ui-q-fail")
    word = f"zq{uuid.uuid4().hex[:8]}"  # in the failing run's error only: the database quotes the bad value
    ui_service.put_ingestion(small, query="SELECT * FROM cities", pk_field="id")
    ui_service.put_ingestion(large, query="SELECT id, name FROM items WHERE id <= 40", pk_field="id")
    # Row 3 fails, not the first (PUT opens the query to learn its columns and refuses a failing first
    # row): `invalid input syntax for type integer: "Lyon-zq…"`.
    bad_cast = f"CASE WHEN id = 3 THEN (name || '-{word}')::int END"
    ui_service.put_ingestion(failing, query=f"SELECT id, {bad_cast} AS n FROM cities ORDER BY id", pk_field="id")
    assert ui_service.run_to_end(small)["count"] == 5
    assert ui_service.run_to_end(large)["count"] == 40
    failed = ui_service.run_to_end(failing)
    assert failed["state"] == "error"
    assert word in " ".join(failed["error"])

    sign_in(page, ui_service, ui_service.admin_token)
    history = page.locator("table.history tbody tr[data-run]")
    page.fill("input[name=id]", f"{small},{large},{failing}")
    page.get_by_role("button", name="Apply filters").click()
    expect(history).to_have_count(3)
    # Newest first by default.
    expect(history.nth(0)).to_have_attribute("data-job", failing)
    expect(history.nth(2)).to_have_attribute("data-job", small)

    # Free text over the messages: the distinctive word of the error finds the failing run alone.
    page.fill("input[name=q]", word)
    page.get_by_role("button", name="Apply filters").click()
    expect(history).to_have_count(1)
    expect(history.first).to_have_attribute("data-job", failing)
    expect(history.first.locator("td.info mark")).to_have_text(word)  # the whole message, the word marked
    assert f"q={word}" in page.url
    expect(page.locator("input[name=q]")).to_have_value(word)
    shot(page, "history-search")

    # Excluding the word: the two runs that did not fail.
    page.fill("input[name=q]", f"-{word}")
    page.get_by_role("button", name="Apply filters").click()
    expect(history).to_have_count(2)
    expect(history.filter(has=page.locator('[data-state="error"]'))).to_have_count(0)

    # Sorted by documents, most first: 40, 5, 0 — not the order they ran in.
    page.fill("input[name=q]", "")
    page.select_option("select[name=sort]", "count:desc")
    page.get_by_role("button", name="Apply filters").click()
    expect(history.nth(0)).to_have_attribute("data-job", large)
    expect(history.nth(1)).to_have_attribute("data-job", small)
    expect(history.nth(2)).to_have_attribute("data-job", failing)
    expect(page.locator("table.history th", has_text="Documents")).to_have_attribute("aria-sort", "descending")
    assert "sort=count%3Adesc" in page.url or "sort=count:desc" in page.url
    shot(page, "history-sorted")

    # The address alone gives the same list (a bookmark, a shared link), the other way round.
    page.goto(page.url.replace("count%3Adesc", "count%3Aasc").replace("count:desc", "count:asc"))
    expect(page.locator("select[name=sort]")).to_have_value("count:asc")
    expect(history.nth(0)).to_have_attribute("data-job", failing)
    expect(history.nth(2)).to_have_attribute("data-job", large)
    expect(page.locator("table.history th", has_text="Documents")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator(".pager-buttons button").first).to_have_text(
        "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK} Previous"
    )


def test_errors_report_view_and_download(page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]) -> None:
    job = unique("ui-rejects")
    # A NULL key rejects its row; max_error_ratio 1 lets the run succeed with it in the report.
    ui_service.put_ingestion(
        job, query="SELECT NULLIF(id, 3) AS id, name FROM cities", pk_field="id", max_error_ratio=1.0
    )
    run = ui_service.run_to_end(job)
    assert (run["state"], run["error_count"]) == ("successful", 1)

    sign_in(page, ui_service, ui_service.admin_token, at=f"jobs/ingestion/{job}")
    report = page.locator(".report-view")
    page.get_by_role("button", name="View", exact=True).click()
    expect(report.locator("tbody tr")).to_have_count(1)
    expect(report).to_contain_text("primary key is NULL")
    shot(page, "job-rejected-rows")

    with page.expect_download() as csv:
        page.get_by_role("button", name="Download CSV").click()
    assert csv.value.suggested_filename == f"{run['run_id']}-errors.csv"
    text = Path(csv.value.path()).read_text()
    assert text.splitlines()[0].startswith('"seq","pk",')  # every field quoted
    assert "primary key is NULL" in text
    with page.expect_download() as ndjson:
        page.get_by_role("button", name="Download NDJSON").click()
    assert ndjson.value.suggested_filename == f"{run['run_id']}-errors.ndjson"
    assert "primary key is NULL" in Path(ndjson.value.path()).read_text()
