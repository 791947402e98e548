"""Ingestion definitions through the HTTP API: CRUD and every refusal before storing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from falcon import testing

from connector.ingestion_def import IngestBody, Ingestion
from tests.support import assert_error

pytestmark = pytest.mark.api

BASE = "/_siren/connector"
GOOD: dict[str, Any] = {
    "datasource": "ds",
    "query": "SELECT * FROM events {{#max_primary_key}}WHERE id > {{max_primary_key}}{{/max_primary_key}}",
    "batch_size": 10,
    "schedule": "0 0 * * * ?",
    "enable_scheduler": True,
    "target": "events",
    "staging_prefix": "staging-events-",
    "strategy": "REPLACE",
    "pk_field": "id",
    "mapping": {"properties": {"id": {"type": "keyword"}}},
    "pipeline": {"processors": [{"set": {"field": "ingested", "value": "{{_ingest.timestamp}}"}}]},
    "transforms": [{"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"}],
    "ds_credentials": {"username": "reader", "password": "Ds-Secret-1"},
    "es_credentials": {"username": "writer", "password": "Es-Secret-2"},
    "description": "events from the warehouse",
}


@pytest.fixture
def datasource(api: testing.TestClient) -> None:
    # An unreachable database: definitions are still accepted (columns checked later).
    resp = api.simulate_put(
        f"{BASE}/datasource/ds", json={"jdbc": {"url": "jdbc:postgresql://127.0.0.1:1/none?connectTimeout=1"}}
    )
    assert resp.status_code == 201


def test_every_siren_field_is_accepted_and_passwords_hidden(api: testing.TestClient, datasource: None) -> None:
    created = api.simulate_put(f"{BASE}/ingestion/events", json={"ingest": GOOD})
    assert created.status_code == 201, created.text
    got = api.simulate_get(f"{BASE}/ingestion/events").json
    source = got["_source"]["ingest"]
    assert got["found"] is True
    assert source["ds_credentials"] == {"username": "reader"}
    assert source["es_credentials"] == {"username": "writer"}
    assert "Secret" not in str(got)
    assert {k: v for k, v in source.items() if k not in ("ds_credentials", "es_credentials")} == {
        **{k: v for k, v in GOOD.items() if k not in ("ds_credentials", "es_credentials")},
        "transforms": [{**GOOD["transforms"][0], "params": {}}],
        "count_total": False,
    }
    assert set(got) == {"_id", "found", "_source", "next_fire_times", "scheduler_enabled"}
    updated = api.simulate_put(f"{BASE}/ingestion/events", json={"ingest": {**GOOD, "batch_size": 20}})
    assert {k: updated.json[k] for k in ("_id", "result")} == {"_id": "events", "result": "updated"}
    assert set(updated.json) == {"_id", "result", "next_fire_times", "scheduler_enabled"}  # hourly: no warning
    listed = api.simulate_get(f"{BASE}/ingestion/_search").json["hits"]
    assert listed["total"] == 1 and listed["hits"][0]["_source"]["ingest"]["batch_size"] == 20
    assert set(listed["hits"][0]) == {"_id", "_source", "next_fire_times", "scheduler_enabled"}
    assert_error(api.simulate_delete(f"{BASE}/datasource/ds"), 409, "resource_conflict_exception")
    assert api.simulate_delete(f"{BASE}/ingestion/events").json["result"] == "deleted"
    assert api.simulate_delete(f"{BASE}/datasource/ds").status_code == 200


def test_enable_schedule_synonym(api: testing.TestClient, datasource: None) -> None:
    body = {k: v for k, v in GOOD.items() if k != "enable_scheduler"} | {"enable_schedule": True}
    assert api.simulate_put(f"{BASE}/ingestion/syn", json={"ingest": body}).status_code == 201


@pytest.mark.parametrize(
    ("change", "entry"),
    [
        ({"datasource": "missing"}, "$.ingest.datasource"),
        ({"target": "Bad Index"}, "$.ingest.target"),
        ({"target": "_underscore"}, "$.ingest.target"),
        ({"target": "a/b"}, "$.ingest.target"),
        ({"staging_prefix": "UPPER"}, "$.ingest.staging_prefix"),
        ({"strategy": "INCREMENTAL", "pk_field": None}, "$.ingest"),
        ({"strategy": "MERGE"}, "$.ingest.strategy"),
        ({"schedule": "0 0 25 * * ?"}, "$.ingest.schedule"),
        ({"schedule": "every hour"}, "$.ingest.schedule"),
        ({"schedule": "0 0 12 1 1 ? 2020"}, "$.ingest.schedule"),
        ({"schedule": None}, "$.ingest"),
        ({"enable_schedule": False}, "$.ingest"),
        ({"batch_size": 0}, "$.ingest.batch_size"),
        ({"batch_size": "10"}, "$.ingest.batch_size"),
        ({"batch_size": 10_000_000}, "$.ingest.batch_size"),
        ({"query": ""}, "$.ingest.query"),
        ({"query": "SELECT {{#open}}"}, "$.ingest.query"),
        ({"mapping": {"properties": {"x": "keyword"}}}, "$.ingest.mapping"),
        ({"pipeline": {"steps": []}}, "$.ingest.pipeline"),
        (
            {"transforms": [{"input": [{"source": "a"}], "output": "p", "transform": "geo_point"}]},
            "$.ingest.transforms[0]",
        ),
        (
            {"transforms": [{"input": [{"source": "a"}], "output": "p", "transform": "rot13"}]},
            "$.ingest.transforms[0].transform",
        ),
        ({"transforms": [{"input": [{"source": "a", "value": 1}], "output": "p"}]}, "$.ingest.transforms[0].input[0]"),
        ({"transforms": [{"input": [{"source": "a"}], "output": "p", "transform": "cast"}]}, "$.ingest.transforms[0]"),
        (
            {
                "transforms": [
                    {"input": [{"source": "a"}], "output": "p", "transform": "date", "params": {"format": "Q"}}
                ]
            },
            "$.ingest.transforms[0].params.format",
        ),
        ({"ds_credentials": {"user": "x"}}, "$.ingest.ds_credentials.user"),
        ({"unknown_field": 1}, "$.ingest.unknown_field"),
        ({"timezone": "Nowhere/City"}, "$.ingest.timezone"),
        ({"max_error_ratio": 2}, "$.ingest.max_error_ratio"),
    ],
)
def test_invalid_definitions_are_refused_before_storing(
    api: testing.TestClient, datasource: None, change: dict[str, Any], entry: str
) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    assert_error(api.simulate_put(f"{BASE}/ingestion/bad", json={"ingest": body}), 400, "validation_exception", entry)
    assert api.simulate_get(f"{BASE}/ingestion/bad").status_code == 404


@pytest.mark.parametrize("raw", [b"{", b"", b'{"ingest": 1}', b'{"ingst": {}}', b"[]"])
def test_malformed_bodies(api: testing.TestClient, datasource: None, raw: bytes) -> None:
    resp = api.simulate_put(f"{BASE}/ingestion/bad", body=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json["error"]["type"] in ("parse_exception", "validation_exception")


def test_limits(api: testing.TestClient, datasource: None, settings) -> None:
    long_query = {**GOOD, "query": "SELECT 1 " + " " * settings.sql.max_sql_bytes}
    assert_error(
        api.simulate_put(f"{BASE}/ingestion/big", json={"ingest": long_query}),
        400,
        "validation_exception",
        "$.ingest.query",
    )
    many = {
        **GOOD,
        "transforms": [
            {"input": [{"source": "a"}], "output": f"o{i}"} for i in range(settings.ingestion.max_transforms + 1)
        ],
    }
    assert_error(
        api.simulate_put(f"{BASE}/ingestion/big", json={"ingest": many}),
        400,
        "validation_exception",
        "$.ingest.transforms",
    )


def test_columns_are_checked_when_the_database_answers(api: testing.TestClient, sqlite_db) -> None:
    sqlite_db.execute("CREATE TABLE e (id INTEGER, lat REAL, lon REAL)")
    api.simulate_put(f"{BASE}/datasource/lite", json={"jdbc": {"url": sqlite_db.jdbc_url}})
    base = {"datasource": "lite", "query": "SELECT * FROM e", "target": "e"}
    ok = {**base, "pk_field": "id", "transforms": GOOD["transforms"]}
    assert api.simulate_put(f"{BASE}/ingestion/cols", json={"ingest": ok}).status_code == 201
    bad_pk = {**base, "pk_field": "ident"}
    assert_error(
        api.simulate_put(f"{BASE}/ingestion/cols", json={"ingest": bad_pk}),
        400,
        "validation_exception",
        "$.ingest.pk_field",
    )
    bad_input = {
        **base,
        "transforms": [{"input": [{"source": "latitude"}, {"source": "lon"}], "output": "p", "transform": "geo_point"}],
    }
    assert_error(
        api.simulate_put(f"{BASE}/ingestion/cols", json={"ingest": bad_input}),
        400,
        "validation_exception",
        "$.ingest.transforms[0].input",
    )
    bad_sql = {**base, "query": "SELECT * FROM missing_table"}
    assert_error(
        api.simulate_put(f"{BASE}/ingestion/cols", json={"ingest": bad_sql}),
        400,
        "validation_exception",
        "$.ingest.query",
    )
    duplicate = {**base, "query": "SELECT id, id FROM e"}
    assert_error(
        api.simulate_put(f"{BASE}/ingestion/cols", json={"ingest": duplicate}),
        400,
        "validation_exception",
        "$.ingest.query",
    )


def test_unknown_ids(api: testing.TestClient) -> None:
    assert_error(api.simulate_get(f"{BASE}/ingestion/nope"), 404, "resource_not_found_exception")
    assert_error(api.simulate_post(f"{BASE}/ingestion/nope/_run"), 404, "resource_not_found_exception")
    assert_error(api.simulate_post(f"{BASE}/ingestion/nope/_validate"), 404, "resource_not_found_exception")
    assert_error(api.simulate_delete(f"{BASE}/ingestion/nope"), 404, "resource_not_found_exception")
    missing = api.simulate_get(f"{BASE}/jobs/ingestion/nope")
    assert missing.status_code == 404
    assert missing.json == {"_id": "nope", "type": "ingestion", "found": False}
    assert_error(api.simulate_get(f"{BASE}/jobs/export/nope"), 400, "validation_exception", "type")


def test_run_body_is_validated(api: testing.TestClient, sqlite_db) -> None:
    sqlite_db.execute("CREATE TABLE e (id INTEGER)")
    api.simulate_put(f"{BASE}/datasource/lite", json={"jdbc": {"url": sqlite_db.jdbc_url}})
    api.simulate_put(
        f"{BASE}/ingestion/r", json={"ingest": {"datasource": "lite", "query": "SELECT * FROM e", "target": "e"}}
    )
    assert_error(
        api.simulate_post(f"{BASE}/ingestion/r/_run", json={"params": {"x": {"nested": 1}}}),
        400,
        "validation_exception",
        "$.params.x",
    )
    assert_error(
        api.simulate_post(f"{BASE}/ingestion/r/_run", json={"parms": {}}), 400, "validation_exception", "$.parms"
    )
    assert_error(
        api.simulate_post(f"{BASE}/ingestion/r/_run", body=b"{", headers={"Content-Type": "application/json"}),
        400,
        "parse_exception",
    )


@pytest.mark.parametrize(
    ("date_format", "letter", "why"),
    [
        ("YYYY-MM-dd", "Y", 'pattern letter "Y" (week-based year; for the calendar year use y) is not supported'),
        ("dd/MM/yyyy hh:mm", "h", 'pattern letter "h" (clock hour 1-12) needs a (AM/PM)'),
        ("yyyy-MM-dd HH:mm zzzz", "z", 'pattern letter "z" (full zone name, zzzz) is not supported'),
        ("yyyy-MM-dd[ HH:mm]", "[", "optional sections [...] are not supported"),
        ("%Y-%m-%d %Q", "%Q", "strptime directive %Q is not supported"),
    ],
)
def test_date_formats_are_checked_before_storing(
    api: testing.TestClient, datasource: None, date_format: str, letter: str, why: str
) -> None:
    good = {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": "yyyy-MM-dd"}}
    bad = {**good, "output": "other", "params": {"format": date_format}}
    body = {"ingest": {**GOOD, "transforms": [good, bad]}}
    error = assert_error(
        api.simulate_put(f"{BASE}/ingestion/dates", json=body),
        400,
        "validation_exception",
        "$.ingest.transforms[1].params.format",
    )
    (entry,) = error["invalid"]
    (rule,) = entry["rules"]
    assert (rule["rule"], rule["params"]) == ("date_format", [letter])
    assert rule["description"].startswith(why)
    assert api.simulate_get(f"{BASE}/ingestion/dates").status_code == 404


def test_java_letters_users_write_are_accepted(api: testing.TestClient, datasource: None) -> None:
    formats = ["dd/MM/yyyy hh:mm a", "yyyy-MM-dd HH:mm:ss z", "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX", "yyyy-DDD VV"]
    transforms = [
        {"input": [{"source": "t"}], "output": f"o{i}", "transform": "date", "params": {"format": f}}
        for i, f in enumerate(formats)
    ]
    assert (
        api.simulate_put(f"{BASE}/ingestion/dates", json={"ingest": {**GOOD, "transforms": transforms}}).status_code
        == 201
    )


def test_a_definition_stored_before_a_stricter_check_still_loads(api: testing.TestClient, runtime) -> None:
    """Schedules and date formats refused today may be stored already: they load, and the schedule fires as it did."""
    body = {
        **{k: v for k, v in GOOD.items() if k not in ("ds_credentials", "es_credentials")},
        "schedule": "0 0 12 ? * 0",  # Quartz numbers days of week 1-7: 0 is refused now
        "transforms": [
            {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": "YYYY-MM-dd"}}
        ],
    }
    definition = IngestBody.model_validate(body, context={"stored": True})
    runtime.ingestion_store.create(Ingestion("old", definition))
    got = api.simulate_get(f"{BASE}/ingestion/old")
    assert got.status_code == 200, got.text
    assert got.json["_source"]["ingest"]["schedule"] == "0 0 12 ? * 0"
    fires = [dt.datetime.fromisoformat(fire) for fire in got.json["next_fire_times"]]
    assert len(fires) == 5 and all(fire.isoweekday() == 7 and fire.hour == 12 for fire in fires)  # croniter's 0
    (hit,) = api.simulate_get(f"{BASE}/ingestion/_search").json["hits"]["hits"]
    assert hit["next_fire_times"] == got.json["next_fire_times"]
