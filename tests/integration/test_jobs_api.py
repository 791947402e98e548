"""Jobs API (SPEC §6): seed-003 contract, job-log search, history, errors report, progress."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import BASE, define, run, slow_table, start, status, wait_final
from tests.support import assert_error, wait_until

pytestmark = pytest.mark.integration

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SEED_TYPES = {
    "version": int,
    "id": str,
    "is_running": bool,
    "is_aborting": bool,
    "start_time": int,
    "end_time": int,
    "infos": str,
    "error": list,
    "state": str,
    "count": int,
    "last_id": str,
}


def check_seed_status(
    envelope: dict[str, Any], job_id: str, *, state: str, infos: str, present: set[str]
) -> dict[str, Any]:
    """The seed-003 envelope and status: exact names, types and values of the seed fields."""
    assert set(envelope) == {"_id", "type", "found", "status"}
    assert (envelope["_id"], envelope["type"], envelope["found"]) == (job_id, "ingestion", True)
    status = envelope["status"]
    for name in present | {"version", "id", "is_running", "infos", "state", "count"}:
        assert name in status, name
        assert isinstance(status[name], SEED_TYPES[name]), (name, status[name])
    for name in set(SEED_TYPES) - present - {"version", "id", "is_running", "infos", "state", "count"}:
        assert name not in status, (name, status)
    assert (status["version"], status["id"], status["state"], status["infos"]) == (1, job_id, state, infos)
    return status


def test_seed_003_contract(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    target = f"{target_prefix}contract"
    slow = slow_table(pg, "s", 2000)
    define(api, pg, "postgres-events", query=slow, target=target, pk_field="id", batch_size=20)
    # running
    start(api, "postgres-events")
    running = wait_until(
        lambda: (
            (e := api.simulate_get(f"{BASE}/jobs/ingestion/postgres-events").json)["status"]["state"] == "running"
            and e["status"].get("count", 0) > 0
            and e
        ),
        timeout=30,
        what="a running status with documents",
    )
    check_seed_status(
        running, "postgres-events", state="running", infos="The job is running.", present={"start_time", "last_id"}
    )
    assert running["status"]["is_running"] is True
    # aborted (seed: is_running false, is_aborting true, end_time, count, last_id kept)
    first = api.simulate_post(f"{BASE}/jobs/ingestion/postgres-events/_abort")
    # The answer waits for the final state, as in seed 003's example (api.abort_wait_s).
    assert first.status_code == 200
    assert (first.json["status"]["state"], first.json["status"]["is_aborting"]) == ("aborted", True)
    final = wait_final(api, "postgres-events")
    again = api.simulate_post(f"{BASE}/jobs/ingestion/postgres-events/_abort")
    assert again.status_code == 200  # idempotent: the same final state
    assert again.json["status"] == final
    envelope = api.simulate_get(f"{BASE}/jobs/ingestion/postgres-events").json
    status_ = check_seed_status(
        envelope,
        "postgres-events",
        state="aborted",
        infos="The job has been aborted.",
        present={"start_time", "end_time", "is_aborting", "last_id"},
    )
    assert (status_["is_running"], status_["is_aborting"]) == (False, True)
    assert status_["count"] == final["count"] > 0 and status_["last_id"] == str(status_["count"])
    # successful
    define(api, pg, "postgres-events", query="SELECT * FROM s ORDER BY id", target=target, pk_field="id")
    run(api, "postgres-events")
    done = check_seed_status(
        api.simulate_get(f"{BASE}/jobs/ingestion/postgres-events").json,
        "postgres-events",
        state="successful",
        infos="The job is done.",
        present={"start_time", "end_time", "last_id"},
    )
    assert (done["is_running"], done["count"], done["last_id"]) == (False, 2000, "2000")
    ended = api.simulate_post(f"{BASE}/jobs/ingestion/postgres-events/_abort")
    assert ended.status_code == 409  # a run that ended otherwise: the conflict carries its final state
    assert ended.json["job"]["status"]["state"] == "successful"
    # error (seed: error messages, count 0, no last_id)
    api.simulate_put(
        f"{BASE}/datasource/down", json={"jdbc": {"url": "jdbc:postgresql://127.0.0.1:1/x?connectTimeout=1"}}
    )
    api.simulate_put(
        f"{BASE}/ingestion/postgres-down",
        json={"ingest": {"datasource": "down", "query": "SELECT 1", "target": target}},
    )
    run(api, "postgres-down")
    failed = check_seed_status(
        api.simulate_get(f"{BASE}/jobs/ingestion/postgres-down").json,
        "postgres-down",
        state="error",
        infos="The job has failed.",
        present={"start_time", "end_time", "error"},
    )
    assert failed["count"] == 0 and all(isinstance(m, str) for m in failed["error"])
    # _search?type=ingestion&id=...&start_time_to=...
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000) + 1000
    result = api.simulate_get(
        f"{BASE}/jobs/_search", params={"type": "ingestion", "id": "postgres-down", "start_time_to": str(now)}
    ).json
    assert set(result) == {"hits"} and set(result["hits"]) == {"total", "hits"}
    assert result["hits"]["total"] == 1
    hit = result["hits"]["hits"][0]
    assert set(hit) == {"_id", "_source"}
    assert re.fullmatch(f"postgres-down{UUID}", hit["_id"])
    assert set(hit["_source"]) == {"ingestion"}
    assert hit["_source"]["ingestion"]["state"] == "error" and hit["_source"]["ingestion"]["id"] == "postgres-down"
    history = api.simulate_get(f"{BASE}/jobs/_search", params={"id": "postgres-events"}).json["hits"]
    assert [h["_source"]["ingestion"]["state"] for h in history["hits"]] == ["successful", "aborted"]  # newest first


def test_job_types_and_active_jobs(
    api: testing.TestClient, pg: Database, index_prefix: str, target_prefix: str
) -> None:
    pg.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    define(api, pg, "a", query="SELECT * FROM t", target=f"{target_prefix}a")
    define(api, pg, "b", query="SELECT * FROM t", target=f"{target_prefix}b")
    start(api, "a")
    start(api, "b")
    api.simulate_post(f"{BASE}/jobs/ingestion/b/_abort")
    types = api.simulate_get(f"{BASE}/jobs").json
    assert types == {"types": [{"name": "ingestion", "queued": 1, "running": 0, "total": 2}]}
    active = api.simulate_get(f"{BASE}/jobs/ingestion").json
    assert active["type"] == "ingestion"
    assert [(j["_id"], j["status"]["state"]) for j in active["jobs"]] == [("a", "queued")]
    assert_error(api.simulate_get(f"{BASE}/jobs/export"), 400, "validation_exception", "type")


def _generate_runs(es: Elasticsearch, index: str, count: int, *, job_id: str = "gen") -> list[dict[str, Any]]:
    """Write ``count`` finished runs straight into the job log (the API is not the subject here)."""
    base = int(dt.datetime(2022, 2, 21, tzinfo=dt.UTC).timestamp() * 1000)
    states = ["successful", "error", "aborted"]
    runs = []
    operations: list[Any] = []
    for i in range(count):
        run_id = f"{job_id}00000000-0000-4000-8000-{i:012d}"
        status = {
            "version": 1,
            "id": job_id if i % 10 else f"{job_id}-other",
            "run_id": run_id,
            "type": "ingestion",
            "is_running": False,
            "state": states[i % 3],
            "count": i,
            "create_time": base + i * 60_000,
            "start_time": base + i * 60_000 + 10,
            "end_time": base + i * 60_000 + 500,
            "infos": "generated",
        }
        runs.append(status)
        operations += [{"index": {"_index": index, "_id": run_id}}, {"ingestion": status}]
    for chunk in range(0, len(operations), 4000):
        resp = es.bulk(operations=operations[chunk : chunk + 4000])
        assert not resp["errors"]
    es.indices.refresh(index=index)
    return runs


def _ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [h["_id"] for h in resp.json["hits"]["hits"]]


def test_search_filters_dates_and_paging(api: testing.TestClient, es: Elasticsearch, runtime) -> None:
    runs = _generate_runs(es, runtime.names.job_log, 60)
    newest_first = sorted(runs, key=lambda r: r["create_time"], reverse=True)
    search = f"{BASE}/jobs/_search"

    def expect(params: dict[str, str], predicate: Any) -> None:
        wanted = [r["run_id"] for r in newest_first if predicate(r)]
        resp = api.simulate_get(search, params={**params, "size": "100"})
        assert _ids(resp) == wanted, params
        assert resp.json["hits"]["total"] == len(wanted)
        body = api.simulate_post(search, json={**params, "size": 100})
        assert _ids(body) == wanted

    expect({"id": "gen"}, lambda r: r["id"] == "gen")
    expect({"id": "gen,gen-other"}, lambda r: True)
    expect({"type": "ingestion"}, lambda r: True)
    expect({"state": "error"}, lambda r: r["state"] == "error")
    expect({"state": "error,aborted"}, lambda r: r["state"] in ("error", "aborted"))
    expect({"ended": "true"}, lambda r: True)
    expect({"ended": "false"}, lambda r: False)
    t10 = runs[10]["start_time"]
    t20 = runs[20]["start_time"]
    expect({"start_time_from": str(t10), "start_time_to": str(t20)}, lambda r: t10 <= r["start_time"] <= t20)
    iso = dt.datetime.fromtimestamp(t10 / 1000, dt.UTC).isoformat()
    expect({"start_time_from": iso}, lambda r: r["start_time"] >= t10)
    expect({"start_time_from": iso.replace("+00:00", "Z")}, lambda r: r["start_time"] >= t10)
    # 20220221 = the whole first day as "to"; 20220221T001500 = 00:15 (runs every minute from midnight)
    expect({"start_time_to": "20220221"}, lambda r: True)
    expect({"start_time_from": "20220221T001500"}, lambda r: r["start_time"] >= runs[15]["start_time"] - 10)
    expect({"start_time_to": "20220220"}, lambda r: False)
    expect(
        {"start_time_from": "2022-02-21T00:30:00", "state": "successful"},
        lambda r: r["start_time"] >= runs[30]["start_time"] - 10 and r["state"] == "successful",
    )
    everything = [r["run_id"] for r in newest_first]
    assert _ids(api.simulate_get(search, params={"from": "5", "size": "7"})) == everything[5:12]
    assert _ids(api.simulate_get(search, params={"start": "5", "count": "7"})) == everything[5:12]
    assert _ids(api.simulate_post(search, json={"start": 5, "count": 7})) == everything[5:12]
    assert len(_ids(api.simulate_get(search))) == 10  # default page size


@pytest.mark.parametrize(
    ("params", "entry"),
    [
        ({"state": "running,flying"}, "state"),
        ({"type": "export"}, "type"),
        ({"start_time_from": "yesterday"}, "start_time_from"),
        ({"start_time_to": "20221341"}, "start_time_to"),
        ({"start_time_from": "20220222", "start_time_to": "20220221"}, "start_time_from"),
        ({"ended": "maybe"}, "ended"),
        ({"size": "5000"}, "size"),
        ({"size": "-1"}, "size"),
        ({"from": "x"}, "from"),
        ({"from": "1", "start": "2"}, "start"),
        ({"sort": "asc"}, "sort"),
    ],
)
def test_search_bad_parameters(api: testing.TestClient, params: dict[str, str], entry: str) -> None:
    assert_error(api.simulate_get(f"{BASE}/jobs/_search", params=params), 400, "validation_exception", entry)


@pytest.mark.parametrize(
    ("body", "entry"),
    [
        ({"state": 3}, "state"),
        ({"ended": "yes"}, "ended"),
        ({"size": "10"}, "$.size"),
        ({"filter": 1}, "$.filter"),
        ([], "$"),
    ],
)
def test_search_bad_bodies(api: testing.TestClient, body: Any, entry: str) -> None:
    assert_error(api.simulate_post(f"{BASE}/jobs/_search", json=body), 400, "validation_exception", entry)


@pytest.mark.slow
def test_deep_paging_past_the_result_window(api: testing.TestClient, es: Elasticsearch, runtime) -> None:
    runs = _generate_runs(es, runtime.names.job_log, 10_050)
    newest_first = [r["run_id"] for r in sorted(runs, key=lambda r: r["create_time"], reverse=True)]
    resp = api.simulate_get(f"{BASE}/jobs/_search", params={"from": "10020", "size": "25"})
    assert _ids(resp) == newest_first[10020:10045]
    assert resp.json["hits"]["total"] == 10_050
    tail = api.simulate_post(f"{BASE}/jobs/_search", json={"start": 10040, "count": 100})
    assert _ids(tail) == newest_first[10040:]
    filtered = api.simulate_get(f"{BASE}/jobs/_search", params={"state": "error", "from": "3340", "size": "10"})
    assert _ids(filtered) == [r for r in newest_first if int(r[-12:]) % 3 == 1][3340:3350]


def test_run_history_and_errors_report(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    sqlite_db.execute("CREATE TABLE m (id INTEGER, n TEXT)")
    sqlite_db.execute("INSERT INTO m VALUES (1, '1'), (2, 'two'), (3, '3'), (NULL, '4'), (5, 'five, \"quoted\"')")
    define(
        api,
        sqlite_db,
        "rep",
        query="SELECT * FROM m",
        target=f"{target_prefix}rep",
        pk_field="id",
        mapping={"properties": {"n": {"type": "long"}}},
        max_error_ratio=1.0,
    )
    first = run(api, "rep")
    second = run(api, "rep")
    assert first["error_count"] == second["error_count"] == 3
    one = api.simulate_get(f"{BASE}/jobs/ingestion/rep/_runs/{first['run_id']}")
    assert one.json["status"]["run_id"] == first["run_id"] and one.json["found"] is True
    assert_error(
        api.simulate_get(f"{BASE}/jobs/ingestion/other/_runs/{first['run_id']}"), 404, "resource_not_found_exception"
    )
    assert_error(api.simulate_get(f"{BASE}/jobs/ingestion/rep/_runs/rep-missing"), 404, "resource_not_found_exception")
    report = api.simulate_get(first["links"]["errors"])
    assert report.status_code == 200
    assert report.headers["content-type"] == "application/x-ndjson"
    assert report.headers["content-disposition"] == f'attachment; filename="{first["run_id"]}-errors.ndjson"'
    lines = [orjson.loads(line) for line in report.text.splitlines()]
    assert [(r["seq"], r["pk"], r["error_type"]) for r in lines] == [
        (0, None, "invalid_primary_key"),
        (1, "2", "mapper_parsing_exception"),
        (2, "5", "mapper_parsing_exception"),
    ]
    assert lines[0]["field"] == "id" and "NULL" in lines[0]["reason"]
    assert [r["field"] for r in lines[1:]] == ["n", "n"]  # the field Elasticsearch refused, from its reason
    as_csv = api.simulate_get(first["links"]["errors"], params={"format": "csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"].endswith('-errors.csv"')
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["seq"], r["pk"], r["error_type"]) for r in rows] == [
        ("0", "", "invalid_primary_key"),
        ("1", "2", "mapper_parsing_exception"),
        ("2", "5", "mapper_parsing_exception"),
    ]
    assert '"quoted"' in rows[2]["reason"] or "five" in rows[2]["reason"]
    assert_error(
        api.simulate_get(first["links"]["errors"], params={"format": "xml"}), 400, "validation_exception", "format"
    )


def test_progress_and_eta_while_running(
    api: testing.TestClient, worker, pg: Database, index_prefix: str, target_prefix: str
) -> None:
    slow = slow_table(pg, "s", 2000)
    define(
        api,
        pg,
        "eta",
        query=slow,
        target=f"{target_prefix}eta",
        pk_field="id",
        batch_size=20,
    )
    start(api, "eta")
    seen = wait_until(
        lambda: (
            (s := status(api, "eta")).get("estimated_time_remaining") is not None and s.get("count", 0) >= 100 and s
        ),
        timeout=30,
        what="progress with an ETA",
    )
    assert seen["total"] == 2000  # the planner's estimate of an analyzed table is exact here
    assert seen["progress"] == pytest.approx(seen["count"] / 2000, abs=0.1)
    remaining_rows = 2000 - seen["count"]
    # 0.2 s per 100 rows: about 2 ms per remaining row; allow a wide band.
    assert 0.0005 * remaining_rows * 1000 <= seen["estimated_time_remaining"] <= 0.02 * remaining_rows * 1000
    eta = dt.datetime.fromisoformat(seen["eta"].replace("Z", "+00:00"))
    now = dt.datetime.now(dt.UTC)
    assert now - dt.timedelta(seconds=5) < eta < now + dt.timedelta(seconds=60)
    final = wait_final(api, "eta")
    assert (final["state"], final["progress"], final["total"], final["estimated_time_remaining"]) == (
        "successful",
        1.0,
        2000,
        0,
    )
    assert "eta" not in final
