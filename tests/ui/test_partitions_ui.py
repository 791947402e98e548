"""Partitioned runs in the browser (SPEC §15): `partitions` in the form, and a run's key ranges on the job page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import UiService, sign_in, unique

pytestmark = pytest.mark.ui

ROWS = 1600
RANGES = 4
MARK = f"\N{MULTIPLICATION SIGN}{RANGES}"  # beside a run, or an ingestion, split in RANGES key ranges

# The documents of every range, as the Partitions card shows them.
SUM_OF_COUNTS = (
    "() => [...document.querySelectorAll('table.partitions td[data-count]')]"
    ".reduce((sum, td) => sum + Number(td.dataset.count), 0)"
)


def test_partitioned_run_through_the_form(page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]) -> None:
    """Defined in the form, run from the page: N ranges move while it runs, then all done, their counts summing up."""
    new_id = unique("ui-parts")
    table = f"orders_{uuid.uuid4().hex[:6]}"
    target = ui_service.target(new_id)
    # Keys bunched at both ends with a huge gap between: the ranges are cut at quantiles, so each
    # still gets about a quarter of the rows.
    ui_service.sql(
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10, 2))",
        f"INSERT INTO {table} SELECT CASE WHEN i <= {ROWS // 2} THEN i ELSE 1000000 + i END, "
        f"'customer ' || mod(i, 37), mod(i, 300) / 3.0 FROM generate_series(1, {ROWS}) i",
    )
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions/_new")
    page.fill("#f-id", new_id)
    page.select_option("#f-datasource", "ui-pg")
    # paced_id makes each row cost 5 ms to read, so the ranges are seen running.
    page.fill("#f-query", f"SELECT id, customer, amount, paced_id(id) AS paced FROM {table}")
    page.fill("#f-target", target)
    page.fill("#f-pk_field", "id")
    page.fill("#f-partitions", str(RANGES))
    page.fill("#f-batch_size", "50")
    page.click("text=Create ingestion")

    expect(page.get_by_role("heading", name=f"Ingestion {new_id}")).to_be_visible()
    expect(page.locator('[data-def="partitions"]')).to_have_text(f"{RANGES} key ranges of id per run, on any workers")
    _, doc = ui_service.api("GET", f"ingestion/{new_id}")
    ingest = doc["_source"]["ingest"]
    assert ingest["partitions"] == RANGES
    shot(page, "ingestion")

    # Run: the job page lists the ranges as soon as the run has planned them, and follows them.
    page.get_by_role("button", name="Run", exact=True).click()
    ranges = page.locator("table.partitions tbody tr[data-k]")
    expect(ranges).to_have_count(RANGES, timeout=30_000)
    expect(ranges.first.locator("td").first).to_have_text("0")  # k as the run's messages name it
    expect(page.locator('table.partitions tr[data-state="running"]').first).to_be_visible(timeout=30_000)
    expect(page.locator('[data-figure="ranges"] .figure-value')).to_contain_text("running")
    # Two ranges at least are still to read (2 s each): the documents move while we watch.
    page.wait_for_function(f"({SUM_OF_COUNTS})() > 0", timeout=30_000)
    before = page.evaluate(SUM_OF_COUNTS)
    page.wait_for_function(f"before => ({SUM_OF_COUNTS})() > before", arg=before, timeout=30_000)
    shot(page, "job-running")

    expect(page.locator(".title-badge [data-state]")).to_have_text("successful", timeout=60_000)
    expect(page.locator('table.partitions tr[data-k][data-state="done"]')).to_have_count(RANGES)
    counts = page.eval_on_selector_all(
        "table.partitions td[data-count]", "tds => tds.map((td) => Number(td.dataset.count))"
    )
    assert len(counts) == RANGES
    assert all(count > 0 for count in counts), counts  # quantiles, not [min, max] cut in four
    assert sum(counts) == ROWS
    for k in range(RANGES):
        bar = page.locator(f'table.partitions tr[data-k="{k}"] [role=progressbar]')
        expect(bar).to_have_attribute("aria-valuenow", "100.0")
    expect(page.locator(".partitions-summary")).to_contain_text(f"{RANGES} key ranges")
    expect(page.locator(".partitions-summary")).to_contain_text(f"{RANGES} done")
    expect(page.locator('[data-field="partitions"]')).to_contain_text(f"{RANGES} key ranges: {RANGES} done")
    expect(page.locator('[data-field="count"]')).to_have_text(f"{ROWS:,}")
    expect(page.locator(".columns table.runs tr.selected .partitions-mark")).to_have_text(MARK)
    shot(page, "job")

    # The status the page showed, the index and the table agree.
    _, envelope = ui_service.api("GET", f"jobs/ingestion/{new_id}")
    status = envelope["status"]
    assert status["count"] == ROWS == ui_service.count_documents(target)
    assert [p["state"] for p in status["partitions"]] == ["done"] * RANGES
    assert [p["count"] for p in status["partitions"]] == counts

    # The job log and the ingestions list mark the run, and the ingestion, as split.
    page.goto(f"{ui_service.ui}#/jobs?id={new_id}")
    row = page.locator(f'table.history tr[data-job="{new_id}"]')
    expect(row).to_have_count(1)
    expect(row.locator(".partitions-mark")).to_have_text(MARK)
    shot(page, "jobs")
    page.click("#nav >> text=Ingestions")
    expect(page.locator(f'tr[data-ingestion="{new_id}"] .partitions-mark')).to_have_text(MARK)
    shot(page, "ingestions")

    # Editing shows the stored value, and saving another change keeps it (and every other field).
    page.goto(f"{ui_service.ui}#/ingestions/{new_id}/edit")
    expect(page.locator("#f-partitions")).to_have_value(str(RANGES))
    page.fill("#f-description", "Orders, in four ranges")
    page.click("text=Save changes")
    expect(page.locator(".flash-success")).to_contain_text(f"Ingestion {new_id} updated")
    _, doc = ui_service.api("GET", f"ingestion/{new_id}")
    saved = doc["_source"]["ingest"]
    assert saved.pop("description") == "Orders, in four ranges"
    assert saved == ingest


def test_a_failed_range_shows_why_beside_it(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]
) -> None:
    """One range's database error fails the run: the range says why in its row, the others show how they ended."""
    job = unique("ui-parts-fail")
    # Row 2990 fails to read: in the last range, after the first batch (which the plan samples).
    # Row 5's code is not a number, which the mapping refuses: a rejected row of the first range
    # (max_error_ratio 1 lets it pass).
    bad_cast = "CASE WHEN id = 2990 THEN (name || '-x')::int END"
    code = "CASE WHEN id = 5 THEN 'five' ELSE '1' END"
    ui_service.put_ingestion(
        job,
        query=f"SELECT id, name, {bad_cast} AS n, {code} AS code FROM items",
        pk_field="id",
        partitions=3,
        batch_size=100,
        max_error_ratio=1.0,
        mapping={"properties": {"code": {"type": "integer"}}},
    )
    failed = ui_service.run_to_end(job)
    assert failed["state"] == "error"
    assert "partitions" in failed, (failed["error"], failed.get("infos"))
    failed_range = next(p for p in failed["partitions"] if p["state"] == "error")
    assert failed_range["k"] == 2

    sign_in(page, ui_service, ui_service.admin_token, at=f"jobs/ingestion/{job}")
    expect(page.locator(".title-badge [data-state]")).to_have_text("error")
    expect(page.locator(".error-panel")).to_contain_text("Partition k=2 (range 3 of 3) failed")
    row = page.locator('table.partitions tr[data-k="2"]')
    expect(row).to_have_attribute("data-state", "error")
    errors = page.locator('table.partitions tr[data-errors-of="2"]')
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("invalid input syntax")
    for message in failed_range["error"]:
        expect(errors).to_contain_text(message)
    # The ranges that did not fail show no error line, and how they ended.
    expect(page.locator("table.partitions tr.range-errors:visible")).to_have_count(1)
    for p in failed["partitions"]:
        range_row = page.locator(f'table.partitions tr[data-k="{p["k"]}"]')
        expect(range_row).to_have_attribute("data-state", p["state"])
        expect(range_row.locator('td[data-col="count"]')).to_have_text(f"{p['count']:,}")
        expect(range_row.locator('td[data-col="rejected"]')).to_have_text(str(p.get("error_count", 0)))
    shot(page, "job")


