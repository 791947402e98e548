"""Scheduler and reaper against the real job log, with an injected clock (no waiting)."""

from __future__ import annotations

import datetime as dt

import pytest
from elasticsearch import Elasticsearch
from falcon import testing
from prometheus_client import REGISTRY

from connector.doc_store import VersionConflict
from connector.job_state import JobState
from ingestion.workers.reaper import Reaper
from ingestion.workers.scheduler import Scheduler
from tests.conftest import Database
from tests.integration.ingest_support import BASE, define, status

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _scheduled(api: testing.TestClient, db: Database, target_prefix: str, **changes: object) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)")
    body = {
        "query": "SELECT * FROM t",
        "target": f"{target_prefix}sched",
        "pk_field": "id",
        "schedule": "0 */10 * * * ?",
        "enable_scheduler": True,
        **changes,
    }
    define(api, db, "sched", **body)


def _entries(es: Elasticsearch, runtime) -> list[dict]:
    es.indices.refresh(index=runtime.names.job_log)
    hits = es.search(index=runtime.names.job_log, size=100, sort=[{"ingestion.create_time": "asc"}])["hits"]["hits"]
    return [h["_source"]["ingestion"] for h in hits]


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _scheduler(runtime, clock: Clock, **overrides: float) -> Scheduler:
    settings = runtime.settings.worker.model_copy(update=overrides)
    return Scheduler(runtime.jobs, runtime.ingestion_store, settings, clock=clock)


def test_fire_times_once_skip_while_running_and_schedule_changes(
    api: testing.TestClient, sqlite_db: Database, es: Elasticsearch, target_prefix: str, runtime
) -> None:
    _scheduled(api, sqlite_db, target_prefix)
    defined_at = runtime.ingestion_store.get("sched").updated_at / 1000
    clock = Clock(dt.datetime.fromtimestamp(defined_at, dt.UTC))
    one, two = _scheduler(runtime, clock), _scheduler(runtime, clock)
    assert one.tick() == [] and two.tick() == []  # nothing due since the definition
    fired, skipped = (
        _metric("connector_scheduler_fires_total", ingestion="sched"),
        _metric("connector_scheduler_skips_total", ingestion="sched"),
    )
    clock.advance(600)  # the next 10-minute boundary has passed
    created = one.tick() + two.tick() + one.tick()
    assert len(created) == 1
    assert _metric("connector_scheduler_fires_total", ingestion="sched") == fired + 1  # once for all schedulers
    first = _entries(es, runtime)
    assert [(e["state"], e["trigger"]) for e in first] == [("queued", "schedule")]
    fire = first[0]["fire_time"]
    assert fire % 600_000 == 0 and fire <= clock.now * 1000
    clock.advance(600)  # next fire time while the first run is still queued: skipped, once
    assert one.tick() == [] and two.tick() == []
    entries = _entries(es, runtime)
    assert [e["state"] for e in entries] == ["queued", "skipped"]
    assert _metric("connector_scheduler_skips_total", ingestion="sched") == skipped + 1
    assert entries[1]["fire_time"] == fire + 600_000
    assert "previous run was still running" in entries[1]["infos"]
    # Disable: nothing fires. Re-enable with another schedule: takes effect, without back-filling.
    api.simulate_post(f"{BASE}/jobs/ingestion/sched/_abort")
    _scheduled(api, sqlite_db, target_prefix, enable_scheduler=False)
    clock.now = runtime.ingestion_store.get("sched").updated_at / 1000 + 3600
    assert one.tick() == []
    _scheduled(api, sqlite_db, target_prefix, schedule="30 * * * * ?")
    changed_ms = runtime.ingestion_store.get("sched").updated_at
    first_boundary = changed_ms - changed_ms % 60_000 + 30_000
    if first_boundary < changed_ms:
        first_boundary += 60_000
    clock.now = first_boundary / 1000 - 0.5
    assert one.tick() == []  # earlier :30 boundaries predate the change and do not fire
    clock.advance(1)
    assert len(one.tick()) == 1
    assert _entries(es, runtime)[-1]["fire_time"] == first_boundary


def test_missed_fire_times_fire_once_within_the_grace(
    api: testing.TestClient, sqlite_db: Database, es: Elasticsearch, target_prefix: str, runtime
) -> None:
    _scheduled(api, sqlite_db, target_prefix)
    defined_at = runtime.ingestion_store.get("sched").updated_at / 1000
    clock = Clock(dt.datetime.fromtimestamp(defined_at, dt.UTC))
    clock.advance(5 * 600)  # five fire times passed with no scheduler running
    assert len(_scheduler(runtime, clock).tick()) == 1
    entries = _entries(es, runtime)
    assert len(entries) == 1
    assert entries[0]["fire_time"] == int(clock.now * 1000) // 600_000 * 600_000  # the latest one
    api.simulate_post(f"{BASE}/jobs/ingestion/sched/_abort")
    boundary = (int(clock.now) // 600 + 3) * 600
    clock.now = boundary + 120  # the latest fire time is 120 s old: beyond a 60 s grace
    assert _scheduler(runtime, clock, misfire_grace_s=60).tick() == []
    clock.now = boundary + 600 + 30  # 30 s after the next one: within the grace
    assert len(_scheduler(runtime, clock, misfire_grace_s=60).tick()) == 1


def test_reaper_takes_over_runs_without_heartbeat(
    api: testing.TestClient, sqlite_db: Database, es: Elasticsearch, index_prefix: str, runtime, target_prefix: str
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    define(api, sqlite_db, "lost", query="SELECT * FROM t", target=f"{target_prefix}lost", pk_field="id")
    queued = runtime.jobs.current_run("ingestion", "lost")
    assert queued is None
    api.simulate_post(f"{BASE}/ingestion/lost/_run")
    run = runtime.jobs.current_run("ingestion", "lost")
    beat = run.status.create_time
    running = runtime.jobs.save(
        run, run.status.moved_to(JobState.RUNNING, start_time=beat, worker="host:1:dead", heartbeat=beat)
    )
    lease = runtime.settings.worker.lease_s
    clock = Clock(dt.datetime.fromtimestamp(beat / 1000 + lease - 1, dt.UTC))
    reaper = Reaper(runtime.jobs, es, runtime.settings.worker, name="host:2:alive", clock=clock)
    assert reaper.tick() == []  # within the lease
    clock.advance(2)
    reaped_before = _metric("connector_runs_ended_total", ingestion="lost", outcome="reaped")
    assert reaper.tick() == [running.status.run_id]
    assert reaper.tick() == []  # once
    assert _metric("connector_runs_ended_total", ingestion="lost", outcome="reaped") == reaped_before + 1
    reaped = status(api, "lost")
    assert reaped["state"] == "error" and reaped["is_running"] is False
    assert "host:1:dead" in reaped["infos"] and "host:2:alive" in reaped["infos"]
    assert dt.datetime.fromtimestamp(beat / 1000, dt.UTC).isoformat(timespec="seconds") in reaped["infos"]
    # The worker that lost its lease is fenced: its next conditional write fails.
    with pytest.raises(VersionConflict):
        runtime.jobs.save(running, running.status.with_progress(count=99))
    assert status(api, "lost")["count"] == 0
