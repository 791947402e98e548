"""SPEC §10: INCREMENTAL keeps the index equal to the table — updates, deletes, late commits, schema changes.

Real PostgreSQL and MariaDB (and SQLite where it matters) through the HTTP API
into the Elasticsearch-API server. The randomized test interleaves inserts,
updates, hard deletes, soft deletes and a transaction that commits late with
an older timestamp, and after every run compares the index with the table:
ids and every value.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import BASE, count, define, run, wait_final
from tests.support import assert_error

pytestmark = pytest.mark.integration

ROUNDS = 6
SEED = 20261130


# ---------------------------------------------------------------- the table and the index


def _create(db: Database) -> None:
    if db.kind == "postgresql":
        db.execute(
            "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, qty integer,"
            " updated_at timestamptz(3) NOT NULL DEFAULT now(), gone boolean NOT NULL DEFAULT false)"
        )
    elif db.kind == "sqlite":  # timestamps are text there
        db.execute(
            "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, qty integer,"
            f" updated_at text NOT NULL DEFAULT ({_now(db)}), gone integer NOT NULL DEFAULT 0)"
        )
    else:
        db.execute(
            "CREATE TABLE items (id integer PRIMARY KEY, name varchar(64) NOT NULL, qty integer,"
            " updated_at datetime(3) NOT NULL DEFAULT now(3), gone boolean NOT NULL DEFAULT false)"
        )


def _now(db: Database) -> str:
    return {"postgresql": "now()", "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')"}.get(db.kind, "now(3)")


def _table(db: Database) -> dict[str, dict[str, Any]]:
    """What the index must hold: the rows not soft-deleted, by id."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, name, qty, updated_at FROM items WHERE NOT gone").fetchall()
    return {str(r[0]): {"name": r[1], "qty": r[2], "updated_at": _instant(r[3], db)} for r in rows}


def _index(es: Elasticsearch, target: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=target)
    hits = es.search(index=target, size=10_000, query={"match_all": {}})["hits"]["hits"]
    out = {}
    for hit in hits:
        source = hit["_source"]
        out[hit["_id"]] = {
            "name": source["name"],
            "qty": source["qty"],
            "updated_at": _instant(source["updated_at"], None),  # type: ignore[arg-type]
        }
        assert str(source["id"]) == hit["_id"]
    return out


def _instant(value: dt.datetime | str, db: Database) -> dt.datetime:
    # MariaDB DATETIME is read in the datasource time zone (UTC here); SQLite keeps UTC text.
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- random changes


class Changes:
    """Random inserts, updates, hard and soft deletes (seeded)."""

    def __init__(self, db: Database, rng: random.Random) -> None:
        self.db = db
        self.rng = rng
        self.next_id = 1

    def ids(self) -> list[int]:
        with self.db.engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql("SELECT id FROM items WHERE NOT gone").fetchall()]

    def insert_many_at_one_instant(self, n: int) -> None:
        """One statement: every row gets the same timestamp (ties across batch boundaries)."""
        values = ", ".join(f"({self.next_id + i}, 'n{self.next_id + i}', {i})" for i in range(n))
        self.db.execute(f"INSERT INTO items (id, name, qty) VALUES {values}")
        self.next_id += n

    def round(self) -> None:
        now = _now(self.db)
        self.insert_many_at_one_instant(self.rng.randint(3, 25))
        live = self.ids()
        self.rng.shuffle(live)
        for row_id in live[: self.rng.randint(1, 8)]:
            self.db.execute(
                f"UPDATE items SET name = 'u{self.rng.randint(0, 10**6)}', qty = {self.rng.randint(-5, 500)},"
                f" updated_at = {now} WHERE id = {row_id}"
            )
        for row_id in live[8 : 8 + self.rng.randint(0, 4)]:
            self.db.execute(f"DELETE FROM items WHERE id = {row_id}")
        for row_id in live[12 : 12 + self.rng.randint(0, 3)]:
            self.db.execute(f"UPDATE items SET gone = true, updated_at = {now} WHERE id = {row_id}")
        if self.rng.random() < 0.3:  # a soft-deleted row comes back
            with self.db.engine.connect() as conn:
                back = conn.exec_driver_sql("SELECT id FROM items WHERE gone").fetchall()
            if back:
                row_id = self.rng.choice(back)[0]
                self.db.execute(f"UPDATE items SET gone = false, updated_at = {now} WHERE id = {row_id}")


