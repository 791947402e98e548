"""Ingestion runs end to end: HTTP API → queued run → worker → SQL → Elasticsearch-API server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import (
    BASE,
    bookkeeping,
    count,
    define,
    ids,
    raw_source,
    run,
    slow_table,
    start,
    status,
    wait_final,
    worker_rendering,
)
from tests.support import assert_error, wait_until

pytestmark = pytest.mark.integration


def _items(db: Database, rows: int, *, start_id: int = 1) -> None:
    if start_id == 1:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INTEGER)")
    values = ", ".join(f"({i}, 'item {i}', {i % 7})" for i in range(start_id, start_id + rows))
    db.execute(f"INSERT INTO items VALUES {values}")


@pytest.mark.parametrize("strategy", ["REPLACE", "INCREMENTAL"])
def test_rows_equal_documents_equal_count(
    api: testing.TestClient,
    worker,
    any_db: Database,
    es: Elasticsearch,
    index_prefix: str,
    strategy: str,
    target_prefix: str,
) -> None:
    _items(any_db, 237)
    target = f"{target_prefix}items"
    define(
        api,
        any_db,
        "items",
        query="SELECT * FROM items",
        target=target,
        strategy=strategy,
        pk_field="id",
        batch_size=50,
    )
    final = run(api, "items")
    assert final["state"] == "successful", final.get("error")
    assert final["count"] == 237 == count(es, target) == any_db.scalar("SELECT count(*) FROM items")
    assert final["error_count"] == 0
    assert final["is_running"] is False
    assert final["end_time"] >= final["start_time"] >= final["create_time"]
    assert final["worker"] == "test-worker"
    assert final["progress"] == 1.0
    assert ids(es, target) == sorted(str(i) for i in range(1, 238))
    doc = es.get(index=target, id="42")["_source"]
    assert doc == {"id": 42, "name": "item 42", "qty": 0}


def test_incremental_second_run_reads_only_new_rows(
    api: testing.TestClient, worker, any_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    _items(any_db, 100)
    target = f"{target_prefix}inc"
    query = "SELECT * FROM items {{#max_primary_key}}WHERE id > {{max_primary_key}}{{/max_primary_key}} ORDER BY id"
    define(api, any_db, "inc", query=query, target=target, strategy="INCREMENTAL", pk_field="id", batch_size=40)
    first = run(api, "inc")
    assert (first["state"], first["count"], first["last_id"]) == ("successful", 100, "100")
    _items(any_db, 30, start_id=101)
    any_db.execute("UPDATE items SET name = 'changed' WHERE id = 5")  # below the maximum: not re-read
    second = run(api, "inc")
    assert (second["state"], second["count"], second["last_id"]) == ("successful", 30, "130")
    assert count(es, target) == 130
    assert es.get(index=target, id="5")["_source"]["name"] == "item 5"
    assert first["run_id"] != second["run_id"]


def test_replace_swaps_alias_and_drops_the_old_index(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    _items(pg, 60)
    target = f"{target_prefix}swap"
    define(api, pg, "swap", query="SELECT * FROM items", target=target, pk_field="id", batch_size=25)
    first = run(api, "swap")
    old_index = first["staging_index"]
    assert list(es.indices.get_alias(name=target)) == [old_index]
    pg.execute("DELETE FROM items WHERE id > 10")
    second = run(api, "swap")
    assert second["count"] == 10
    assert list(es.indices.get_alias(name=target)) == [second["staging_index"]]
    assert not es.indices.exists(index=old_index)
    assert count(es, target) == 10


def test_replace_over_a_concrete_index(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    target = f"{target_prefix}concrete"
    es.indices.create(index=target)
    es.index(index=target, id="stale", document={"x": 1}, refresh=True)
    _items(sqlite_db, 5)
    define(api, sqlite_db, "concrete", query="SELECT * FROM items", target=target, pk_field="id")
    final = run(api, "concrete")
    assert final["state"] == "successful", final.get("error")
    assert list(es.indices.get_alias(name=target)) == [final["staging_index"]]
    assert ids(es, target) == ["1", "2", "3", "4", "5"]


def test_replace_target_untouched_while_loading_and_after_a_failure(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, index_prefix: str, target_prefix: str, runtime
) -> None:
    slow = slow_table(pg, "items", 2000)
    target = f"{target_prefix}safe"
    define(api, pg, "safe", query="SELECT * FROM items WHERE id <= 40", target=target, pk_field="id", batch_size=20)
    assert run(api, "safe")["count"] == 40
    # Slow, then a division by zero at id 1500, after many batches.
    failing = slow.replace("SELECT id, name,", "SELECT id, name, 100 / (1500 - id) AS ratio,")
    define(api, pg, "safe", query=failing, target=target, pk_field="id", batch_size=20)
    start(api, "safe")
    loading = wait_until(lambda: (s := status(api, "safe")).get("count", 0) >= 40 and s, timeout=30, what="batches")
    staging = loading["staging_index"]
    assert count(es, staging) >= 40
    assert count(es, target) == 40  # searches still see the old documents
    final = wait_final(api, "safe")
    assert final["state"] == "error"
    assert final["error"][0] == "Could not execute datasource query of [safe]."
    assert "division by zero" in final["error"][1]
    assert 1000 <= final["count"] < 1500
    assert count(es, target) == 40
    assert list(es.indices.get_alias(name=target)) != [staging]
    # The staging index is kept (not live) so that _run?resume=true can continue from the checkpoint...
    assert bookkeeping(runtime, final).staging_kept is True and es.indices.exists(index=staging)
    checkpoint = bookkeeping(runtime, final).checkpoint
    assert checkpoint["pk"] == checkpoint["count"] == final["count"]
    # ...and a new run from the start drops it.
    define(api, pg, "safe", query="SELECT * FROM items WHERE id <= 200", target=target, pk_field="id", batch_size=50)
    again = run(api, "safe")
    assert (again["state"], again["count"]) == ("successful", 200)
    assert not es.indices.exists(index=staging)
    assert count(es, target) == 200
    assert not bookkeeping(runtime, status_of_run(api, final)).staging_kept


def status_of_run(api: testing.TestClient, run: dict) -> dict:
    return api.simulate_get(run["links"]["self"]).json["status"]


def test_abort_while_loading(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, index_prefix: str, target_prefix: str, runtime
) -> None:
    slow = slow_table(pg, "items", 2000)
    target = f"{target_prefix}abort"
    define(api, pg, "abort", query=slow, target=target, pk_field="id", batch_size=20)
    start(api, "abort")
    loading = wait_until(
        lambda: (s := status(api, "abort")).get("count", 0) >= 20 and s, timeout=30, what="first batch"
    )
    aborting = api.simulate_post(f"{BASE}/jobs/ingestion/abort/_abort")
    assert aborting.status_code == 200, aborting.text
    assert aborting.json["status"]["is_aborting"] is True
    assert aborting.json["status"]["state"] in ("aborting", "aborted")
    again = api.simulate_post(f"{BASE}/jobs/ingestion/abort/_abort")
    assert again.status_code == 200
    final = wait_final(api, "abort", timeout=20)
    assert final["state"] == "aborted"
    assert final["is_aborting"] is True and final["is_running"] is False
    assert final["end_time"] and final["count"] < 2000
    # Stopped within one batch plus a status interval (1 s: up to ~500 rows at this pace).
    assert final["count"] - loading["count"] <= 600
    assert final["last_id"] == str(final["count"])
    assert not es.indices.exists(index=target)  # REPLACE: nothing swapped in
    assert bookkeeping(runtime, final).staging_kept is True and es.indices.exists(index=loading["staging_index"])
    assert api.simulate_post(f"{BASE}/jobs/ingestion/abort/_abort").json["status"] == final  # idempotent
    # Resume: rows above the checkpoint only, into the kept staging index; exact in the end.
    define(api, pg, "abort", query="SELECT * FROM items", target=target, pk_field="id", batch_size=500)
    resumed = api.simulate_post(f"{BASE}/ingestion/abort/_run", params={"resume": "true"})
    assert resumed.status_code == 202, resumed.text
    assert resumed.json["status"]["resume_of"] == final["run_id"]
    done = wait_final(api, "abort")
    assert (done["state"], done["count"], done["last_id"]) == ("successful", 2000, "2000")
    assert done["staging_index"] == final["staging_index"]
    assert ids(es, target) == sorted(str(i) for i in range(1, 2001))


def test_abort_a_queued_run(api: testing.TestClient, any_db: Database, index_prefix: str, target_prefix: str) -> None:
    _items(any_db, 3)
    define(api, any_db, "queued", query="SELECT * FROM items", target=f"{target_prefix}q", pk_field="id")
    start(api, "queued")
    conflict = assert_error(api.simulate_post(f"{BASE}/ingestion/queued/_run"), 409, "resource_conflict_exception")
    assert "already has a queued run" in conflict["reason"]
    aborted = api.simulate_post(f"{BASE}/jobs/ingestion/queued/_abort").json["status"]
    assert (aborted["state"], aborted["is_aborting"], aborted["is_running"]) == ("aborted", True, False)
    assert aborted["end_time"]
    assert start(api, "queued")["status"]["state"] == "queued"  # a new run may be queued now


def test_rejected_rows_are_counted_and_recorded(
    api: testing.TestClient,
    worker,
    sqlite_db: Database,
    es: Elasticsearch,
    index_prefix: str,
    runtime,
    target_prefix: str,
) -> None:
    sqlite_db.execute("CREATE TABLE m (id INTEGER, n TEXT)")
    sqlite_db.execute("INSERT INTO m VALUES (1, '10'), (2, 'abc'), (3, '30'), (4, 'x4'), (5, '50'), (NULL, '60')")
    target = f"{target_prefix}rej"
    define(
        api,
        sqlite_db,
        "rej",
        query="SELECT rowid AS rid, id, n FROM m ORDER BY rowid",
        target=target,
        pk_field="id",
        mapping={"properties": {"n": {"type": "integer"}}},
        max_error_ratio=0.6,
        batch_size=4,
    )
    final = run(api, "rej")
    assert final["state"] == "successful", final.get("error")
    assert (final["count"], final["error_count"]) == (3, 3)
    assert ids(es, target) == ["1", "3", "5"]
    es.indices.refresh(index=runtime.names.job_errors)
    errors = es.search(
        index=runtime.names.job_errors, query={"term": {"run_id": final["run_id"]}}, sort=[{"seq": "asc"}]
    )
    recorded = [(h["_source"]["pk"], h["_source"]["error_type"]) for h in errors["hits"]["hits"]]
    assert sorted(recorded, key=str) == sorted(
        [("2", "mapper_parsing_exception"), ("4", "mapper_parsing_exception"), (None, "invalid_primary_key")], key=str
    )


def test_rejections_above_the_ratio_fail_the_run(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    sqlite_db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, n TEXT)")
    sqlite_db.execute("INSERT INTO m VALUES (1, '10'), (2, 'abc')")
    target = f"{target_prefix}ratio"
    define(
        api,
        sqlite_db,
        "ratio",
        query="SELECT * FROM m",
        target=target,
        pk_field="id",
        mapping={"properties": {"n": {"type": "integer"}}},
    )
    final = run(api, "ratio")
    assert final["state"] == "error"
    assert "above max_error_ratio" in final["error"][1]
    assert not es.indices.exists(index=target)


def test_hostile_run_params_are_bound(
    api: testing.TestClient, worker, any_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    _items(any_db, 10)
    target = f"{target_prefix}params"
    define(
        api,
        any_db,
        "params",
        query="SELECT * FROM items WHERE name = '{{name}}' OR id = {{params.id}}",
        target=target,
        pk_field="id",
    )
    final = run(api, "params", {"name": "x' OR '1'='1", "id": 3})
    assert (final["state"], final["count"]) == ("successful", 1), final
    assert final["params"] == {"name": "x' OR '1'='1", "id": 3}
    assert any_db.scalar("SELECT count(*) FROM items") == 10


def test_transforms(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    sqlite_db.execute(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, lat REAL, lon REAL, first TEXT, last TEXT, tags TEXT, born TEXT, score TEXT)"
    )
    sqlite_db.execute(
        "INSERT INTO p VALUES (1, 53.27, -9.05, 'Ada', 'Lovelace', 'math, poetry', '10/12/1815 08:30', '7')"
    )
    target = f"{target_prefix}tx"
    transforms = [
        {"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"},
        {
            "input": [{"source": "first"}, {"value": " "}, {"source": "last"}],
            "output": "full_name",
            "transform": "concat",
        },
        {"input": [{"source": "tags"}], "output": "tag_list", "transform": "split", "params": {"separator": ","}},
        {
            "input": [{"source": "born"}],
            "output": "born_at",
            "transform": "date",
            "params": {"format": "dd/MM/yyyy HH:mm"},
        },
        {"input": [{"source": "score"}], "output": "score_n", "transform": "cast", "params": {"type": "long"}},
        {"input": [{"source": "id"}], "output": "key", "mapping": {"type": "keyword"}},
    ]
    define(api, sqlite_db, "tx", query="SELECT * FROM p", target=target, pk_field="id", transforms=transforms)
    assert run(api, "tx")["state"] == "successful"
    doc = es.get(index=target, id="1")["_source"]
    assert doc["location"] == {"lat": 53.27, "lon": -9.05}
    assert doc["full_name"] == "Ada Lovelace"
    assert doc["tag_list"] == ["math", "poetry"]
    assert doc["born_at"] == "1815-12-10T08:30:00+00:00"
    assert doc["score_n"] == 7 and doc["key"] == "1"
    mapping = es.indices.get_mapping(index=target)
    properties = next(iter(mapping.values()))["mappings"]["properties"]
    assert properties["location"]["type"] == "geo_point"
    assert properties["born_at"]["type"] == "date"
    assert properties["key"]["type"] == "keyword"


def test_postgresql_types_round_trip(
    api: testing.TestClient,
    worker,
    pg: Database,
    es: Elasticsearch,
    es_url: str,
    index_prefix: str,
    target_prefix: str,
    runtime,
) -> None:
    pg.execute(
        "CREATE TABLE t (id bigint PRIMARY KEY, n numeric(30,10), f double precision, r real, d date, ts timestamp,"
        " tstz timestamptz, tm time, iv interval, u uuid, b bytea, arr int[], tarr text[], j json, jb jsonb,"
        " flag boolean, nul text, txt text, big bigint)"
    )
    pg.execute(
        "INSERT INTO t VALUES (1, 12345678901234567890.0123456789, 'NaN', 1.5, '2024-02-29', '2024-01-02 03:04:05.123456',"
        " '2024-01-02 03:04:05+02', '12:34:56', '1 day 02:03:04', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff',"
        " '{1,2,3}', '{a,b}', '{\"k\": [1, 2]}', '{\"x\": {\"y\": true}}', true, NULL, 'héllo ✓', 9007199254740993)"
    )
    target = f"{target_prefix}pgtypes"
    define(api, pg, "pgtypes", query="SELECT * FROM t", target=target, pk_field="id")
    final = run(api, "pgtypes")
    assert final["state"] == "successful"
    assert (
        bookkeeping(runtime, final).server_rendering is True
    )  # PostgreSQL rendered these documents (ingestion/source/sql_json.py)
    doc = raw_source(es_url, target, "1")
    assert doc["n"] == Decimal("12345678901234567890.0123456789")
    assert doc["f"] is None and doc["r"] == Decimal("1.5")
    assert doc["d"] == "2024-02-29"
    assert doc["ts"] == "2024-01-02T03:04:05.123456+00:00"
    assert dt.datetime.fromisoformat(doc["tstz"]) == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert doc["tm"] == "12:34:56"
    assert doc["iv"] == "P1DT2H3M4S"
    assert doc["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert doc["b"] == "AP8="
    assert doc["arr"] == [1, 2, 3] and doc["tarr"] == ["a", "b"]
    assert doc["j"] == {"k": [1, 2]} and doc["jb"] == {"x": {"y": True}}
    assert doc["flag"] is True and doc["nul"] is None and doc["txt"] == "héllo ✓"
    assert doc["big"] == 9007199254740993


def test_postgresql_types_rendered_in_python_when_needed(
    api: testing.TestClient,
    worker,
    pg: Database,
    es: Elasticsearch,
    es_url: str,
    index_prefix: str,
    target_prefix: str,
    runtime,
) -> None:
    """A column type PostgreSQL cannot render like the Python path (a range): the Python path does it all."""
    pg.execute("CREATE TABLE r (id int PRIMARY KEY, span int4range, n numeric, ts timestamp)")
    pg.execute("INSERT INTO r VALUES (1, '[2,5)', 1.50, '2024-07-01 12:00:00'), (2, NULL, 'NaN', NULL)")
    target = f"{target_prefix}pgrange"
    api.simulate_put(f"{BASE}/datasource/paris", json={"jdbc": {"url": pg.jdbc_url, "timezone": "Europe/Paris"}})
    define(api, pg, "pgrange", datasource="paris", query="SELECT * FROM r", target=target, pk_field="id")
    final = run(api, "pgrange")
    assert (final["state"], final["count"]) == ("successful", 2)
    assert not bookkeeping(runtime, final).server_rendering
    assert raw_source(es_url, target, "1") == {
        "id": 1,
        "span": {"gte": 2, "lt": 5},
        "n": Decimal("1.50"),
        "ts": "2024-07-01T12:00:00+02:00",
    }
    assert raw_source(es_url, target, "2") == {"id": 2, "span": None, "n": None, "ts": None}
    # Without the range, the same values rendered by PostgreSQL come out identical.
    define(api, pg, "pgrange", datasource="paris", query="SELECT id, n, ts FROM r", target=target, pk_field="id")
    rendered = run(api, "pgrange")
    assert bookkeeping(runtime, rendered).server_rendering is True
    assert raw_source(es_url, target, "1") == {"id": 1, "n": Decimal("1.50"), "ts": "2024-07-01T12:00:00+02:00"}
    assert raw_source(es_url, target, "2") == {"id": 2, "n": None, "ts": None}


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris"])
def test_time_with_time_zone(
    api: testing.TestClient,
    worker,
    pg: Database,
    es: Elasticsearch,
    es_url: str,
    index_prefix: str,
    timezone: str,
    target_prefix: str,
) -> None:
    """timetz has no SQL rendering here: the Python path writes it with its offset, in any datasource zone."""
    pg.execute("CREATE TABLE tz (id int PRIMARY KEY, t timetz)")
    pg.execute("INSERT INTO tz VALUES (1, '10:30:00+02'), (2, NULL)")
    api.simulate_put(f"{BASE}/datasource/tz", json={"jdbc": {"url": pg.jdbc_url, "timezone": timezone}})
    sample = api.simulate_post(f"{BASE}/datasource/tz/_sample", json={"query": "SELECT * FROM tz ORDER BY id"})
    assert sample.status_code == 200, sample.text
    assert [row["t"] for row in sample.json["rows"]] == ["10:30:00+02:00", None]
    target = f"{target_prefix}timetz"
    define(api, pg, "timetz", datasource="tz", query="SELECT * FROM tz", target=target, pk_field="id")
    final = run(api, "timetz")
    assert (final["state"], final["count"]) == ("successful", 2), final.get("error")
    assert raw_source(es_url, target, "1") == {"id": 1, "t": "10:30:00+02:00"}
    assert raw_source(es_url, target, "2") == {"id": 2, "t": None}


def test_transforms_rendered_by_postgresql_match_the_python_path(
    api: testing.TestClient,
    worker,
    pg: Database,
    es: Elasticsearch,
    es_url: str,
    index_prefix: str,
    target_prefix: str,
    runtime,
) -> None:
    pg.execute("CREATE TABLE g (id int PRIMARY KEY, lat float8, lon numeric, day text, r real, span int4range)")
    pg.execute(
        "INSERT INTO g VALUES (1, 53.27, -9.05, '2024-02-29 08:30:00', 0.1, NULL), (2, 'NaN', 1, '2024-01-01 00:00:00', 0.1, NULL),"
        " (3, NULL, 1, NULL, NULL, NULL), (4, 95, 1, '2024-01-01 00:00:00', 0.1, NULL), (5, 1, 1, '2024-13-01 00:00:00', 0.1, NULL),"
        " (6, 1, 1e400, '2024-01-01 00:00:00', 0.1, NULL)"  # beyond a double: that row refused, the query goes on
    )
    transforms = [
        {"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"},
        {"input": [{"source": "r"}, {"source": "r"}], "output": "small", "transform": "geo_point"},
        {
            "input": [{"source": "day"}],
            "output": "day",
            "transform": "date",
            "params": {"format": "yyyy-MM-dd HH:mm:ss"},
        },
    ]
    documents = {}
    for name, columns in (("rendered", "id, lat, lon, day, r"), ("python", "id, lat, lon, day, r, span")):
        target = f"{target_prefix}{name}"
        define(
            api,
            pg,
            name,
            query=f"SELECT {columns} FROM g",
            target=target,
            pk_field="id",
            transforms=transforms,
            max_error_ratio=1.0,
        )
        final = run(api, name)
        assert (final["state"], bookkeeping(runtime, final).server_rendering) == ("successful", name == "rendered")
        # Row 4 (latitude 95) is refused by the mapping or the transform; row 5 (month 13) by the date
        # transform; row 6 by the double mapping of lon.
        assert (final["count"], final["error_count"]) == (3, 3)
        documents[name] = {
            i: {k: v for k, v in raw_source(es_url, target, i).items() if k != "span"} for i in ("1", "2", "3")
        }
    assert documents["rendered"] == documents["python"]
    assert documents["rendered"]["1"] == {
        "id": 1,
        "lat": Decimal("53.27"),
        "lon": Decimal("-9.05"),
        "day": "2024-02-29T08:30:00+00:00",
        "r": Decimal("0.1"),  # a real as PostgreSQL shows it, not widened to 0.10000000149011612
        "location": {"lat": Decimal("53.27"), "lon": Decimal("-9.05")},
        "small": {"lat": Decimal("0.1"), "lon": Decimal("0.1")},
    }
    assert [documents["rendered"][i]["location"] for i in ("2", "3")] == [None, None]


def test_iso_dates_checked_per_batch_match_the_python_path(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, runtime, index_prefix: str, target_prefix: str
) -> None:
    """On the rendered path ISO-shaped dates in UTC are checked per batch and rearranged; other rows are parsed."""
    pg.execute("CREATE TABLE dd (id int PRIMARY KEY, d1 text, d2 varchar(40), span int4range)")
    rows = [
        (1, "2024-02-29 08:30:00", "2024-07-14"),
        (2, "2024-02-30 00:00:00", "2024-07-14"),  # the shape, not a day: rejected by d1
        (3, " 2024-01-01 00:00:00 ", "2024-07-14"),  # not the shape: the parser trims it
        (4, None, None),
        (5, "2024-1-5 3:04:05", "2024-07-14"),  # the parser reads single digits
        (6, "2024-01-01 00:00:00", "garbage"),  # rejected by d2_at
        (7, "2024-01-01 00:00:00", "\uff12\uff10\uff12\uff14-01-01"),  # non-ASCII digits: refused by d2_at
        (8, "9999-12-31 23:59:59", "0001-01-01"),
        (9, "2024-01-01 24:00:00", "2024-13-01"),  # both refused; the first transform's error is reported
    ]
    pg.execute(
        "INSERT INTO dd VALUES "
        + ", ".join(f"({i}, {_sql_text(a)}, {_sql_text(b)}, NULL)" for i, a, b in rows)
        + ", ".join([""] + [f"({i}, '2024-03-01 10:00:00', '2024-03-01', NULL)" for i in range(10, 30)])
    )
    transforms = [
        {"input": [{"source": "d1"}], "output": "d1", "transform": "date", "params": {"format": "yyyy-MM-dd HH:mm:ss"}},
        {"input": [{"source": "d2"}], "output": "d2_at", "transform": "date", "params": {"format": "yyyy-MM-dd"}},
    ]
    documents, rejected = {}, {}
    for name, columns in (("rendered", "id, d1, d2"), ("python", "id, d1, d2, span")):
        target = f"{target_prefix}dd{name}"
        define(api, pg, f"dd{name}", query=f"SELECT {columns} FROM dd", target=target, pk_field="id",
               transforms=transforms, max_error_ratio=1.0, batch_size=7)  # fmt: skip
        final = run(api, f"dd{name}")
        assert (final["state"], bookkeeping(runtime, final).server_rendering) == ("successful", name == "rendered")
        assert (final["count"], final["error_count"]) == (25, 4)
        es.indices.refresh(index=target)
        hits = es.search(index=target, size=100)["hits"]["hits"]
        documents[name] = {h["_id"]: {k: v for k, v in h["_source"].items() if k != "span"} for h in hits}
        es.indices.refresh(index=runtime.names.job_errors)
        errors = es.search(index=runtime.names.job_errors, query={"term": {"run_id": final["run_id"]}}, size=10)
        rejected[name] = sorted((h["_source"]["pk"], h["_source"]["field"]) for h in errors["hits"]["hits"])
    assert documents["rendered"] == documents["python"]
    assert rejected["rendered"] == rejected["python"] == [("2", "d1"), ("6", "d2_at"), ("7", "d2_at"), ("9", "d1")]
    expected = {
        "1": ("2024-02-29T08:30:00+00:00", "2024-07-14T00:00:00+00:00"),
        "3": ("2024-01-01T00:00:00+00:00", "2024-07-14T00:00:00+00:00"),
        "4": (None, None),
        "5": ("2024-01-05T03:04:05+00:00", "2024-07-14T00:00:00+00:00"),
        "8": ("9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00"),
        "10": ("2024-03-01T10:00:00+00:00", "2024-03-01T00:00:00+00:00"),
    }
    assert {i: (documents["rendered"][i]["d1"], documents["rendered"][i]["d2_at"]) for i in expected} == expected


def _sql_text(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


@pytest.mark.parametrize("server_rendering", [True, False])
@pytest.mark.parametrize("timezone", ["Europe/Paris", "Etc/GMT-1"])
def test_mariadb_types_round_trip(
    api: testing.TestClient,
    runtime,
    mariadb: Database,
    es: Elasticsearch,
    es_url: str,
    index_prefix: str,
    target_prefix: str,
    server_rendering: bool,
    timezone: str,
) -> None:
    """The same documents whether MariaDB renders them (a fixed-offset zone) or Python converts the rows."""
    mariadb.execute(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, n DECIMAL(30,10), f DOUBLE, d DATE, ts DATETIME(6), tm TIME, b BLOB,"
        " flag BOOLEAN, e ENUM('red','green'), nul TEXT NULL, txt VARCHAR(20))"
    )
    mariadb.execute(
        "INSERT INTO t VALUES (1, 12345678901234567890.0123456789, 2.5, '2024-02-29', '2024-01-02 03:04:05.123456',"
        " '-01:02:03', x'00ff', TRUE, 'green', NULL, 'héllo ✓')"
    )
    target = f"{target_prefix}mytypes"
    api.simulate_put(f"{BASE}/datasource/my", json={"jdbc": {"url": mariadb.jdbc_url, "timezone": timezone}})
    define(api, mariadb, "mytypes", datasource="my", query="SELECT * FROM t", target=target, pk_field="id")
    with worker_rendering(runtime, server_rendering=server_rendering):
        final = run(api, "mytypes")
    assert final["state"] == "successful"
    # Europe/Paris has two offsets: its DATETIMEs are read in Python (ingestion/source/sql_json_mysql.py).
    assert bookkeeping(runtime, final).server_rendering is (server_rendering and timezone == "Etc/GMT-1")
    doc = raw_source(es_url, target, "1")
    assert doc["n"] == Decimal("12345678901234567890.0123456789")
    assert doc["f"] == Decimal("2.5") and doc["d"] == "2024-02-29"
    assert doc["ts"] == "2024-01-02T03:04:05.123456+01:00"  # DATETIME read in the datasource time zone
    assert doc["tm"] == "-01:02:03"
    assert doc["b"] == "AP8=" and doc["flag"] == 1 and doc["e"] == "green"
    assert doc["nul"] is None and doc["txt"] == "héllo ✓"


def test_sqlite_types_round_trip(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, nul TEXT)")
    sqlite_db.execute("INSERT INTO t VALUES (1, -5, 2.25, 'héllo', x'00ff', NULL)")
    target = f"{target_prefix}sltypes"
    define(api, sqlite_db, "sltypes", query="SELECT * FROM t", target=target, pk_field="id")
    assert run(api, "sltypes")["state"] == "successful"
    assert es.get(index=target, id="1")["_source"] == {
        "id": 1,
        "i": -5,
        "r": 2.25,
        "s": "héllo",
        "b": "AP8=",
        "nul": None,
    }


def test_without_pk_field_every_row_is_a_document(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    sqlite_db.execute("CREATE TABLE dup (v TEXT)")
    sqlite_db.execute("INSERT INTO dup VALUES ('a'), ('a'), ('b')")
    target = f"{target_prefix}nopk"
    define(api, sqlite_db, "nopk", query="SELECT v FROM dup", target=target)
    final = run(api, "nopk")
    assert (final["state"], final["count"]) == ("successful", 3)
    assert count(es, target) == 3


def test_database_down_is_a_clean_error(api: testing.TestClient, worker, index_prefix: str, target_prefix: str) -> None:
    api.simulate_put(
        f"{BASE}/datasource/down", json={"jdbc": {"url": "jdbc:postgresql://127.0.0.1:1/none?connectTimeout=1"}}
    )
    api.simulate_put(
        f"{BASE}/ingestion/down",
        json={"ingest": {"datasource": "down", "query": "SELECT 1 AS id", "target": f"{target_prefix}down"}},
    )
    final = run(api, "down")
    assert final["state"] == "error"
    assert final["error"][0] == "Could not connect to the datasource of [down]."
    assert "127.0.0.1" in final["error"][1]


def test_validate_is_a_dry_run(
    api: testing.TestClient, sqlite_db: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    _items(sqlite_db, 20)
    target = f"{target_prefix}dry"
    define(
        api,
        sqlite_db,
        "dry",
        query="SELECT * FROM items{{#params.max}} WHERE id <= {{params.max}}{{/params.max}}",
        target=target,
        pk_field="id",
        transforms=[
            {"input": [{"source": "qty"}], "output": "qty_text", "transform": "cast", "params": {"type": "keyword"}}
        ],
        mapping={"properties": {"nothing": {"type": "keyword"}}},
    )
    resp = api.simulate_post(f"{BASE}/ingestion/dry/_validate", json={"size": 3, "params": {"max": 2}})
    assert resp.status_code == 200, resp.text
    body = resp.json
    assert body["valid"] is True
    assert body["query"] == {"sql": "SELECT * FROM items WHERE id <= :p0", "params": {"p0": 2}}
    assert [d["_id"] for d in body["documents"]] == ["1", "2"]
    assert body["documents"][0]["_source"]["qty_text"] == "1"
    assert body["mapping"]["properties"]["nothing"] == {"type": "keyword"}
    assert body["warnings"] == ["mapping field [nothing] is never produced by the query or transforms"]
    assert not es.indices.exists(index=target)
    assert api.simulate_get(f"{BASE}/jobs/ingestion/dry").status_code == 404
