"""Ingestions in the browser: the form shows the API's `invalid[]` beside each field; the dry run."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import DS_PASSWORD, UiService, sign_in, unique

KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")

pytestmark = pytest.mark.ui


def test_create_an_ingestion_through_the_form(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]
) -> None:
    new_id = unique("ui-form")
    target = ui_service.target(new_id)
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions")
    page.get_by_role("link", name="New ingestion").click()
    expect(page.get_by_role("heading", name="New ingestion")).to_be_visible()
    page.fill("#f-id", new_id)
    page.select_option("#f-datasource", "ui-pg")
    page.fill("#f-query", "SELECT id, name, country, lat, lon FROM cities WHERE country = {{params.country}}")
    page.fill("#f-target", "Not A Valid Index")
    page.select_option("#f-strategy", "INCREMENTAL")
    page.fill("#f-schedule", "0 0 3 * * ?")
    page.fill("#f-transforms", "[{broken json")
    page.click("text=Create ingestion")

    # The page's own check first: JSON that does not parse is never sent.
    expect(page.locator('[data-error-for="transforms"]')).to_contain_text("not valid JSON")
    page.fill(
        "#f-transforms",
        '[{"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"}]',
    )
    page.click("text=Create ingestion")

    # Then the service's: each invalid[] entry beside the field it names.
    target_error = page.locator('[data-error-for="target"]')
    expect(target_error).to_be_visible()
    expect(target_error).to_contain_text("lowercase")
    expect(page.locator('[data-error-for="pk_field"]')).to_be_hidden()
    expect(page.locator('[data-field="target"]')).to_have_class("field invalid")
    shot(page, "form-field-error")

    page.fill("#f-target", target)
    page.click("text=Create ingestion")
    # INCREMENTAL without a primary key is a rule of the whole definition: shown above the form.
    expect(page.locator(".form-errors")).to_contain_text("INCREMENTAL needs pk_field")
    expect(target_error).to_be_hidden()
    page.fill("#f-pk_field", "id")
    page.click("text=Create ingestion")

    expect(page.get_by_role("heading", name=f"Ingestion {new_id}")).to_be_visible()
    expect(page.locator(".flash-success")).to_contain_text(f"Ingestion {new_id} created")
    expect(page.locator(".schedule code.cron")).to_have_text("0 0 3 * * ?")
    _, doc = ui_service.api("GET", f"ingestion/{new_id}")
    assert doc["_source"]["ingest"]["target"] == target
    assert doc["_source"]["ingest"]["transforms"][0]["transform"] == "geo_point"

    # A dry run: the rendered SQL with its bound parameter, the documents after transforms, the mapping.
    page.fill("#f-params", '{"country": "IE"}')
    page.get_by_role("button", name="Dry run").click()
    result = page.locator(".dry-run")
    expect(result.locator("pre.code").first).to_contain_text("WHERE country = ")
    expect(result).not_to_contain_text("{{params.country}}")
    expect(result.locator("table").first).to_contain_text("IE")
    documents = result.locator("table.documents tbody tr")
    expect(documents).to_have_count(2)
    expect(result.locator("table.documents")).to_contain_text("location")
    expect(result.locator("table.mapping tr", has_text="location")).to_contain_text("geo_point")
    shot(page, "dry-run")

    # The list: target, strategy, schedule, never ran.
    page.click("#nav >> text=Ingestions")
    row = page.locator(f'tr[data-ingestion="{new_id}"]')
    expect(row).to_contain_text(target)
    expect(row).to_contain_text("INCREMENTAL")
    expect(row).to_contain_text("never ran")
    shot(page, "ingestions")

    # Edit: the stored values are in the form; a change is saved.
    page.goto(f"{ui_service.ui}#/ingestions/{new_id}/edit")
    expect(page.locator("#f-target")).to_have_value(target)
    expect(page.locator("#f-id")).to_have_attribute("readonly", "")
    page.fill("#f-batch_size", "0")
    page.click("text=Save changes")
    expect(page.locator('[data-error-for="batch_size"]')).to_contain_text("greater than or equal to 1")
    page.fill("#f-batch_size", "2")
    page.click("text=Save changes")
    expect(page.locator(".flash-success")).to_contain_text(f"Ingestion {new_id} updated")
    _, doc = ui_service.api("GET", f"ingestion/{new_id}")
    assert doc["_source"]["ingest"]["batch_size"] == 2
    assert DS_PASSWORD not in page.content()


def test_create_refuses_an_existing_id(page: Page, ui_service: UiService) -> None:
    taken = unique("ui-taken")
    ui_service.put_ingestion(taken, query="SELECT * FROM cities", pk_field="id")
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions/_new")
    page.fill("#f-id", taken)
    page.select_option("#f-datasource", "ui-pg")
    page.fill("#f-query", "SELECT * FROM cities")
    page.fill("#f-target", ui_service.target("other"))
    page.click("text=Create ingestion")
    expect(page.locator('[data-error-for="id"]')).to_contain_text("already exists")
    _, doc = ui_service.api("GET", f"ingestion/{taken}")
    assert doc["_source"]["ingest"]["target"] == ui_service.target(taken)  # untouched


def test_next_fire_times_are_shown_when_the_service_gives_them(page: Page, ui_service: UiService) -> None:
    """`next_fire_times` (ISO 8601 with the schedule's offset) comes with ingestion GET and _search hits."""
    scheduled = unique("ui-sched")
    ui_service.put_ingestion(
        scheduled,
        query="SELECT * FROM cities",
        pk_field="id",
        schedule="0 0 3 * * ?",
        timezone="Europe/Paris",
        enable_scheduler=True,
    )
    status, body = ui_service.api("GET", f"ingestion/{scheduled}")
    assert status == 200, body
    fire_times = body["next_fire_times"]
    first = dt.datetime.fromisoformat(fire_times[0])
    assert (first.hour, first.minute) == (3, 0)
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions")
    row = page.locator(f'tr[data-ingestion="{scheduled}"]')
    expect(row.locator(".badge", has_text="enabled")).to_be_visible()
    # Shown in the browser's zone (Asia/Kolkata, UTC+05:30), UTC on hover.
    utc = first.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    expect(row.locator(".next-fire time")).to_have_attribute("title", utc)
    expect(row.locator(".next-fire")).to_contain_text(first.astimezone(KOLKATA).strftime("%H:%M:%S"))
    row.get_by_role("link", name=scheduled).click()
    expect(page.locator("ol.next-fire-times li")).to_have_count(len(fire_times))
    expect(page.locator("ol.next-fire-times li").first).to_contain_text(fire_times[0])


def test_change_sync_through_the_form(page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]) -> None:
    """An INCREMENTAL ingestion with a tracking column, soft and reconciled deletes, made and run from the page."""
    new_id = unique("ui-sync")
    table = f"notes_{uuid.uuid4().hex[:6]}"
    ui_service.sql(
        f"CREATE TABLE {table} (id integer PRIMARY KEY, body text NOT NULL, "
        "updated_at timestamptz NOT NULL, is_deleted boolean NOT NULL DEFAULT false)",
        f"INSERT INTO {table} SELECT i, 'note ' || i, timestamptz '2026-03-01 10:00:00+00' + i * interval '1 minute', "
        "i = 6 FROM generate_series(1, 6) i",
    )
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions/_new")
    page.fill("#f-id", new_id)
    page.select_option("#f-datasource", "ui-pg")
    page.fill("#f-query", f"SELECT id, body, updated_at, is_deleted FROM {table}")
    page.fill("#f-target", ui_service.target(new_id))
    page.select_option("#f-strategy", "INCREMENTAL")
    page.fill("#f-pk_field", "id")
    page.fill("#f-tracking_column", "changed_at")  # not a column of the query
    page.fill("#f-tracking_overlap", "60")
    page.fill("#f-soft_column", "is_deleted")
    page.fill("#f-soft_values", 'true, "Y')
    expect(page.locator("#f-reconcile_ratio")).to_be_disabled()  # until reconcile is on
    page.check("#f-reconcile")
    page.fill("#f-reconcile_ratio", "1.5")
    page.click("text=Create ingestion")

    # The page's own reading of the values list first: nothing is sent.
    expect(page.locator('[data-error-for="soft_values"]')).to_contain_text("a quoted value is not closed")
    page.fill("#f-soft_values", "true, 1")
    page.click("text=Create ingestion")

    # Then the service's refusals, each beside its field: the ratio (checked with the definition) ...
    ratio_error = page.locator('[data-error-for="reconcile_ratio"]')
    expect(ratio_error).to_contain_text("less than or equal to 1")
    expect(page.locator('[data-error-for="soft_values"]')).to_be_hidden()
    page.fill("#f-reconcile_ratio", "0.5")
    page.click("text=Create ingestion")
    # ... then the tracking column, which the database's answer shows is not in the query's result.
    tracking_error = page.locator('[data-error-for="tracking_column"]')
    expect(tracking_error).to_contain_text("tracking_column [changed_at] is not a column of the query")
    expect(ratio_error).to_be_hidden()
    expect(page.locator('[data-field="tracking_column"]')).to_have_class("field invalid")
    shot(page, "form-tracking-error")
    page.fill("#f-tracking_column", "updated_at")
    page.click("text=Create ingestion")

    expect(page.get_by_role("heading", name=f"Ingestion {new_id}")).to_be_visible()
    _, doc = ui_service.api("GET", f"ingestion/{new_id}")
    ingest = doc["_source"]["ingest"]
    assert ingest["tracking_column"] == "updated_at"
    assert ingest["tracking_overlap"] == 60
    assert ingest["delete"] == {
        "soft": {"column": "is_deleted", "values": [True, 1]},
        "reconcile": {"max_delete_ratio": 0.5, "every_runs": 1},
    }
    assert "on_mapping_conflict" not in ingest  # the default is not written out
    # The definition says it in words.
    expect(page.locator('[data-def="tracking_column"]')).to_have_text("updated_at, overlap 60")
    expect(page.locator('[data-def="soft_delete"]')).to_have_text("is_deleted in true, 1")
    expect(page.locator('[data-def="reconcile"]')).to_contain_text("every run, at most 50%")
    expect(page.locator('[data-def="on_mapping_conflict"]')).to_have_text("fail")

    # The dry run: five documents, and the soft-deleted row as an id it would delete.
    page.get_by_role("button", name="Dry run").click()
    result = page.locator(".dry-run")
    expect(result.locator("table.documents tbody tr")).to_have_count(5)
    expect(result.locator("table.documents thead")).not_to_contain_text("is_deleted")  # never indexed
    expect(result.locator(".deletes .chip")).to_have_text(["6"])
    expect(result).to_contain_text("Documents these rows would delete (1)")
    expect(result.locator(".read-order")).to_contain_text("(updated_at, id) order")
    shot(page, "ingestion")

    # A run, then the job page: the watermark is the last row in (updated_at, id) order.
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator(".title-badge [data-state]")).to_have_text("successful", timeout=30_000)
    _, envelope = ui_service.api("GET", f"jobs/ingestion/{new_id}")
    first = envelope["status"]
    assert (first["count"], first["deleted"]) == (5, 0)
    assert first["watermark"]["pk"] == 6
    mark = page.locator('[data-field="watermark"]')
    value = dt.datetime.fromisoformat(first["watermark"]["value"])
    expect(mark.locator('[data-part="value"] time')).to_contain_text(value.astimezone(KOLKATA).strftime("%H:%M:%S"))
    expect(mark.locator('[data-part="value"]')).to_contain_text(first["watermark"]["value"])  # as the database gave it
    expect(mark.locator('[data-part="pk"]')).to_have_text("6")
    expect(page.locator('[data-field="deleted"]')).to_have_text("0")

    # Row 2 soft-deleted, row 5 deleted for good: the next run deletes both documents and moves on.
    ui_service.sql(
        f"UPDATE {table} SET is_deleted = true, updated_at = timestamptz '2026-03-01 11:00:00+00' WHERE id = 2",
        f"DELETE FROM {table} WHERE id = 5",
    )
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator('[data-field="deleted"]')).to_have_text("2", timeout=30_000)
    expect(page.locator(".title-badge [data-state]")).to_have_text("successful")
    expect(mark.locator('[data-part="pk"]')).to_have_text("2")
    expect(mark.locator('[data-part="value"] time')).to_have_attribute("datetime", "2026-03-01T11:00:00.000Z")
    history = page.locator(".columns table").last
    expect(history.locator("th", has_text="Deleted")).to_be_visible()
    shot(page, "job")
    page.goto(f"{ui_service.ui}#/jobs?id={new_id}")
    expect(page.locator(f'table.history tr[data-job="{new_id}"]')).to_have_count(2)
    expect(page.locator("table.history th", has_text="Deleted")).to_be_visible()
    shot(page, "jobs")

    # Editing shows what is stored, and saving it unchanged keeps every change-sync field.
    page.goto(f"{ui_service.ui}#/ingestions/{new_id}/edit")
    expect(page.locator("#f-soft_values")).to_have_value("true, 1")
    expect(page.locator("#f-reconcile")).to_be_checked()
    expect(page.locator("#f-reconcile_ratio")).to_have_value("0.5")
    page.select_option("#f-on_mapping_conflict", "rebuild")
    page.click("text=Save changes")
    expect(page.locator(".flash-success")).to_contain_text(f"Ingestion {new_id} updated")
    _, doc = ui_service.api("GET", f"ingestion/{new_id}")
    saved = doc["_source"]["ingest"]
    assert saved["on_mapping_conflict"] == "rebuild"
    assert {k: saved[k] for k in ("tracking_column", "tracking_overlap", "delete")} == {
        k: ingest[k] for k in ("tracking_column", "tracking_overlap", "delete")
    }


