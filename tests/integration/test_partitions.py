"""SPEC §15: one run split into key ranges that any workers claim; counts stay exact.

Real PostgreSQL, MariaDB and SQLite through the HTTP API into the
Elasticsearch-API server, executed by workers of the test process (the
kill -9 case, with worker processes, is in tests/slow/test_partition_crash.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from api.runtime import Runtime
from ingestion.workers.worker import Worker
from tests.conftest import Database
from tests.integration.ingest_support import BASE, count, define, ids, run, start, status, wait_final
from tests.support import assert_error, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def second_worker(runtime: Runtime) -> Iterator[Worker]:
    """Another worker beside the ``worker`` fixture, as on a second host."""
    stop = threading.Event()
    instance = Worker(runtime.run_context(), name="second-worker")
    thread = threading.Thread(target=instance.run, args=(stop,), daemon=True)
    thread.start()
    yield instance
    stop.set()
    thread.join(timeout=60)


def _skewed(db: Database, name: str = "events") -> list[int]:
    """Keys bunched at both ends with a huge gap: an even split of [min, max] would give one range all rows."""
    keys = [*range(1, 301), *range(1_000_000, 1_000_100), *range(5_000_000_000, 5_000_000_200)]
    key_type = "bigint"
    db.execute(f"CREATE TABLE {name} (id {key_type} PRIMARY KEY, name varchar(32) NOT NULL, score integer)")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO {name} (id, name, score) VALUES (%s, %s, %s)"
            if db.kind != "sqlite"
            else f"INSERT INTO {name} (id, name, score) VALUES (?, ?, ?)",
            [(k, f"row {k}", k % 97) for k in keys],
        )
    return keys


def _stored(runtime: Runtime, run_id: str) -> list[Any]:
    return [p.partition for p in runtime.run_context().partitions.of_run(run_id)]


@pytest.mark.parametrize("kind", ["pg", "mariadb", "sqlite_db"])
def test_a_partitioned_replace_run_is_exact_and_splits_uneven_keys_evenly(
    api: testing.TestClient,
    worker: Worker,
    second_worker: Worker,
    runtime: Runtime,
    es: Elasticsearch,
    target_prefix: str,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    db: Database = request.getfixturevalue(kind)
    keys = _skewed(db)
    target = f"{target_prefix}events"
    define(api, db, "split", query="SELECT id, name, score FROM events", target=target, pk_field="id", partitions=4)
    final = run(api, "split")
    assert final["state"] == "successful", final
    assert final["count"] == len(keys) == count(es, target)
    assert ids(es, target) == sorted(str(k) for k in keys)
    assert final["last_id"] == str(max(keys))
    parts = final["partitions"]
    assert [p["k"] for p in parts] == [0, 1, 2, 3]
    assert all(p["state"] == "done" for p in parts), parts
    assert sum(p["count"] for p in parts) == len(keys)
    # Quantiles, not [min, max] / 4: every range holds about a quarter of the rows.
    assert all(len(keys) // 4 - 2 <= p["count"] <= len(keys) // 4 + 2 for p in parts), parts
    assert all(p["total"] == p["count"] for p in parts), parts
    assert final["total"] == len(keys) and final["progress"] == 1.0
    workers = {p.worker for p in _stored(runtime, final["run_id"])}
    assert workers <= {"test-worker", "second-worker"}
    # The alias points at one new index: swapped once.
    assert len(es.indices.get_alias(name=target)) == 1


def test_partitioned_change_sync_keeps_the_index_equal_to_the_table(
    api: testing.TestClient, worker: Worker, second_worker: Worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    pg.execute(
        "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL,"
        " updated_at timestamptz(3) NOT NULL DEFAULT now(), gone boolean NOT NULL DEFAULT false)"
    )
    pg.execute("INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 600) g")
    target = f"{target_prefix}items"
    define(
        api,
        pg,
        "items",
        query="SELECT id, name, updated_at, gone FROM items",
        target=target,
        strategy="INCREMENTAL",
        pk_field="id",
        tracking_column="updated_at",
        partitions=3,
        delete={"soft": {"column": "gone", "values": [True]}, "reconcile": {"max_delete_ratio": 0.5}},
    )
    first = run(api, "items")
    assert first["state"] == "successful", first
    assert first["count"] == 600 == count(es, target)
    assert first["watermark"]["pk"] == 600 and first["watermark"]["value"]
    pg.execute("UPDATE items SET name = name || ' changed', updated_at = now() WHERE mod(id, 50) = 0")
    pg.execute("UPDATE items SET gone = true, updated_at = now() WHERE id IN (3, 301, 599)")
    pg.execute("DELETE FROM items WHERE id IN (7, 450)")
    pg.execute("INSERT INTO items (id, name) VALUES (601, 'new'), (602, 'newer')")
    second = run(api, "items")
    assert second["state"] == "successful", second
    # Only what changed since the first run's watermark is read (plus rows at that very instant).
    assert sum(p["rows_read"] for p in second["partitions"]) < 60
    assert second["deleted"] == 5  # three soft deletes, two found by reconcile
    es.indices.refresh(index=target)
    hits = es.search(index=target, size=1000)["hits"]["hits"]
    table = {str(r[0]): r[1] for r in _rows(pg, "SELECT id, name FROM items WHERE NOT gone")}
    assert {h["_id"]: h["_source"]["name"] for h in hits} == table


def _rows(db: Database, sql: str) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.exec_driver_sql(sql).fetchall())


def _plain(db: Database, name: str, rows: int) -> str:
    db.execute(f"CREATE TABLE {name} AS SELECT g AS id, 'row ' || g AS name FROM generate_series(1, {rows}) g")
    db.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
    return f"SELECT id, name FROM {name}"


def test_abort_stops_every_partition_and_keeps_the_target(
    api: testing.TestClient, worker: Worker, second_worker: Worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    # Small batches into the test server: reading takes seconds, planning does not.
    query = _plain(pg, "many", 20_000)
    target = f"{target_prefix}many"
    define(api, pg, "many", query=query, target=target, pk_field="id", partitions=3, batch_size=20)
    start(api, "many")
    wait_until(lambda: (status(api, "many").get("count") or 0) > 0, timeout=60, what="rows indexed")
    resp = api.simulate_post(f"{BASE}/jobs/ingestion/many/_abort")
    assert resp.status_code == 200, resp.text
    final = wait_final(api, "many")
    assert final["state"] == "aborted", final
    parts = final["partitions"]
    assert all(p["state"] in ("aborted", "done") for p in parts), parts
    assert any(p["state"] == "aborted" for p in parts), parts
    assert 0 < final["count"] < 20_000
    assert final["count"] == sum(p["count"] for p in parts)
    assert final["resumable"] is True  # its ranges' checkpoints, into its kept staging index
    assert not es.indices.exists_alias(name=target)  # REPLACE never swapped


def test_resume_continues_only_the_unfinished_partitions(
    api: testing.TestClient, worker: Worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    query = _plain(pg, "many", 12_000)
    target = f"{target_prefix}many"
    define(api, pg, "many", query=query, target=target, pk_field="id", partitions=3, batch_size=20)
    start(api, "many")
    wait_until(lambda: (status(api, "many").get("count") or 0) >= 500, timeout=60, what="rows indexed")
    assert api.simulate_post(f"{BASE}/jobs/ingestion/many/_abort").status_code == 200
    aborted = wait_final(api, "many")
    assert aborted["state"] == "aborted"
    assert 0 < aborted["count"] < 12_000
    resp = api.simulate_post(f"{BASE}/ingestion/many/_run", params={"resume": "true"})
    assert resp.status_code == 202, resp.text
    final = wait_final(api, "many", timeout=120)
    assert final["state"] == "successful", final
    assert final["resume_of"] == aborted["run_id"]
    assert final["count"] == 12_000 == count(es, target)
    before = {p["k"]: p for p in aborted["partitions"]}
    after = {p["k"]: p for p in final["partitions"]}
    for k, p in before.items():
        if p["state"] == "done":  # not read again
            assert after[k]["rows_read"] == p["rows_read"]
        else:  # from its checkpoint: what it had read is not read again
            assert after[k]["rows_read"] == after[k]["total"]


@pytest.mark.parametrize(
    ("extra", "entry"),
    [
        ({"partitions": 0}, "$.ingest.partitions"),
        ({"partitions": 65}, "$.ingest.partitions"),
        ({"partitions": "many"}, "$.ingest.partitions"),
        ({"partitions": 2, "pk_field": None}, "$.ingest.partitions"),
        ({"partitions": 2, "pk_field": "doc"}, "$.ingest.partitions"),
        (
            {"partitions": 2, "query": "SELECT id, doc FROM typed WHERE id > {{max_primary_key}}"},
            "$.ingest.partitions",
        ),
    ],
)
def test_bad_partitions_are_refused_at_put(
    api: testing.TestClient, pg: Database, target_prefix: str, extra: dict[str, Any], entry: str
) -> None:
    pg.execute("CREATE TABLE typed (id integer PRIMARY KEY, doc jsonb)")
    ingest = {"datasource": "db", "query": "SELECT id, doc FROM typed", "target": f"{target_prefix}t", "pk_field": "id"}
    ingest.update(extra)
    ingest = {k: v for k, v in ingest.items() if v is not None}
    assert api.simulate_put(f"{BASE}/datasource/db", json={"jdbc": {"url": pg.jdbc_url}}).status_code == 201
    resp = api.simulate_put(f"{BASE}/ingestion/bad", json={"ingest": ingest})
    assert_error(resp, 400, "validation_exception")
    assert entry in [e["entry"] for e in resp.json["error"]["invalid"]], resp.json


# ---------------------------------------------------------------- keys JSON cannot hold exactly (review 3, F3)


def _keyed(db: Database, name: str, key_type: str, keys: list[str]) -> None:
    db.execute(f"CREATE TABLE {name} (id {key_type} PRIMARY KEY, v varchar(20))")
    db.execute(f"INSERT INTO {name} (id, v) VALUES " + ", ".join(f"({k}, 'row {i}')" for i, k in enumerate(keys)))


@pytest.mark.parametrize(
    ("kind", "key_type", "keys", "timezone"),
    [
        ("pg", "bytea", [f"'\\x{h}'" for h in ("10", "40", "41", "42", "d0", "e0", "e8", "f0")], None),
        ("mariadb", "binary(16)", [f"unhex(rpad('{h}', 32, '0'))" for h in ("10", "40", "41", "42", "d0", "e0")], None),
        ("pg", "double precision", ["1", "2", "3", "4", "5", "'Infinity'", "'-Infinity'", "'NaN'"], None),
        # Cut points inside the hour Europe/Paris skips (2024-03-31 02:00-03:00): naive times stay naive.
        (
            "pg",
            "timestamp",
            [f"'2024-03-31 {t}'" for t in ("02:30", "02:40", "03:10", "03:15", "03:20", "03:25")],
            "Europe/Paris",
        ),
        ("pg", "numeric(40)", [f"1234567890123456789012345678{d}" for d in range(10)], None),
    ],
    ids=["bytea", "binary16", "float-nan", "timestamp-dst-gap", "numeric-40"],
)
def test_ranges_of_keys_json_cannot_hold_exactly_never_overlap(
    api: testing.TestClient,
    worker: Worker,
    second_worker: Worker,
    es: Elasticsearch,
    target_prefix: str,
    kind: str,
    key_type: str,
    keys: list[str],
    timezone: str | None,
    request: pytest.FixtureRequest,
) -> None:
    db: Database = request.getfixturevalue(kind)
    _keyed(db, "odd", key_type, keys)
    datasource: dict[str, Any] = {"jdbc": {"url": db.jdbc_url}}
    if timezone:
        datasource["jdbc"]["timezone"] = timezone
    assert api.simulate_put(f"{BASE}/datasource/db", json=datasource).status_code == 201
    target = f"{target_prefix}odd"
    # Infinite and NaN keys are no document id (rejected rows): counted, not lost, not read twice.
    define(api, db, "odd", query="SELECT id, v FROM odd", target=target, pk_field="id", partitions=4, max_error_ratio=1)
    final = run(api, "odd")
    assert final["state"] == "successful", final
    assert final["count"] + final["error_count"] == len(keys), final
    assert final["count"] == count(es, target)
    assert final["error_count"] == (3 if key_type == "double precision" else 0)
    assert sum(p["rows_read"] for p in final["partitions"]) == len(keys), final["partitions"]


def test_resume_after_a_binary_key_continues_exactly(
    api: testing.TestClient, worker: Worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    """A checkpoint of a bytea key was bound as its base64 text: the resume skipped rows."""
    pg.execute("CREATE TABLE blobs AS SELECT int4send(g) AS id, g AS n FROM generate_series(1, 20000) g")
    pg.execute("ALTER TABLE blobs ADD PRIMARY KEY (id)")
    target = f"{target_prefix}blobs"
    # Enough rows that the abort lands mid-run (a pause in the query would not help: PostgreSQL
    # sorts a bytea key's rows, evaluating every row's pause, before it returns the first).
    define(api, pg, "blobs", query="SELECT id, n FROM blobs", target=target, pk_field="id", batch_size=20)
    start(api, "blobs")
    wait_until(lambda: (status(api, "blobs").get("count") or 0) >= 300, timeout=60, what="rows indexed")
    assert api.simulate_post(f"{BASE}/jobs/ingestion/blobs/_abort").status_code == 200
    aborted = wait_final(api, "blobs")
    assert aborted["state"] == "aborted" and 0 < aborted["count"] < 20000, aborted
    assert aborted["resumable"] is True  # its checkpoint and its kept staging index
    resp = api.simulate_post(f"{BASE}/ingestion/blobs/_run", params={"resume": "true"})
    assert resp.status_code == 202, resp.text
    final = wait_final(api, "blobs", timeout=120)
    assert (final["state"], final["count"]) == ("successful", 20000), final
    assert "resumable" not in final  # said of failed and aborted runs only
    assert count(es, target) == 20000


def test_a_numeric_watermark_beyond_a_double_misses_no_change(
    api: testing.TestClient, worker: Worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    pg.execute("CREATE TABLE big_versions (id integer PRIMARY KEY, version numeric(40) NOT NULL, v text)")
    base = 12345678901234567890000000000
    pg.execute(f"INSERT INTO big_versions SELECT g, {base} + g, 'v' FROM generate_series(1, 5) g")
    target = f"{target_prefix}bigv"
    definition = {"strategy": "INCREMENTAL", "pk_field": "id", "tracking_column": "version"}
    define(api, pg, "bigv", query="SELECT id, version, v FROM big_versions", target=target, **definition)
    first = run(api, "bigv")
    assert (first["state"], first["count"]) == ("successful", 5), first
    pg.execute(f"INSERT INTO big_versions SELECT g, {base} + g, 'new' FROM generate_series(6, 20) g")
    pg.execute(f"UPDATE big_versions SET version = {base} + 21, v = 'changed' WHERE id = 1")
    second = run(api, "bigv")
    assert (second["state"], second["count"]) == ("successful", 16), second
    assert count(es, target) == 20


def test_resume_after_the_target_changed_is_refused(
    api: testing.TestClient, worker: Worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    """Review 3, F6: a resume wrote the old run's rows under the new target."""
    query = _plain(pg, "many", 6000)
    define(api, pg, "moved", query=query, target=f"{target_prefix}old", pk_field="id", batch_size=20)
    start(api, "moved")
    wait_until(lambda: (status(api, "moved").get("count") or 0) >= 100, timeout=60, what="rows indexed")
    assert api.simulate_post(f"{BASE}/jobs/ingestion/moved/_abort").status_code == 200
    assert wait_final(api, "moved")["state"] == "aborted"
    define(api, pg, "moved", query=query, target=f"{target_prefix}new", pk_field="id", batch_size=20)
    resp = api.simulate_post(f"{BASE}/ingestion/moved/_run", params={"resume": "true"})
    assert_error(resp, 409, "resource_conflict_exception")
    assert "redefined" in resp.json["error"]["reason"]
    assert not es.indices.exists_alias(name=f"{target_prefix}new")
