"""What the API shows of an ingestion's schedule: next fire times (from an injected clock), errors, warnings."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from falcon import testing

from api.app import create_app
from api.runtime import Runtime
from connector.settings import Settings
from ingestion.ingestion_service import IngestionService
from tests.support import LOCAL, assert_error

pytestmark = pytest.mark.api

BASE = "/_siren/connector"
ClockedApi = Callable[[dt.datetime], testing.TestClient]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def clocked_api(runtime: Runtime, settings: Settings) -> ClockedApi:
    """The API with the ingestion service's clock stopped at a given moment."""

    def build(now: dt.datetime) -> testing.TestClient:
        service = IngestionService(
            runtime.ingestion_store,
            runtime.datasource_store,
            runtime.jobs,
            runtime.es,
            runtime.box,
            settings,
            clock=now.timestamp,
        )
        return testing.TestClient(
            create_app(settings, dataclasses.replace(runtime.services(), ingestions=service)), headers=LOCAL
        )

    return build


@pytest.fixture
def lite(api: testing.TestClient, sqlite_db: Any) -> dict[str, Any]:
    """A reachable datasource and a minimal definition using it."""
    sqlite_db.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, at TEXT)")
    sqlite_db.execute("INSERT INTO e VALUES (1, '2026-03-29 02:30:00')")
    assert api.simulate_put(f"{BASE}/datasource/lite", json={"jdbc": {"url": sqlite_db.jdbc_url}}).status_code == 201
    return {"datasource": "lite", "query": "SELECT * FROM e", "target": "e", "pk_field": "id"}


def put(client: testing.TestClient, ingestion_id: str, definition: dict[str, Any]) -> dict[str, Any]:
    resp = client.simulate_put(f"{BASE}/ingestion/{ingestion_id}", json={"ingest": definition})
    assert resp.status_code in (200, 201), resp.text
    body: dict[str, Any] = resp.json
    return body


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        # Paris jumps from 02:00 to 03:00 on Sunday 2026-03-29: 02:30 fires after the jump, at 03:30.
        (
            "0 30 2 * * ?",
            utc(2026, 3, 27, 12),
            [
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:30:00+02:00",
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00",
                "2026-04-01T02:30:00+02:00",
            ],
        ),
        # ... hourly: 02:00 does not exist; it fires at 03:00, which 03:00 itself also names: once.
        (
            "0 0 * * * ?",
            utc(2026, 3, 28, 23, 30),
            [
                "2026-03-29T01:00:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T04:00:00+02:00",
                "2026-03-29T05:00:00+02:00",
                "2026-03-29T06:00:00+02:00",
            ],
        ),
        # Paris goes back from 03:00 to 02:00 on Sunday 2026-10-25: 02:30 occurs twice and fires once, the first.
        (
            "0 30 2 * * ?",
            utc(2026, 10, 23, 12),
            [
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00",
                "2026-10-27T02:30:00+01:00",
                "2026-10-28T02:30:00+01:00",
            ],
        ),
        # ... hourly: the repeated 02:00 fires once, so 02:00+02:00 is followed by 03:00+01:00, two hours later.
        (
            "0 * * * *",
            utc(2026, 10, 24, 22, 30),
            [
                "2026-10-25T01:00:00+02:00",
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T03:00:00+01:00",
                "2026-10-25T04:00:00+01:00",
                "2026-10-25T05:00:00+01:00",
            ],
        ),
        # A schedule that ends shows what is left of it.
        ("0 0 12 1 1 ? 2027-2028", utc(2026, 12, 1), ["2027-01-01T12:00:00+01:00", "2028-01-01T12:00:00+01:00"]),
    ],
)
def test_next_fire_times_across_dst(
    clocked_api: ClockedApi, lite: dict[str, Any], schedule: str, now: dt.datetime, expected: list[str]
) -> None:
    client = clocked_api(now)
    definition = {**lite, "schedule": schedule, "timezone": "Europe/Paris"}
    written = put(client, "paris", definition)
    assert written["next_fire_times"] == expected
    assert written["scheduler_enabled"] is False
    got = client.simulate_get(f"{BASE}/ingestion/paris").json
    assert got["next_fire_times"] == expected
    assert got["_source"] == {"ingest": {**definition, "strategy": "REPLACE", "count_total": False}}
    for search in (client.simulate_get, client.simulate_post):
        (hit,) = search(f"{BASE}/ingestion/_search").json["hits"]["hits"]
        assert hit["next_fire_times"] == expected
        assert hit["scheduler_enabled"] is False
    dry_run = client.simulate_post(f"{BASE}/ingestion/paris/_validate").json
    assert dry_run["next_fire_times"] == expected
    assert dry_run["valid"] is True


def test_fire_times_follow_the_clock_and_the_enable_flag(clocked_api: ClockedApi, lite: dict[str, Any]) -> None:
    definition = {**lite, "schedule": "0 0 3 * * ?", "enable_schedule": True}  # UTC by default
    put(clocked_api(utc(2026, 11, 30, 12)), "daily", definition)
    later = clocked_api(utc(2026, 12, 3, 3))  # exactly a fire time: the next one is the day after
    got = later.simulate_get(f"{BASE}/ingestion/daily").json
    assert got["scheduler_enabled"] is True
    assert got["next_fire_times"] == [f"2026-12-{day:02d}T03:00:00+00:00" for day in range(4, 9)]