SOFT_VALUES = [
    # (typed, sent) — a comma list reads true/false and numbers as such, other words as text
    ("true, 1, Y", [True, 1, "Y"]),
    ('"1", no, -2.5', ["1", "no", -2.5]),
    ('"a, b", " padded "', ["a, b", " padded "]),
    ('[true, "Y", 0]', [True, "Y", 0]),
    ("  deleted  ", ["deleted"]),
]
SOFT_REFUSED = [
    ("true,, Y", "value 2 is empty"),
    ('"Y', "a quoted value is not closed"),
    ('"a" b', "is not one quoted text"),
    ("[true, null]", "null is not a text, a number, true or false"),
    ("[]", "give at least one value"),
    ('{"a": 1}', None),  # read as one word of text: the service stores what it was given
    ("[1, ", "not valid JSON"),
]


def test_soft_delete_values_are_read_and_written_back(page: Page, ui_service: UiService) -> None:
    """The form's reading of `delete.soft.values`, and the text an edit form shows for stored values."""
    sign_in(page, ui_service, ui_service.admin_token, at="ingestions/_new")
    page.wait_for_selector("#f-soft_values")
    module = page.evaluate(
        "document.querySelector('script[type=module]').src.replace(/app\\.js$/, 'form-ingestion.js')"
    )
    results = page.evaluate(
        """async ([url, typed]) => {
            const { parseSoftValues, formatSoftValues } = await import(url);
            return typed.map((text) => {
                try {
                    const values = parseSoftValues(text);
                    const shown = formatSoftValues(values);
                    return { values, shown, again: parseSoftValues(shown) };
                } catch (ex) {
                    return { error: `${ex instanceof SyntaxError ? "not valid JSON: " : ""}${ex.message}` };
                }
            });
        }""",
        [module, [t for t, _ in SOFT_VALUES] + [t for t, _ in SOFT_REFUSED]],
    )
    for (typed, sent), result in zip(SOFT_VALUES, results, strict=False):
        assert result.get("values") == sent, (typed, result)
        assert result["again"] == sent, (typed, result)  # what an edit form shows reads back the same
    assert results[0]["shown"] == "true, 1, Y"
    assert results[1]["shown"] == '"1", no, -2.5'
    for (typed, error), result in zip(SOFT_REFUSED, results[len(SOFT_VALUES) :], strict=True):
        if error is None:
            assert "error" not in result, (typed, result)
        else:
            assert error in result.get("error", ""), (typed, result)
