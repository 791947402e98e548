"""Ingestions in the browser: the form shows the API's `invalid[]` beside each field; the dry run."""

from __future__ import annotations

import datetime as dt
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
