"""Workers as real processes: exactly-once execution, and `connector serve` running jobs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from elasticsearch import Elasticsearch
from falcon import testing

from tests.conftest import Database
from tests.integration.ingest_support import BASE, bookkeeping, count, define, slow_table, start, wait_final
from tests.support import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow


def json_client(base: str) -> Callable[..., tuple[int, dict[str, Any]]]:
    """``call(method, path, body=None) -> (status, JSON body)`` against a served API at ``base``."""
    http = urllib3.PoolManager()

    def call(method: str, path: str, body: object = None) -> tuple[int, dict[str, Any]]:
        resp = http.request(
            method,
            base + path,
            body=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        return resp.status, orjson.loads(resp.data)

    return call


def test_two_worker_processes_execute_each_of_20_runs_once(
    api: testing.TestClient,
    settings_env: dict[str, str],
    sqlite_db: Database,
    es: Elasticsearch,
    index_prefix: str,
    runtime,
    tmp_path: Path,
    target_prefix: str,
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    sqlite_db.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, 'v{i}')" for i in range(1, 26)))
    names = [f"job{i:02d}" for i in range(20)]
    for name in names:
        define(api, sqlite_db, name, query="SELECT * FROM t", target=f"{target_prefix}{name}", pk_field="id")
        start(api, name)  # all 20 queued before any worker runs
    env = {**settings_env, "CONNECTOR_WORKER_MAX_CONCURRENT_RUNS": "3"}
    workers = [ServiceProcess(["worker"], env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        finals = {name: wait_final(api, name, timeout=120) for name in names}
    finally:
        for process in workers:
            assert process.stop() == 0, process.output
    assert {f["state"] for f in finals.values()} == {"successful"}
    assert all(f["count"] == 25 for f in finals.values())
    ended = re.findall(r"run (\S+) ended successful", "".join(p.output for p in workers))
    assert sorted(ended) == sorted(f["run_id"] for f in finals.values())  # each run exactly once
    assert len({f["worker"] for f in finals.values()}) == 2  # both workers took part
    es.indices.refresh(index=runtime.names.job_log)
    log = es.search(index=runtime.names.job_log, size=100, query={"match_all": {}})
    assert log["hits"]["total"]["value"] == 20
    assert all(count(es, f"{target_prefix}{name}") == 25 for name in names)


def test_serve_runs_the_api_and_a_worker(
    settings_env: dict[str, str],
    sqlite_db: Database,
    es: Elasticsearch,
    index_prefix: str,
    tmp_path: Path,
    target_prefix: str,
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    sqlite_db.execute("INSERT INTO t VALUES " + ", ".join(f"({i})" for i in range(1, 101)))
    port = free_port()
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], settings_env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}{BASE}"
    call = json_client(base)

    try:
        proc.wait_http(f"{base}/_health")
        assert call("PUT", "/datasource/lite", {"jdbc": {"url": sqlite_db.jdbc_url}})[0] == 201
        target = f"{target_prefix}served"
        assert (
            call(
                "PUT",
                "/ingestion/served",
                {"ingest": {"datasource": "lite", "query": "SELECT * FROM t", "target": target, "pk_field": "id"}},
            )[0]
            == 201
        )
        assert call("POST", "/ingestion/served/_run")[0] == 202
        final = wait_until(
            lambda: (s := call("GET", "/jobs/ingestion/served")[1]["status"])["state"] in ("successful", "error") and s,
            timeout=60,
            what="the served run",
        )
    finally:
        proc.stop()
    assert final["state"] == "successful", final
    assert final["count"] == 100 == count(es, target)
    assert "Traceback" not in proc.output


def test_abort_across_processes(
    settings_env: dict[str, str],
    pg: Database,
    es: Elasticsearch,
    index_prefix: str,
    tmp_path: Path,
    target_prefix: str,
    runtime,
) -> None:
    """The run executes in a `connector worker` process; the abort goes to a separate API process."""
    slow_query = slow_table(pg, "t", 2000)
    port = free_port()
    api_proc = ServiceProcess(
        ["serve", "--bind", f"127.0.0.1:{port}"],
        {**settings_env, "CONNECTOR_WORKER_PROCESSES": "0"},
        tmp_path / "api.log",
    )
    worker_proc = ServiceProcess(["worker"], settings_env, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{port}{BASE}"
    call = json_client(base)

    target = f"{target_prefix}xabort"
    try:
        api_proc.wait_http(f"{base}/_health")
        call("PUT", "/datasource/pg", {"jdbc": {"url": pg.jdbc_url}})
        fast = {"datasource": "pg", "query": "SELECT * FROM t WHERE id <= 50", "target": target, "pk_field": "id"}
        call("PUT", "/ingestion/x", {"ingest": fast})
        call("POST", "/ingestion/x/_run")
        wait_until(
            lambda: call("GET", "/jobs/ingestion/x")[1]["status"]["state"] == "successful", timeout=60, what="first run"
        )
        slow = {
            **fast,
            "batch_size": 20,
            "query": slow_query,
        }
        call("PUT", "/ingestion/x", {"ingest": slow})
        call("POST", "/ingestion/x/_run")
        wait_until(
            lambda: call("GET", "/jobs/ingestion/x")[1]["status"].get("count", 0) >= 40, timeout=60, what="loading"
        )
        code, aborting = call("POST", "/jobs/ingestion/x/_abort")
        assert code == 200 and aborting["status"]["is_aborting"] is True
        final = wait_until(
            lambda: (
                (s := call("GET", "/jobs/ingestion/x")[1]["status"])["state"] in ("aborted", "successful", "error")
                and s
            ),
            timeout=30,
            what="the abort",
        )
    finally:
        worker_proc.stop()
        api_proc.stop()
    assert (final["state"], final["is_running"], final["is_aborting"]) == ("aborted", False, True)
    assert 40 <= final["count"] < 2000 and final["last_id"] == str(final["count"])
    assert f":{worker_proc.process.pid}:" in final["worker"]  # executed by the worker process
    assert count(es, target) == 50  # REPLACE: the target still holds the first run's documents
    assert bookkeeping(runtime, final).staging_kept is True  # kept for a resume; the target was never touched
    assert "ingestion.workers.worker" in worker_proc.output and "Traceback" not in worker_proc.output + api_proc.output
