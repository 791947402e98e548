"""Datasources in the browser: validate, browse schemas/tables/columns, sample; the password never shows."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import DS_PASSWORD, UiService, sign_in, unique

pytestmark = pytest.mark.ui


def test_browse_a_datasource_and_sample_a_table(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]
) -> None:
    sign_in(page, ui_service, ui_service.admin_token, at="datasources")
    row = page.locator('tr[data-datasource="ui-pg"]')
    expect(row).to_contain_text("jdbc:postgresql://")
    shot(page, "datasources")
    row.get_by_role("link", name="ui-pg").click()

    page.get_by_role("button", name="Validate").click()
    expect(page.locator('.validation [data-valid="true"]')).to_contain_text("Connected")

    page.click(f'button.item[data-schema="{ui_service.schema}"]')
    tables = page.locator("button.item[data-table]")
    expect(tables).to_have_count(2)
    expect(tables).to_have_text([re.compile(r"^cities\b"), re.compile(r"^items\b")])
    page.click('button.item[data-table="cities"]')
    columns = page.locator("table.columns-table tbody tr")
    expect(columns).to_have_count(5)
    expect(page.locator('tr[data-column="id"]')).to_contain_text("PK")
    expect(page.locator('tr[data-column="lat"]')).to_contain_text("double")
    page.get_by_role("button", name="Sample this table").click()
    sample = page.locator("table.sample-rows tbody tr")
    expect(sample).to_have_count(5)
    expect(page.locator("table.sample-rows")).to_contain_text("Galway")
    shot(page, "datasource")

    # A query the database refuses: its message, not a blank page.
    page.fill("#f-query", "SELECT nope FROM cities")
    page.get_by_role("button", name="Run query").click()
    expect(page.locator(".form-errors")).to_contain_text("nope")

    assert DS_PASSWORD not in page.content()
    page.get_by_role("link", name="Edit").click()
    expect(page.locator("#f-password")).to_have_value("")
    expect(page.locator("#f-url")).to_have_value(ui_service.jdbc_url)
    assert DS_PASSWORD not in page.content()


def test_create_a_datasource_through_the_form(
    page: Page, ui_service: UiService, shot: Callable[[Page, str], Path]
) -> None:
    new_id = unique("ui-ds")
    secret = "An0ther-secret-typed-in-the-form"
    sign_in(page, ui_service, ui_service.admin_token, at="datasources/_new")
    page.fill("#f-id", new_id)
    page.fill("#f-url", "jdbc:nosuchdb://host/db")
    page.fill("#f-username", "postgres")
    page.fill("#f-password", secret)
    page.click("text=Create datasource")
    expect(page.locator('[data-error-for="url"]')).to_contain_text("unsupported JDBC URL")
    shot(page, "datasource-form-error")

    page.fill("#f-url", ui_service.jdbc_url)
    page.fill("#f-timezone", "Mars/Olympus_Mons")
    page.click("text=Create datasource")
    expect(page.locator('[data-error-for="timezone"]')).to_contain_text("Mars/Olympus_Mons")
    expect(page.locator('[data-error-for="url"]')).to_be_hidden()
    page.fill("#f-timezone", "Europe/Dublin")
    page.click("text=Create datasource")
    expect(page.get_by_role("heading", name=f"Datasource {new_id}")).to_be_visible()
    expect(page.locator(".flash-success")).to_contain_text(f"Datasource {new_id} created")
    assert secret not in page.content()
    status, _ = ui_service.api("DELETE", f"datasource/{new_id}")
    assert status == 200
