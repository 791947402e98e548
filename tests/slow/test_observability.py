"""SPEC §12 through real processes: /metrics summed over every process of `connector serve`, a worker's
own metrics port, and JSON log lines."""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from elasticsearch import Elasticsearch
from falcon import testing
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Database
from tests.integration.ingest_support import BASE, count, define, slow_table, start, wait_final
from tests.support import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
ROWS = 3000
SERVE_ENV = {
    "CONNECTOR_API_GUNICORN_WORKERS": "2",
    "CONNECTOR_WORKER_PROCESSES": "1",
    "CONNECTOR_INGESTION_STATUS_INTERVAL_S": "0.2",
}
# Every sample whose value may only grow: counters and the parts of histograms.
GROWING = ("_total", "_bucket", "_count", "_sum")


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Served:
    """A running `connector serve` and plain HTTP to it (a new connection per request: any API worker answers)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.process = ServiceProcess(["serve", "--bind", f"127.0.0.1:{self.port}"], env, log)
        self.base = f"http://127.0.0.1:{self.port}"
        self.process.wait_http(f"{self.base}{BASE}/_health", timeout=60)

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> urllib3.BaseHTTPResponse:
        return urllib3.request(
            method,
            self.base + path,
            body=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json", "Connection": "close", **headers},
            retries=False,
        )

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, dict[str, Any]]:
        resp = self.request(method, BASE + path, body, **headers)
        return resp.status, orjson.loads(resp.data)

    def scrape(self) -> Samples:
        resp = self.request("GET", "/metrics")
        assert resp.status == 200, resp.data
        return parse(resp.data.decode())

    def status(self, job: str) -> dict[str, Any]:
        return self.call("GET", f"/jobs/ingestion/{job}")[1]["status"]

    def wait_final(self, job: str) -> dict[str, Any]:
        return wait_until(
            lambda: (s := self.status(job))["state"] in ("successful", "error", "aborted") and s,
            timeout=90,
            interval=0.2,
            what=f"the run of {job}",
        )


def define_served(served: Served, db: Database, job: str, **ingest: Any) -> None:
    if served.call("GET", "/datasource/db")[0] == 404:
        assert served.call("PUT", "/datasource/db", {"jdbc": {"url": db.jdbc_url}})[0] == 201
    status, body = served.call("PUT", f"/ingestion/{job}", {"ingest": {"datasource": "db", **ingest}})
    assert status in (200, 201), body


def assert_only_grow(scrapes: list[Samples]) -> None:
    for earlier, later in itertools.pairwise(scrapes):
        shrunk = {
            key: (v, later.get(key))
            for key, v in earlier.items()
            if key[0].endswith(GROWING) and key[0].startswith("connector_") and later.get(key, 0.0) < v
        }
        assert shrunk == {}, shrunk


def test_one_scrape_sums_every_process_during_and_after_a_run(
    settings_env: dict[str, str], pg: Database, es: Elasticsearch, tmp_path: Path, target_prefix: str, test_tag: str
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    # No PROMETHEUS_MULTIPROC_DIR: serve makes its own directory (under TMPDIR) and restarts itself to use it.
    served = Served({**settings_env, **SERVE_ENV, "TMPDIR": str(temp)}, tmp_path / "serve.log")
    job = f"{test_tag}-sum"
    try:
        (metrics_dir,) = temp.glob("connector-metrics-*")
        query = slow_table(pg, "big", ROWS, pause_every=300, pause_s=0.25)
        define_served(served, pg, job, query=query, target=f"{target_prefix}sum", pk_field="id", batch_size=100)
        assert served.call("POST", f"/ingestion/{job}/_run")[0] == 202
        scrapes: list[Samples] = []
        deadline = time.monotonic() + 120  # the run takes seconds; a stuck one fails in wait_final below
        while served.status(job)["state"] in ("queued", "running") and time.monotonic() < deadline:
            scrapes.append(served.scrape())
            time.sleep(0.2)  # pacing the scrapes, not waiting for a state
        final = served.wait_final(job)
        scrapes.append(served.scrape())
        requests = 24
        for _ in range(requests):
            assert served.call("GET", "/jobs")[0] == 200
        last = served.scrape()
        per_process = _per_process(metrics_dir)
    finally:
        code = served.process.stop()
    assert code == 0, served.process.output
    assert not metrics_dir.exists()  # its own directory is removed on exit
    assert (final["state"], final["count"]) == ("successful", ROWS), final
    assert count(es, f"{target_prefix}sum") == ROWS

    # During the run: progress and an active run seen by a scrape of an API worker, counted by the worker process.
    during = [s for s in scrapes if 0 < value(s, "connector_rows_read_total", ingestion=job) < ROWS]
    assert during, [value(s, "connector_rows_read_total", ingestion=job) for s in scrapes]
    assert any(value(s, "connector_runs_active") == 1 for s in during)
    assert_only_grow([*scrapes, last])

    # After: rows read == documents indexed == the status count; one execution, ended successful.
    assert value(last, "connector_rows_read_total", ingestion=job) == ROWS
    assert value(last, "connector_documents_indexed_total", ingestion=job) == ROWS
    assert value(last, "connector_runs_ended_total", ingestion=job, outcome="successful") == 1
    assert value(last, "connector_runs_active") == 0
    assert value(last, "connector_bulk_requests_total") >= ROWS / 100

    # The sums are over processes: the rows were counted by the worker process, whose pid is in the status,
    # and the API requests by the two API workers, each scrape answered by either of them.
    worker_pid = int(final["worker"].split(":")[1])
    assert per_process[worker_pid]["rows"] == ROWS
    api_pids = {pid for pid, counts in per_process.items() if counts["http"] > 0}
    assert worker_pid not in api_pids and len(per_process) >= 3  # two API workers and the worker wrote values
    route = {"method": "GET", "route": "/_siren/connector/jobs", "status": "200"}
    assert value(last, "connector_http_requests_total", **route) == requests
    assert sum(counts["jobs"] for counts in per_process.values()) == requests
    # Bounded labels: ingestion ids of defined ingestions only, fixed sets for the others.
    labels = {name: {dict(k).get(name) for (_, k) in last} - {None} for name in ("ingestion", "outcome", "reason")}
    assert labels["ingestion"] <= {job, "_other"}
    assert labels["outcome"] <= {"successful", "error", "aborted", "handed_back", "lost", "reaped"}
    assert labels["reason"] <= {"429", "5xx", "connection"}


def _per_process(path: Path) -> dict[int, dict[str, float]]:
    """Rows read, HTTP requests and GET /jobs requests recorded by each process, from its own file."""
    found: dict[int, dict[str, float]] = {}
    for file in path.glob("counter_*.db"):
        pid = int(file.stem.rsplit("_", 1)[1])
        counts = found.setdefault(pid, {"rows": 0.0, "http": 0.0, "jobs": 0.0})
        for family in MultiProcessCollector.merge([str(file)]):
            for sample in family.samples:
                if sample.name == "connector_rows_read_total":
                    counts["rows"] += sample.value
                elif sample.name == "connector_http_requests_total":
                    counts["http"] += sample.value
                    if sample.labels["route"] == "/_siren/connector/jobs":
                        counts["jobs"] += sample.value
    return found


def test_json_logs_from_a_real_service(
    settings_env: dict[str, str], pg: Database, es: Elasticsearch, tmp_path: Path, target_prefix: str, test_tag: str
) -> None:
    # An operator's PROMETHEUS_MULTIPROC_DIR, holding the values of an earlier start: cleared at start-up.
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    stale = MmapedDict(str(metrics_dir / "counter_999999.db"))
    key = json.dumps(["connector_rows_read", "connector_rows_read_total", {"ingestion": "stale"}, "rows"])
    stale.write_value(key, 123.0, 0.0)
    stale.close()
    env = {**settings_env, **SERVE_ENV, "CONNECTOR_LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    served = Served(env, tmp_path / "serve.log")
    good, bad = f"{test_tag}-good", f"{test_tag}-bad"
    try:
        assert value(served.scrape(), "connector_rows_read_total", ingestion="stale") == 0
        pg.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 500) g")
        pg.execute("CREATE TABLE gone AS SELECT g AS id FROM generate_series(1, 5) g")
        define_served(served, pg, good, query="SELECT * FROM t", target=f"{target_prefix}good", pk_field="id")
        define_served(served, pg, bad, query="SELECT * FROM gone", target=f"{target_prefix}bad", pk_field="id")
        pg.execute("DROP TABLE gone")
        status, _ = served.call("POST", f"/ingestion/{good}/_run", **{"X-Request-ID": "json-log-test-1"})
        assert status == 202
        assert served.call("POST", f"/ingestion/{bad}/_run")[0] == 202
        assert served.request("GET", f"{BASE}/jobs?password=Hunter-2-Secret").status == 400
        finals = {job: served.wait_final(job) for job in (good, bad)}
    finally:
        code = served.process.stop()
    assert code == 0
    assert metrics_dir.is_dir()  # the operator's directory is kept
    assert (finals[good]["state"], finals[good]["count"], finals[bad]["state"]) == ("successful", 500, "error")

    output = served.process.output
    lines = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    assert lines and all({"@timestamp", "log.level", "message", "ecs.version"} <= set(line) for line in lines)
    assert all(line["process"]["pid"] > 0 and line["log"]["logger"] for line in lines)
    assert "Hunter-2-Secret" not in output

    access = [line for line in lines if line["log"]["logger"] == "gunicorn.access"]
    (run_request,) = [line for line in access if line.get("request_id") == "json-log-test-1"]
    assert run_request["http"]["request"]["method"] == "POST"
    assert run_request["url"]["path"] == f"{BASE}/ingestion/{good}/_run"
    assert run_request["http"]["response"]["status_code"] == 202
    assert run_request["event"]["duration"] > 0
    (refused,) = [line for line in access if line.get("url", {}).get("query")]
    assert refused["url"]["query"] == "password=*****" and refused["http"]["response"]["status_code"] == 400
    assert any(line["log"]["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own lines too

    def run_lines(job: str, action: str) -> list[dict[str, Any]]:
        return [
            line
            for line in lines
            if line.get("event", {}).get("action") == action and line.get("job", {}).get("id") == job
        ]

    (started,) = run_lines(good, "run-started")
    (ended,) = run_lines(good, "run-ended")
    for line in (started, ended):
        assert line["run"]["id"] == finals[good]["run_id"] and line["worker"] == finals[good]["worker"]
    assert started["message"].startswith(f"run {finals[good]['run_id']} started: manual, REPLACE into ")
    assert ended["run"]["state"] == "successful" and ended["event"]["outcome"] == "success"
    assert (ended["run"]["count"], ended["run"]["error_count"], ended["run"]["rows"]) == (500, 0, 500)
    assert ended["run"]["duration_s"] > 0 and ended["run"]["rate"] > 0
    assert ended["event"]["duration"] == pytest.approx(ended["run"]["duration_s"] * 1e9, rel=0.01)
    (failed,) = run_lines(bad, "run-ended")
    assert failed["log.level"] == "warning" and failed["run"]["state"] == "error"
    assert failed["event"]["outcome"] == "failure"
    assert failed["run"]["reason"].startswith(f"Could not execute datasource query of [{bad}].")
    assert "gone" in failed["run"]["reason"]
    # Every line the worker logs during a run names the run.
    in_run = [line for line in lines if line.get("run", {}).get("id") == finals[bad]["run_id"]]
    assert {line.get("job", {}).get("id") for line in in_run} == {bad}


def test_a_worker_alone_serves_its_metrics(
    api: testing.TestClient,
    settings_env: dict[str, str],
    sqlite_db: Database,
    es: Elasticsearch,
    tmp_path: Path,
    target_prefix: str,
    test_tag: str,
) -> None:
    port = free_port()
    env = {**settings_env, "CONNECTOR_WORKER_METRICS_BIND": f"127.0.0.1:{port}"}
    worker = ServiceProcess(["worker"], env, tmp_path / "worker.log")
    job = f"{test_tag}-alone"
    try:
        worker.wait_http(f"http://127.0.0.1:{port}/metrics")
        sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        sqlite_db.execute("INSERT INTO t VALUES " + ", ".join(f"({i})" for i in range(1, 251)))
        define(api, sqlite_db, job, query="SELECT * FROM t", target=f"{target_prefix}alone", pk_field="id")
        start(api, job)
        final = wait_final(api, job)
        samples = parse(urllib3.request("GET", f"http://127.0.0.1:{port}/metrics").data.decode())
    finally:
        worker.stop(signal.SIGTERM)
    assert (final["state"], final["count"]) == ("successful", 250)
    assert final["worker"].split(":")[1] == str(worker.process.pid)
    assert value(samples, "connector_rows_read_total", ingestion=job) == 250
    assert value(samples, "connector_documents_indexed_total", ingestion=job) == 250
    assert value(samples, "connector_job_log_up") == 1
    assert ("process_cpu_seconds_total", ()) in samples  # one process: its own process metrics too
