"""Crash safety with real processes: kill -9, SIGTERM, a paused Elasticsearch, a killed database backend,
and the scheduler's exactly-once fire times across instances."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from pathlib import Path

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
    slow_table,
    start,
    status,
    wait_final,
)
from tests.support import ServiceProcess, wait_until

pytestmark = pytest.mark.slow

LEASE_S = 3.0
FAST_CRASH_ENV = {
    "CONNECTOR_WORKER_HEARTBEAT_INTERVAL_S": "0.5",
    "CONNECTOR_WORKER_LEASE_S": str(LEASE_S),
    "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
    "CONNECTOR_INGESTION_STATUS_INTERVAL_S": "0.2",
}


def _worker(env: dict[str, str], tmp_path: Path, name: str, **extra: str) -> ServiceProcess:
    return ServiceProcess(["worker"], {**env, **FAST_CRASH_ENV, **extra}, tmp_path / f"{name}.log")


def _running_on(api: testing.TestClient, job: str, process: ServiceProcess, at_least: int) -> dict:
    return wait_until(
        lambda: (s := status(api, job)).get("count", 0) >= at_least and s["state"] == "running" and s,
        timeout=60,
        what=f"{job} loading on worker {process.process.pid}",
    )


@pytest.mark.parametrize("kill_at", [100, 1000, 1800])
def test_kill_9_mid_run_is_reaped_then_resumed_exactly(
    api: testing.TestClient,
    settings_env: dict[str, str],
    pg: Database,
    es: Elasticsearch,
    index_prefix: str,
    tmp_path: Path,
    kill_at: int,
    target_prefix: str,
    runtime,
) -> None:
    query = slow_table(pg, "big", 2000, pause_every=100, pause_s=0.15)
    target = f"{target_prefix}crash"
    define(api, pg, "crash", query=query, target=target, pk_field="id", batch_size=50)
    victim = _worker(settings_env, tmp_path, "victim")
    start(api, "crash")
    loading = _running_on(api, "crash", victim, kill_at)
    assert f":{victim.process.pid}:" in loading["worker"]
    os.kill(victim.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim.stop()
    survivor = _worker(settings_env, tmp_path, "survivor")
    try:
        reaped = wait_until(
            lambda: (s := status(api, "crash"))["state"] == "error" and s, timeout=LEASE_S + 10, what="the reaper"
        )
        detected_after = time.monotonic() - killed_at
        assert detected_after <= LEASE_S + 5, detected_after
        assert "stopped sending heartbeats" in reaped["infos"] and loading["worker"] in reaped["infos"]
        kept = bookkeeping(runtime, reaped)
        assert kept.staging_kept is True and kept.checkpoint is not None and kept.checkpoint["pk"] >= kill_at - 50
        assert count(es, reaped["staging_index"]) >= kept.checkpoint["count"]
        resumed = api.simulate_post(f"{BASE}/ingestion/crash/_run", params={"resume": "true"})
        assert resumed.status_code == 202, resumed.text
        final = wait_final(api, "crash", timeout=60)
    finally:
        survivor.stop()
    assert (final["state"], final["count"], final["last_id"]) == ("successful", 2000, "2000"), final
    assert final["resume_of"] == reaped["run_id"] and final["staging_index"] == reaped["staging_index"]
    assert ids(es, target) == sorted(str(i) for i in range(1, 2001))  # no duplicates, no gaps
    assert count(es, target) == 2000


def test_sigterm_hands_the_run_back_and_another_worker_finishes_it(
    api: testing.TestClient,
    settings_env: dict[str, str],
    pg: Database,
    es: Elasticsearch,
    index_prefix: str,
    tmp_path: Path,
    target_prefix: str,
    runtime,
) -> None:
    query = slow_table(pg, "big", 2000, pause_every=100, pause_s=0.15)
    target = f"{target_prefix}term"
    define(api, pg, "term", query=query, target=target, pk_field="id", batch_size=50)
    first = _worker(settings_env, tmp_path, "first")
    queued = start(api, "term")["status"]
    _running_on(api, "term", first, 400)
    assert first.stop(signal.SIGTERM) == 0
    handed = status(api, "term")
    assert handed["state"] == "queued" and "handed back" in handed["infos"], handed
    checkpoint = bookkeeping(runtime, handed).checkpoint
    assert checkpoint is not None and checkpoint["pk"] >= 400 and handed["run_id"] == queued["run_id"]
    second = _worker(settings_env, tmp_path, "second")
    try:
        final = wait_final(api, "term", timeout=60)
    finally:
        second.stop()
    assert (final["state"], final["count"], final["run_id"]) == ("successful", 2000, queued["run_id"])
    assert f":{second.process.pid}:" in final["worker"]
    assert ids(es, target) == sorted(str(i) for i in range(1, 2001))
    assert "Traceback" not in first.output + second.output


def test_paused_elasticsearch_shorter_than_the_lease_is_survived(
    api: testing.TestClient,
    settings_env: dict[str, str],
    pg: Database,
    es: Elasticsearch,
    index_prefix: str,
    tmp_path: Path,
    es_process: int,
    target_prefix: str,
) -> None:
    query = slow_table(pg, "big", 2000, pause_every=100, pause_s=0.1)
    target = f"{target_prefix}pause"
    define(api, pg, "pause", query=query, target=target, pk_field="id", batch_size=50)
    env = {"CONNECTOR_WORKER_LEASE_S": "8"}
    runner = ServiceProcess(["worker"], {**settings_env, **FAST_CRASH_ENV, **env}, tmp_path / "runner.log")
    reaper = ServiceProcess(["worker"], {**settings_env, **FAST_CRASH_ENV, **env}, tmp_path / "reaper.log")
    try:
        start(api, "pause")
        wait_until(lambda: status(api, "pause").get("count", 0) >= 300, timeout=60, what="loading")
        os.kill(es_process, signal.SIGSTOP)
        time.sleep(2.5)  # longer than the heartbeat interval (0.5 s), shorter than the lease (8 s)
        os.kill(es_process, signal.SIGCONT)
        final = wait_final(api, "pause", timeout=60)
    finally:
        os.kill(es_process, signal.SIGCONT)
        runner.stop()
        reaper.stop()
    assert (final["state"], final["count"]) == ("successful", 2000), final
    assert "reaped" not in final["infos"]
    assert count(es, target) == 2000


def test_killed_database_backend_is_a_clean_error(
    api: testing.TestClient, worker, pg: Database, es: Elasticsearch, index_prefix: str, target_prefix: str
) -> None:
    query = slow_table(pg, "big", 2000, pause_every=100, pause_s=0.2)
    target = f"{target_prefix}dbkill"
    define(api, pg, "dbkill", query="SELECT * FROM big WHERE id <= 10", target=target, pk_field="id")
    start(api, "dbkill")
    assert wait_final(api, "dbkill")["count"] == 10
    define(api, pg, "dbkill", query=query, target=target, pk_field="id", batch_size=50)
    start(api, "dbkill")
    wait_until(lambda: status(api, "dbkill").get("count", 0) >= 200, timeout=60, what="loading")
    # The run's backend is the one reading this test's table (other tests on this server read theirs).
    terminated = pg.scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM (SELECT DISTINCT l.pid FROM pg_locks l "
        "JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = 'big' AND l.pid <> pg_backend_pid()) AS readers"
    )
    assert terminated == 1
    final = wait_final(api, "dbkill", timeout=30)
    assert final["state"] == "error"
    # It had connected and indexed rows: the first line says the connection was lost, and after how many rows.
    assert final["count"] >= 200
    assert final["error"][0] == f"Lost the connection to the datasource of [dbkill] after {final['count']} rows."
    assert final["error"][1].startswith("lost the datasource connection: ")
    assert "terminat" in final["error"][1].lower() or "connection" in final["error"][1].lower()
    assert count(es, target) == 10  # REPLACE: the target is untouched
    assert list(es.indices.get_alias(name=target)) != [final["staging_index"]]


def test_two_schedulers_three_workers_one_run_per_fire_time(
    api: testing.TestClient,
    settings_env: dict[str, str],
    sqlite_db: Database,
    es: Elasticsearch,
    index_prefix: str,
    tmp_path: Path,
    runtime,
    target_prefix: str,
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    sqlite_db.execute("INSERT INTO t VALUES (1), (2), (3)")
    target = f"{target_prefix}cron"
    define(
        api,
        sqlite_db,
        "cron",
        query="SELECT * FROM t",
        target=target,
        pk_field="id",
        schedule="*/2 * * * * ?",
        enable_scheduler=True,
    )
    scheduling = {"CONNECTOR_WORKER_SCHEDULER": "true"}
    not_scheduling = {"CONNECTOR_WORKER_SCHEDULER": "false"}
    workers = [
        _worker(settings_env, tmp_path, "w1", **scheduling),
        _worker(settings_env, tmp_path, "w2", **scheduling),
        _worker(settings_env, tmp_path, "w3", **not_scheduling),
    ]
    time.sleep(13)  # wall-clock time for about six fire times, two seconds apart (not waiting for a state)
    for process in workers:
        process.stop()
    stopped_ms = int(time.time() * 1000)
    time.sleep(5)  # wall-clock time: two or three fire times pass with nobody running
    restarted_ms = int(time.time() * 1000)
    late = _worker(settings_env, tmp_path, "w4", **scheduling)
    wait_until(lambda: _fire_times(es, runtime, "cron", after=stopped_ms), timeout=10, what="the missed fire time")
    time.sleep(3)  # wall-clock time: the schedule goes on after the missed fire time
    late.stop()

    fires = _fire_times(es, runtime, "cron")
    per_fire = Counter(fires)
    assert per_fire and max(per_fire.values()) == 1, per_fire  # exactly one job-log entry per fire time
    while_up = sorted(f for f in fires if f < stopped_ms)
    assert len(while_up) >= 5
    assert all(b - a == 2000 for a, b in itertools.pairwise(while_up)), while_up  # no fire time missed
    # After the restart, the first tick fires only the latest of the fire times missed while down.
    first_after = min(_create_times(es, runtime, "cron", after=restarted_ms))
    boundaries = [t for t in range(stopped_ms - stopped_ms % 2000 + 2000, first_after + 1, 2000)]
    assert len(boundaries) >= 2, boundaries  # at least two fire times passed with nobody up
    missed = sorted(f for f in fires if stopped_ms < f <= first_after)
    assert missed == [boundaries[-1]], (missed, boundaries)
    assert any(f > first_after for f in fires)  # then the schedule continues
    es.indices.refresh(index=runtime.names.job_log)
    states = {
        h["_source"]["ingestion"]["state"] for h in es.search(index=runtime.names.job_log, size=100)["hits"]["hits"]
    }
    assert states <= {"successful", "skipped"}


def _create_times(es: Elasticsearch, runtime, job_id: str, *, after: int) -> list[int]:
    es.indices.refresh(index=runtime.names.job_log)
    hits = es.search(
        index=runtime.names.job_log,
        size=1000,
        query={
            "bool": {
                "filter": [{"term": {"ingestion.id": job_id}}, {"range": {"ingestion.create_time": {"gt": after}}}]
            }
        },
    )["hits"]["hits"]
    return [h["_source"]["ingestion"]["create_time"] for h in hits]


def _fire_times(es: Elasticsearch, runtime, job_id: str, *, after: int = 0) -> list[int]:
    es.indices.refresh(index=runtime.names.job_log)
    hits = es.search(
        index=runtime.names.job_log,
        size=1000,
        query={
            "bool": {"filter": [{"term": {"ingestion.id": job_id}}, {"range": {"ingestion.fire_time": {"gt": after}}}]}
        },
    )["hits"]["hits"]
    return [h["_source"]["ingestion"]["fire_time"] for h in hits]


def test_kill_9_during_a_change_sync_run_then_resume_ends_equal(
    api: testing.TestClient,
    settings_env: dict[str, str],
    pg: Database,
    es: Elasticsearch,
    tmp_path: Path,
    target_prefix: str,
) -> None:
    """Tracking order (updated_at, id) with ties across batches: killed, reaped, resumed, then synced again."""
    pg.execute(
        "CREATE TABLE big AS SELECT g AS id, 'row ' || g AS name,"
        " timestamptz '2026-01-01' + (g / 300) * interval '1 second' AS updated_at FROM generate_series(1, 2000) g"
    )
    pg.execute("ALTER TABLE big ADD PRIMARY KEY (id)")
    pg.execute("CREATE INDEX big_sync ON big (updated_at NULLS FIRST, id)")  # read in order, no sort first
    pg.execute("ANALYZE big")
    query = "SELECT id, name, updated_at, CASE WHEN id % 100 = 0 THEN pg_sleep(0.15)::text END AS pause FROM big"
    target = f"{target_prefix}synccrash"
    define(
        api,
        pg,
        "synccrash",
        query=query,
        target=target,
        strategy="INCREMENTAL",
        pk_field="id",
        tracking_column="updated_at",
        batch_size=50,
    )
    victim = _worker(settings_env, tmp_path, "victim")
    start(api, "synccrash")
    _running_on(api, "synccrash", victim, 700)
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.stop()
    survivor = _worker(settings_env, tmp_path, "survivor")
    try:
        reaped = wait_until(
            lambda: (s := status(api, "synccrash"))["state"] == "error" and s, timeout=LEASE_S + 10, what="reaper"
        )
        assert reaped["watermark"]["value"] is not None
        resumed = api.simulate_post(f"{BASE}/ingestion/synccrash/_run", params={"resume": "true"})
        assert resumed.status_code == 202, resumed.text
        final = wait_final(api, "synccrash", timeout=60)
        assert (final["state"], final["count"]) == ("successful", 2000), final
        assert ids(es, target) == sorted(str(i) for i in range(1, 2001))
        pg.execute("UPDATE big SET name = 'changed', updated_at = now() WHERE mod(id, 200) = 7")
        again = api.simulate_post(f"{BASE}/ingestion/synccrash/_run")
        assert again.status_code == 202, again.text
        synced = wait_final(api, "synccrash", timeout=60)
    finally:
        survivor.stop()
    assert (synced["state"], synced["count"]) == ("successful", 10), synced  # only the changed rows
    es.indices.refresh(index=target)
    changed = es.search(index=target, query={"term": {"name.keyword": "changed"}}, size=100)["hits"]["hits"]
    assert sorted(int(h["_id"]) for h in changed) == list(range(7, 2001, 200))
    assert count(es, target) == 2000