@contextmanager
def late_commit(db: Database, row_id: int) -> Iterator[None]:
    """A transaction that updates a row with the time it started, and commits after the block."""
    conn = db.engine.connect()
    transaction = conn.begin()
    conn.exec_driver_sql(f"UPDATE items SET name = 'late', updated_at = {_now(db)} WHERE id = {row_id}")
    try:
        yield
    finally:
        transaction.commit()
        conn.close()


def _definition(target: str, **extra: Any) -> dict[str, Any]:
    return {
        "query": "SELECT id, name, qty, updated_at, gone FROM items",
        "target": target,
        "strategy": "INCREMENTAL",
        "pk_field": "id",
        "tracking_column": "updated_at",
        "tracking_overlap": 60,
        "batch_size": 7,
        "delete": {"soft": {"column": "gone", "values": [True, 1]}, "reconcile": {"max_delete_ratio": 1.0}},
        **extra,
    }


@pytest.mark.parametrize("kind", ["pg", "mariadb", "sqlite_db"])
def test_the_index_equals_the_table_after_random_changes(
    api: testing.TestClient, worker, es: Elasticsearch, target_prefix: str, kind: str, request: pytest.FixtureRequest
) -> None:
    db: Database = request.getfixturevalue(kind)
    _create(db)
    target = f"{target_prefix}sync"
    changes = Changes(db, random.Random(SEED))
    changes.insert_many_at_one_instant(40)
    define(api, db, "sync", **_definition(target))
    first = run(api, "sync")
    assert first["state"] == "successful", first
    assert _index(es, target) == _table(db)
    es.indices.refresh(index=target)
    sources = [h["_source"] for h in es.search(index=target, size=100)["hits"]["hits"]]
    assert sources and not any("gone" in s for s in sources)  # the soft-delete column is never indexed
    for number in range(ROUNDS):
        changes.round()
        late_row = random.Random(SEED + number).choice(changes.ids())
        with late_commit(db, late_row):
            during = run(api, "sync")  # the late transaction is not committed yet
            assert during["state"] == "successful", during
        final = run(api, "sync")
        assert final["state"] == "successful", final
        table, index = _table(db), _index(es, target)
        assert index.keys() == table.keys(), f"round {number}: ids differ"
        assert index == table, f"round {number}: values differ"
        assert index[str(late_row)]["name"] == "late"
        assert final["watermark"]["pk"] is not None