@pytest.mark.parametrize(
    ("typed", "pk_field", "message"),
    [
        ("0", "id", "greater than or equal to 1"),
        ("65", "id", "less than or equal to 64"),
        ("4", "", "partitions needs pk_field"),
    ],
    ids=["zero", "above-64", "without-pk"],
)
def test_refused_partitions_are_shown_beside_the_field(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path], typed: str, pk_field: str, message: str
) -> None:
    """The service's refusal at `$.ingest.partitions` appears beside the input; nothing is created."""
    new_id = unique("ui-parts-bad")
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions/_new")
    page.fill("#f-id", new_id)
    page.select_option("#f-datasource", "ui-pg")
    page.fill("#f-query", "SELECT id, name FROM cities")
    page.fill("#f-target", ui_service.target(new_id))
    page.fill("#f-pk_field", pk_field)
    page.fill("#f-partitions", typed)
    page.click("text=Create ingestion")

    error = page.locator('[data-error-for="partitions"]')
    expect(error).to_contain_text(message)
    expect(page.locator('[data-field="partitions"]')).to_have_class("field invalid")
    expect(page.locator(".form-errors")).to_be_hidden()  # beside the field, not above the form
    expect(page.locator("#f-partitions")).to_be_focused()
    if typed == "65":
        shot(page, "form-partitions-error")
    status, _ = ui_service.api("GET", f"ingestion/{new_id}")
    assert status == 404

    # Corrected, the same form creates it.
    page.fill("#f-pk_field", "id")
    page.fill("#f-partitions", "2")
    page.click("text=Create ingestion")
    expect(page.get_by_role("heading", name=f"Ingestion {new_id}")).to_be_visible()
    expect(page.locator('[data-def="partitions"]')).to_contain_text("2 key ranges of id")


def test_an_edit_sends_back_what_the_form_cannot_show(page: Page, ui_service: UiService) -> None:
    """PUT replaces the whole definition: a stored field without an input survives an edit; an emptied input is dropped."""
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions/_new")
    page.wait_for_selector("#f-partitions")
    module = page.evaluate(
        "document.querySelector('script[type=module]').src.replace(/app\\.js$/, 'form-ingestion.js')"
    )
    sent = page.evaluate(
        """async (url) => {
            const { ingestBody } = await import(url);
            const previous = { datasource: "db", query: "SELECT 1", target: "t", pk_field: "id", partitions: 4, a_later_field: { x: 1 } };
            return ingestBody({ datasource: "db", query: "SELECT 1", target: "t", pk_field: "id" }, previous);
        }""",
        module,
    )
    assert sent == {"a_later_field": {"x": 1}, "datasource": "db", "query": "SELECT 1", "target": "t", "pk_field": "id"}
