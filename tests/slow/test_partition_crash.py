"""SPEC §15 with real processes: a partitioned run survives kill -9 of a worker, exactly.

Two `connector worker` processes share the run. Killing the worker of some
ranges (not the coordinator) lets the reaper queue them again from their
checkpoints and the run ends successful; killing the coordinator fails the
run (reaped), and ``_run?resume=true`` continues only the unfinished ranges.
Either way: rows in the table == documents in the index == ``count``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from falcon import testing

from api.runtime import Runtime
from tests.conftest import Database
from tests.integration.ingest_support import BASE, count, define, start, status, wait_final
from tests.support import ServiceProcess, wait_until

pytestmark = pytest.mark.slow

ROWS = 20_000
LEASE_S = 3.0
FAST_CRASH_ENV = {
    "CONNECTOR_WORKER_HEARTBEAT_INTERVAL_S": "0.5",
    "CONNECTOR_WORKER_LEASE_S": str(LEASE_S),
    "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
    "CONNECTOR_INGESTION_STATUS_INTERVAL_S": "0.2",
}


def _worker(env: dict[str, str], tmp_path: Path, name: str, slots: int) -> ServiceProcess:
    extra = {**FAST_CRASH_ENV, "CONNECTOR_WORKER_MAX_CONCURRENT_RUNS": str(slots)}
    return ServiceProcess(["worker"], {**env, **extra}, tmp_path / f"{name}.log")


def _ranges_of(runtime: Runtime, run_id: str) -> list:
    return [stored.partition for stored in runtime.run_context().partitions.of_run(run_id)]


@pytest.mark.parametrize("victim_role", ["range worker", "coordinator"])
def test_kill_9_of_a_worker_of_a_partitioned_run_ends_exact(
    api: testing.TestClient,
    settings_env: dict[str, str],
    pg: Database,
    es: Elasticsearch,
    runtime: Runtime,
    tmp_path: Path,
    target_prefix: str,
    victim_role: str,
) -> None:
    pg.execute(f"CREATE TABLE big AS SELECT g AS id, 'row ' || g AS name FROM generate_series(1, {ROWS}) g")
    pg.execute("ALTER TABLE big ADD PRIMARY KEY (id)")
    target = f"{target_prefix}big"
    # Small batches into the test server: a few seconds of loading, time enough to kill mid-way.
    define(api, pg, "big", query="SELECT id, name FROM big", target=target, pk_field="id", partitions=4, batch_size=20)
    # The first worker started claims the run and coordinates it; with one slot it runs one range at a time.
    first = _worker(settings_env, tmp_path, "first", slots=1)
    run_id = start(api, "big")["status"]["run_id"]
    wait_until(lambda: status(api, "big").get("partitions"), timeout=60, what="the run's plan")
    second = _worker(settings_env, tmp_path, "second", slots=2)
    coordinator, other = first, second
    victim, survivor = (other, coordinator) if victim_role == "range worker" else (coordinator, other)
    tag = f":{victim.process.pid}:"
    busy = wait_until(
        lambda: [p for p in _ranges_of(runtime, run_id) if p.worker and tag in p.worker and p.rows_read >= 200],
        timeout=60,
        what=f"a range loading on the {victim_role}",
    )
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.stop()
    try:
        if victim_role == "range worker":
            final = wait_final(api, "big", timeout=120)
            assert final["run_id"] == run_id
            assert final["state"] == "successful", final
        else:
            reaped = wait_until(
                lambda: (s := status(api, "big"))["state"] == "error" and s, timeout=LEASE_S + 15, what="the reaper"
            )
            assert "stopped sending heartbeats" in reaped["infos"], reaped
            assert any("unfinished partitions" in line for line in reaped["error"]), reaped
            # Every range stops (the survivor's at its next beat, the victim's by the reaper).
            wait_until(
                lambda: all(p.ended for p in _ranges_of(runtime, run_id)), timeout=LEASE_S + 15, what="ranges ended"
            )
            resumed = api.simulate_post(f"{BASE}/ingestion/big/_run", params={"resume": "true"})
            assert resumed.status_code == 202, resumed.text
            final = wait_final(api, "big", timeout=120)
            assert final["state"] == "successful", final
            assert final["resume_of"] == run_id
    finally:
        survivor.stop()
    assert busy
    assert final["count"] == ROWS == count(es, target), final
    assert sum(p["count"] for p in final["partitions"]) == ROWS
    assert all(p["state"] == "done" for p in final["partitions"]), final["partitions"]
    assert final["last_id"] == str(ROWS)
    distinct = es.search(index=target, size=0, aggs={"ids": {"cardinality": {"field": "id"}}})
    assert distinct["aggregations"]["ids"]["value"] == ROWS  # no duplicates, no gaps
    assert "Traceback" not in survivor.output