def test_equal_tracking_values_across_batch_boundaries_are_neither_skipped_nor_reread(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _create(pg)
    changes = Changes(pg, random.Random(1))
    changes.insert_many_at_one_instant(50)  # one instant, batches of 7
    target = f"{target_prefix}ties"
    definition = _definition(target, tracking_overlap=None, delete=None)
    define(api, pg, "ties", **definition)
    first = run(api, "ties")
    assert (first["state"], first["count"]) == ("successful", 50)
    assert first["watermark"]["pk"] == 50
    again = run(api, "ties")  # nothing changed: nothing is read again
    assert (again["state"], again["count"]) == ("successful", 0)
    assert again["watermark"] == first["watermark"]
    changes.insert_many_at_one_instant(9)
    third = run(api, "ties")
    assert (third["state"], third["count"]) == ("successful", 9)
    assert len(_index(es, target)) == 59


@pytest.mark.parametrize("partitions", [None, 3])
def test_a_deleted_target_is_loaded_again_in_full_not_from_the_watermark(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str, partitions: int | None
) -> None:
    """The target was deleted (or the dev stack restarted): reading after the watermark would leave it partial."""
    _create(pg)
    changes = Changes(pg, random.Random(2))
    changes.insert_many_at_one_instant(40)
    target = f"{target_prefix}gone"
    extra = {"partitions": partitions} if partitions else {}
    define(api, pg, "gone", **_definition(target, tracking_overlap=None, delete=None, **extra))
    first = run(api, "gone")
    assert first["count"] == 40
    dry = api.simulate_post(f"{BASE}/ingestion/gone/_validate").json["read"]  # how a run reads now
    assert dry == {"order_by": ["updated_at", "id"], "after": [first["watermark"]["value"], 40]}
    es.indices.delete(index=target)
    assert api.simulate_post(f"{BASE}/ingestion/gone/_validate").json["read"] == {"order_by": ["updated_at", "id"]}
    changes.insert_many_at_one_instant(3)
    again = run(api, "gone")
    assert (again["state"], again["count"]) == ("successful", 43), again
    assert _index(es, target) == _table(pg)
    assert run(api, "gone")["count"] == 0  # the target exists again: from the watermark on


def _reloadable(pg: Database) -> None:
    """40 rows; `boom = 0` makes a row fail to read (division by zero) mid-way through a run."""
    pg.execute(
        "CREATE TABLE t (id integer PRIMARY KEY, boom integer NOT NULL DEFAULT 1,"
        " updated_at timestamptz(3) NOT NULL DEFAULT '2024-01-01T00:00:00Z')"
    )
    pg.execute("INSERT INTO t (id) SELECT g FROM generate_series(1, 40) g")


SINCE_LAST = (
    "SELECT id, updated_at, 1 / boom AS x FROM t"
    " {{#last_record_timestamp}}WHERE updated_at > {{last_record_timestamp}}{{/last_record_timestamp}}"
)


@pytest.mark.parametrize("query", ["tracking", "template"])
def test_a_full_reload_that_failed_is_finished_by_the_next_run(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str, query: str
) -> None:
    """The target was recreated by a run that then failed: the next run must not go back to the old watermark."""
    _reloadable(pg)
    pg.execute("ALTER TABLE t ADD COLUMN v text NOT NULL DEFAULT '1'")
    target = f"{target_prefix}reload"
    select = "SELECT id, updated_at, v FROM t"
    if query == "tracking":
        extra: dict[str, Any] = {"query": select, "tracking_column": "updated_at"}
    else:
        extra = {
            "query": select
            + " {{#last_record_timestamp}}WHERE updated_at > {{last_record_timestamp}}{{/last_record_timestamp}}"
        }
    mapping = {"properties": {"v": {"type": "integer"}}}
    define(
        api, pg, "reload", target=target, pk_field="id", strategy="INCREMENTAL", batch_size=5, mapping=mapping, **extra
    )
    assert run(api, "reload")["count"] == 40
    es.indices.delete(index=target)
    pg.execute("UPDATE t SET v = 'x' WHERE id = 12")  # refused by the mapping: the full reload fails mid-way
    failed = run(api, "reload")
    assert failed["state"] == "error" and 0 < failed["count"] < 40, failed
    pg.execute("UPDATE t SET v = '12' WHERE id = 12")  # the timestamps do not move: only a full read finds them
    again = run(api, "reload")
    assert again["state"] == "successful", again
    assert count(es, target) == 40
    assert run(api, "reload")["count"] == 0  # caught up: from its watermark on


def test_a_resumed_full_reload_reads_on_from_its_checkpoint_not_from_the_old_success(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _reloadable(pg)
    target = f"{target_prefix}resumed"
    define(api, pg, "resumed", query=SINCE_LAST, target=target, pk_field="id", strategy="INCREMENTAL", batch_size=5)
    assert run(api, "resumed")["count"] == 40
    es.indices.delete(index=target)
    pg.execute("UPDATE t SET boom = 0 WHERE id = 12")
    failed = run(api, "resumed")
    assert failed["state"] == "error" and failed["resumable"] is True, failed
    pg.execute("UPDATE t SET boom = 1 WHERE id = 12")
    resp = api.simulate_post(f"{BASE}/ingestion/resumed/_run", params={"resume": "true"})
    assert resp.status_code == 202, resp.text
    final = wait_final(api, "resumed")
    assert (final["state"], final["count"]) == ("successful", 40), final
    assert count(es, target) == 40


def test_a_resume_into_a_target_that_is_gone_is_refused(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _reloadable(pg)
    target = f"{target_prefix}vanished"
    define(api, pg, "vanished", query=SINCE_LAST, target=target, pk_field="id", strategy="INCREMENTAL", batch_size=5)
    pg.execute("UPDATE t SET boom = 0 WHERE id = 12")
    assert run(api, "vanished")["resumable"] is True
    es.indices.delete(index=target)  # what the run wrote is gone: its checkpoint means nothing now
    resp = api.simulate_post(f"{BASE}/ingestion/vanished/_run", params={"resume": "true"})
    assert resp.status_code == 409, resp.text
    assert f"its target [{target}] does not exist" in resp.json["error"]["reason"]


def test_a_failed_rebuild_is_not_resumable(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    """A rebuild's new index is dropped when it fails: its checkpoint is not kept, and the status says so."""
    _reloadable(pg)
    target = f"{target_prefix}rebuilt"
    es.indices.create(index=target, mappings={"properties": {"x": {"type": "keyword"}}})
    query = "SELECT id, 1 / boom AS x FROM t"
    definition = {"strategy": "INCREMENTAL", "batch_size": 5, "on_mapping_conflict": "rebuild"}
    define(api, pg, "rebuilt", query=query, target=target, pk_field="id", **definition)
    pg.execute("UPDATE t SET boom = 0 WHERE id = 12")
    failed = run(api, "rebuilt")
    assert failed["state"] == "error" and failed["count"] > 0, failed
    assert failed["resumable"] is False


def test_reconcile_refuses_a_mass_delete_and_leaves_the_index_untouched(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _create(pg)
    Changes(pg, random.Random(2)).insert_many_at_one_instant(30)
    target = f"{target_prefix}mass"
    definition = _definition(target, delete={"reconcile": {"max_delete_ratio": 0.1}})
    define(api, pg, "mass", **definition)
    assert run(api, "mass")["state"] == "successful"
    before = _index(es, target)
    pg.execute("DELETE FROM items WHERE id > 5")  # 25 of 30 rows gone: 83%
    refused = run(api, "mass")
    assert refused["state"] == "error"
    assert "above max_delete_ratio" in " ".join(refused["error"]) and "nothing was deleted" in " ".join(
        refused["error"]
    )
    assert _index(es, target) == before
    pg.execute("DELETE FROM items")  # an empty source never wipes the index either
    assert run(api, "mass")["state"] == "error"
    assert _index(es, target) == before


def test_a_type_change_fails_naming_the_field_then_rebuild_loads_the_new_mapping(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _create(pg)
    Changes(pg, random.Random(3)).insert_many_at_one_instant(12)
    target = f"{target_prefix}types"
    define(api, pg, "types", **_definition(target, delete=None, tracking_overlap=None))
    assert run(api, "types")["state"] == "successful"
    pg.execute("ALTER TABLE items ALTER COLUMN qty TYPE timestamptz USING now() + qty * interval '1 day'")
    pg.execute("UPDATE items SET updated_at = now()")
    failed = run(api, "types")
    assert failed["state"] == "error"
    reason = " ".join(failed["error"])
    assert "[qty] is integer in the target, the run needs date" in reason, reason
    assert failed["count"] == 0
    define(api, pg, "types", **_definition(target, delete=None, tracking_overlap=None, on_mapping_conflict="rebuild"))
    rebuilt = run(api, "types")
    assert (rebuilt["state"], rebuilt["count"]) == ("successful", 12), rebuilt
    assert es.indices.get_alias(name=target)  # the target is now an alias over the new index
    mapping = es.indices.get_mapping(index=target)
    assert next(iter(mapping.values()))["mappings"]["properties"]["qty"]["type"] == "date"
    pg.execute("UPDATE items SET name = 'after', updated_at = now() WHERE id = 1")
    after = run(api, "types")  # and carries on incrementally from its watermark
    assert (after["state"], after["count"]) == ("successful", 1), after
    es.indices.refresh(index=target)
    assert es.get(index=target, id="1")["_source"]["name"] == "after"


def test_new_fields_are_added_to_the_target(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, target_prefix: str
) -> None:
    _create(pg)
    Changes(pg, random.Random(4)).insert_many_at_one_instant(3)
    target = f"{target_prefix}grow"
    define(api, pg, "grow", **_definition(target, delete=None))
    assert run(api, "grow")["state"] == "successful"
    pg.execute("ALTER TABLE items ADD COLUMN price numeric(10,2) DEFAULT 2.5")
    pg.execute("UPDATE items SET updated_at = now()")
    query = "SELECT id, name, qty, updated_at, gone, price FROM items"
    define(api, pg, "grow", **_definition(target, delete=None, query=query))
    assert run(api, "grow")["state"] == "successful"
    mapping = es.indices.get_mapping(index=target)
    assert next(iter(mapping.values()))["mappings"]["properties"]["price"]["type"] == "double"


def test_soft_deletes_on_replace_are_left_out(
    api: testing.TestClient, worker, sqlite_db: Database, es: Elasticsearch, target_prefix: str
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, flag TEXT)")
    sqlite_db.execute("INSERT INTO t VALUES (1, 'N'), (2, 'Y'), (3, NULL)")
    target = f"{target_prefix}soft"
    define(
        api,
        sqlite_db,
        "soft",
        query="SELECT id, flag FROM t",
        target=target,
        pk_field="id",
        delete={"soft": {"column": "flag", "values": ["Y"]}},
    )
    final = run(api, "soft")
    assert (final["state"], final["count"]) == ("successful", 2)
    es.indices.refresh(index=target)
    hits = es.search(index=target, query={"match_all": {}})["hits"]["hits"]
    assert sorted(h["_id"] for h in hits) == ["1", "3"]
    assert all("flag" not in h["_source"] for h in hits)


@pytest.mark.parametrize(
    ("ingest", "entry"),
    [
        ({"tracking_column": "updated_at", "pk_field": None, "strategy": "REPLACE"}, "$.ingest.tracking_column"),
        ({"tracking_column": "nope"}, "$.ingest.tracking_column"),
        ({"delete": {"soft": {"column": "nope", "values": [True]}}}, "$.ingest.delete.soft.column"),
        ({"delete": {"reconcile": {}}, "strategy": "REPLACE"}, "$.ingest.delete.reconcile"),
        ({"delete": {"reconcile": {"max_delete_ratio": 1.5}}}, "$.ingest.delete.reconcile.max_delete_ratio"),
        ({"delete": {"reconcile": {"every_runs": 0}}}, "$.ingest.delete.reconcile.every_runs"),
        ({"tracking_overlap": -1}, "$.ingest.tracking_overlap"),
        ({"on_mapping_conflict": "ignore"}, "$.ingest.on_mapping_conflict"),
        ({"delete": {"soft": {"column": "gone", "values": []}}}, "$.ingest.delete.soft.values"),
    ],
)
def test_bad_change_sync_definitions_are_refused_at_put(
    api: testing.TestClient, pg: Database, target_prefix: str, ingest: dict[str, Any], entry: str
) -> None:
    _create(pg)
    api.simulate_put(f"{BASE}/datasource/db", json={"jdbc": {"url": pg.jdbc_url}})
    body = {"datasource": "db", **_definition(f"{target_prefix}bad"), **ingest}
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(api.simulate_put(f"{BASE}/ingestion/bad", json={"ingest": body}), 400, "validation_exception", entry)