def test_no_schedule_no_fire_times(api: testing.TestClient, lite: dict[str, Any]) -> None:
    assert put(api, "manual", lite).keys() == {"_id", "result"}
    assert api.simulate_get(f"{BASE}/ingestion/manual").json.keys() == {"_id", "found", "_source"}
    (hit,) = api.simulate_get(f"{BASE}/ingestion/_search").json["hits"]["hits"]
    assert hit.keys() == {"_id", "_source"}
    assert "next_fire_times" not in api.simulate_post(f"{BASE}/ingestion/manual/_validate").json


def test_a_schedule_that_never_fires_again_is_refused_by_the_clock(
    clocked_api: ClockedApi, lite: dict[str, Any]
) -> None:
    definition = {**lite, "schedule": "0 0 12 1 1 ? 2027"}
    put(clocked_api(utc(2026, 12, 31)), "once", definition)
    error = assert_error(
        clocked_api(utc(2027, 1, 1, 12)).simulate_put(f"{BASE}/ingestion/once", json={"ingest": definition}),
        400,
        "validation_exception",
        "$.ingest.schedule",
    )
    assert error["invalid"][0]["rules"][0]["description"] == "schedule '0 0 12 1 1 ? 2027' never fires again"


@pytest.mark.parametrize(
    ("schedule", "field", "value", "why"),
    [
        ("0 0 12 32 * ?", "day-of-month", "32", 'day-of-month field "32": value out of range 1-31'),
        ("0 0 12 1,32 * ?", "day-of-month", "1,32", 'day-of-month field "1,32": value 32 out of range 1-31'),
        ("0 0 25 * * ?", "hour", "25", 'hour field "25": value out of range 0-23'),
        ("0 0 12 ? * 0", "day-of-week", "0", 'day-of-week field "0": value out of range 1-7 (1 = SUN, 7 = SAT)'),
        ("0 0 12 ? * 2#6", "day-of-week", "2#6", 'day-of-week field "2#6": occurrence 6 out of range 1-5'),
        ("0 0 12 ? JUNE ?", "month", "JUNE", 'month field "JUNE": unknown name (use JAN-DEC or 1-12)'),
        ("0 */90 * * * ?", "minute", "*/90", 'minute field "*/90": step 90 out of range 1-59'),
        ("0 0 12 L-31 * ?", "day-of-month", "L-31", 'day-of-month field "L-31": offset from the last day out of'),
        ("61 * * * *", "minute", "61", 'minute field "61": value out of range 0-59'),
    ],
)
def test_cron_errors_name_the_field_and_value(
    api: testing.TestClient, lite: dict[str, Any], schedule: str, field: str, value: str, why: str
) -> None:
    resp = api.simulate_put(f"{BASE}/ingestion/bad", json={"ingest": {**lite, "schedule": schedule}})
    error = assert_error(resp, 400, "validation_exception", "$.ingest.schedule")
    (entry,) = error["invalid"]
    (rule,) = entry["rules"]
    assert rule["rule"] == "cron"
    assert rule["params"] == [field, value]
    assert rule["description"].startswith(f"invalid cron expression {schedule!r}: {why}")
    assert api.simulate_get(f"{BASE}/ingestion/bad").status_code == 404


def test_wrong_number_of_fields_points_at_the_schedule(api: testing.TestClient, lite: dict[str, Any]) -> None:
    resp = api.simulate_put(f"{BASE}/ingestion/bad", json={"ingest": {**lite, "schedule": "0 3 * *"}})
    (entry,) = assert_error(resp, 400, "validation_exception", "$.ingest.schedule")["invalid"]
    assert entry["rules"][0]["params"] == []
    assert entry["rules"][0]["description"].endswith("got 4")


def test_a_misread_six_field_expression_is_accepted_and_shown(clocked_api: ClockedApi, lite: dict[str, Any]) -> None:
    """``0 3 * * * *`` is valid Quartz (second 0, minute 3, every hour), not 03:00 daily: the answer shows it."""
    client = clocked_api(utc(2026, 12, 1, 0, 30))
    written = put(client, "misread", {**lite, "schedule": "0 3 * * * *", "timezone": "Europe/Paris"})
    assert written["next_fire_times"] == [f"2026-12-01T{hour:02d}:03:00+01:00" for hour in range(2, 7)]
    assert written["warnings"] == [
        "schedule: fires at minute 3 of every hour (6 fields are Quartz: second minute hour day-of-month month "
        'day-of-week); for 03:00 daily write "0 0 3 * * ?" (or the 5 fields "0 3 * * *")'
    ]
    dry_run = client.simulate_post(f"{BASE}/ingestion/misread/_validate").json
    assert dry_run["warnings"] == written["warnings"]
    fixed = put(client, "misread", {**lite, "schedule": "0 0 3 * * ?", "timezone": "Europe/Paris"})
    assert "warnings" not in fixed
    assert fixed["next_fire_times"][0] == "2026-12-01T03:00:00+01:00"


def test_a_schedule_firing_more_often_than_hourly_warns(clocked_api: ClockedApi, lite: dict[str, Any]) -> None:
    written = put(clocked_api(utc(2026, 12, 1)), "often", {**lite, "schedule": "0 */15 * * * ?"})
    assert written["warnings"] == ["schedule: fires 4 times an hour (every 15 minutes): more often than hourly"]
    assert written["next_fire_times"] == [
        "2026-12-01T00:15:00+00:00",
        "2026-12-01T00:30:00+00:00",
        "2026-12-01T00:45:00+00:00",
        "2026-12-01T01:00:00+00:00",
        "2026-12-01T01:15:00+00:00",
    ]
