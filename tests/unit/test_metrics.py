"""Metric label bounds, the folding of deleted ingestions, outcomes, and the dashboard's metric names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import CounterMetricFamily, Metric

from connector.errors import StoreUnavailable
from connector.job_state import JobState
from connector.job_store import JobLogSnapshot
from connector.metrics import OTHER_INGESTIONS, BoundedLabels, run_outcome
from connector.metrics_view import IngestionLabelFolding, JobLogCollector, JobLogReader, JobLogView, fold_ingestions

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def test_label_values_past_the_limit_are_other() -> None:
    labels = BoundedLabels(2, "_other")
    assert [labels(v) for v in ("a", "b", "c", "a", "b", "d")] == ["a", "b", "_other", "a", "b", "_other"]


def _counter(samples: dict[str, float]) -> Metric:
    family = CounterMetricFamily("connector_rows_read", "rows", labels=["ingestion"])
    for ingestion, value in samples.items():
        family.add_metric([ingestion], value, created=1000.0 + value)
    return family


def test_deleted_ingestions_are_folded_into_other_and_totals_kept() -> None:
    folded = fold_ingestions(_counter({"kept": 5, "gone": 7, "also-gone": 11}), frozenset({"kept"}))
    totals = {(s.name, s.labels["ingestion"]): s.value for s in folded.samples}
    assert totals == {
        ("connector_rows_read_total", "kept"): 5,
        ("connector_rows_read_total", OTHER_INGESTIONS): 18,
        ("connector_rows_read_created", "kept"): 1005.0,
        ("connector_rows_read_created", OTHER_INGESTIONS): 1007.0,  # the earliest, not a sum of times
    }


def test_families_of_defined_ingestions_pass_unchanged() -> None:
    family = _counter({"a": 1, "b": 2})
    assert fold_ingestions(family, frozenset({"a", "b"})) is family


class _Source:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class _Ids:
    """Stands in for the ingestions index: the ids it lists, and how often it was read."""

    def __init__(self, *ids: str) -> None:
        self.listed = list(ids)
        self.reads = 0
        self.down = False

    def ids(self, *, limit: int, timeout_s: float) -> list[str]:
        self.reads += 1
        if self.down:
            raise StoreUnavailable("down")
        return self.listed


def _folding(family: Metric, ids: _Ids, clock: list[float]) -> tuple[IngestionLabelFolding, JobLogReader]:
    reader = JobLogReader(None, ids, clock=lambda: clock[0])  # type: ignore[arg-type]
    return IngestionLabelFolding(_Source([family]), reader), reader


def _labels(families: list[Metric]) -> set[str]:
    return {s.labels["ingestion"] for f in families for s in f.samples}


def test_an_ingestion_defined_after_the_cached_list_is_not_folded() -> None:
    clock = [1000.0]
    ids = _Ids("old")
    folding, _ = _folding(_counter({"old": 1}), ids, clock)
    assert _labels(list(folding.collect())) == {"old"}
    ids.listed.append("new")  # defined, and run, a second later: the cached list does not have it
    folding.source = _Source([_counter({"old": 1, "new": 2})])
    clock[0] += 1
    assert _labels(list(folding.collect())) == {"old", "new"}  # read again, not counted as _other
    assert ids.reads == 2
    ids.listed.remove("old")  # deleted: a list read after the values were recorded does not have it
    clock[0] += 10
    assert _labels(list(folding.collect())) == {"new", OTHER_INGESTIONS}


def test_labels_stay_as_recorded_while_the_ingestions_are_unreadable() -> None:
    ids = _Ids()
    ids.down = True
    clock = [0.0]
    folding, _ = _folding(_counter({"gone": 3}), ids, clock)
    assert _labels(list(folding.collect())) == {"gone"}
    clock[0] += 1
    assert _labels(list(folding.collect())) == {"gone"}
    assert ids.reads == 1  # a scrape soon after does not wait on Elasticsearch again


@pytest.mark.parametrize(
    ("state", "lost", "outcome"),
    [
        (JobState.SUCCESSFUL, False, "successful"),
        (JobState.ERROR, False, "error"),
        (JobState.ABORTED, False, "aborted"),
        (JobState.QUEUED, True, "handed_back"),  # hand_back marks the handle lost too
        (JobState.RUNNING, False, "lost"),
        (JobState.ERROR, True, "lost"),  # its final write found the run taken away
    ],
)
def test_run_outcomes(state: JobState, lost: bool, outcome: str) -> None:
    assert run_outcome(state, lost=lost) == outcome


class _Reader:
    def __init__(self, view: JobLogView | None) -> None:
        self.view = view

    def current(self) -> JobLogView | None:
        return self.view


def test_job_log_gauges() -> None:
    snapshot = JobLogSnapshot(states={"queued": 2, "running": 1}, oldest_queued_ms=10_000, oldest_heartbeat_ms=55_000)
    families = {f.name: f for f in JobLogCollector(_Reader(JobLogView(snapshot, 70_000))).collect()}  # type: ignore[arg-type]
    values = {(s.name, tuple(s.labels.values())): s.value for f in families.values() for s in f.samples}
    assert values == {
        ("connector_job_log_up", ()): 1,
        ("connector_job_log_runs", ("queued",)): 2,
        ("connector_job_log_runs", ("running",)): 1,
        ("connector_job_log_oldest_queued_age_seconds", ()): 60.0,
        ("connector_job_log_oldest_heartbeat_age_seconds", ()): 15.0,
    }
    down = list(JobLogCollector(_Reader(None)).collect())  # type: ignore[arg-type]
    assert [(f.name, f.samples[0].value) for f in down] == [("connector_job_log_up", 0)]


def _exposed_names() -> set[str]:
    """Every sample name /metrics can show: recorded metrics, HTTP metrics, job-log gauges."""
    import api.middleware  # noqa: F401 - defines the HTTP metrics

    snapshot = JobLogSnapshot(states={"queued": 1}, oldest_queued_ms=0, oldest_heartbeat_ms=0)
    reader = _Reader(JobLogView(snapshot, 0))
    families = [*REGISTRY.collect(), *JobLogCollector(reader).collect()]  # type: ignore[arg-type]
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {f.name + suffix for f in families for suffix in suffixes.get(f.type, ("",))}


def test_the_dashboard_uses_only_metrics_the_service_exposes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bconnector_[a-z_]+", expr)}
    used |= set(re.findall(r"\bconnector_[a-z_]+", json.dumps(dashboard["templating"])))
    assert used - _exposed_names() == set()
    spec = {
        "connector_rows_read_total",
        "connector_documents_indexed_total",
        "connector_documents_rejected_total",
        "connector_documents_deleted_total",
        "connector_bulk_retries_total",
        "connector_bulk_request_duration_seconds_bucket",
        "connector_bulk_sent_bytes_total",
        "connector_runs_ended_total",
        "connector_runs_active",
        "connector_job_log_runs",
        "connector_job_log_oldest_heartbeat_age_seconds",
        "connector_scheduler_fires_total",
        "connector_scheduler_skips_total",
    }
    assert spec <= used  # throughput, job states, errors, bulk latency and queue are all on it
