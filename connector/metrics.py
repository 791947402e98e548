"""Own the engine's Prometheus metrics (SPEC §12): their definitions and the calls that record them.

The engine records through the small functions below, never through the
metric objects, so that label values stay bounded in one place:

- ``ingestion`` is an ingestion id, and only one that was defined when it
  was recorded (call sites have just read the definition). A process keeps
  at most :data:`MAX_INGESTION_LABELS` distinct ids; later ones are counted
  as :data:`OTHER_INGESTIONS`. At scrape time, ids no longer defined (deleted
  ingestions) are folded into :data:`OTHER_INGESTIONS` too
  (``connector.metrics_view``), so a series exists only for defined ingestions.
- every other label has a fixed set of values (``reason``, ``outcome``).

In `connector serve`, every process writes its values to the multiprocess
directory (prometheus_client's multiprocess mode, ``api/metrics_setup.py``)
and one scrape of ``/metrics`` sums them. Counters of exited processes stay
in the sums (so counters never go down); the live gauge counts only live
processes (``livesum``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

from connector.job_state import JobState

# Per process: at most this many ingestion ids as label values (about 12 series each).
MAX_INGESTION_LABELS = 500
OTHER_INGESTIONS = "_other"  # never an ingestion id: ids start with a letter or digit

RetryReason = Literal["429", "5xx", "connection"]

# Bulk requests take milliseconds on an idle cluster and up to the request timeout (30 s) on a busy one.
BULK_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

ROWS_READ = Counter("connector_rows_read_total", "Rows read from datasources by ingestion runs", ["ingestion"])
DOCUMENTS_INDEXED = Counter(
    "connector_documents_indexed_total", "Documents Elasticsearch accepted from ingestion runs", ["ingestion"]
)
DOCUMENTS_REJECTED = Counter(
    "connector_documents_rejected_total",
    "Rows not indexed (refused by Elasticsearch, bad key, failed transform); the run's error_count",
    ["ingestion"],
)
DOCUMENTS_DELETED = Counter(
    "connector_documents_deleted_total", "Documents deleted from targets by change sync", ["ingestion"]
)
BULK_REQUESTS = Counter("connector_bulk_requests_total", "Bulk requests sent to Elasticsearch, retries included")
BULK_RETRIES = Counter(
    "connector_bulk_retries_total",
    "Bulk requests retried, by reason: 429 (too many requests), 5xx (502/503/504 or items answered 5xx), "
    "connection (transport error or timeout)",
    ["reason"],
)
BULK_LATENCY = Histogram(
    "connector_bulk_request_duration_seconds",
    "Time from sending a bulk request to its answer (or failure)",
    buckets=BULK_LATENCY_BUCKETS_S,
)
BULK_BYTES = Counter("connector_bulk_sent_bytes_total", "Bytes of bulk request bodies sent, retries included")
RUNS_STARTED = Counter(
    "connector_runs_started_total",
    "Runs a worker of this service started executing (a resumed run again)",
    ["ingestion"],
)
RUNS_ENDED = Counter(
    "connector_runs_ended_total",
    "Run executions that ended, by outcome: successful, error, aborted, handed_back (worker stopping), "
    "lost (taken away from its worker), reaped (its worker stopped heartbeating)",
    ["ingestion", "outcome"],
)
RUNS_ACTIVE = Gauge(
    "connector_runs_active",
    "Runs executing now in the worker processes of this service",
    multiprocess_mode="livesum",
)
SCHEDULER_FIRES = Counter(
    "connector_scheduler_fires_total",
    "Scheduled fire times that queued a run (counted once whatever the instances)",
    ["ingestion"],
)
SCHEDULER_SKIPS = Counter(
    "connector_scheduler_skips_total",
    "Scheduled fire times skipped because the previous run was still active",
    ["ingestion"],
)


class BoundedLabels:
    """Label values as given, up to ``limit`` distinct ones; any further value is ``other``."""

    def __init__(self, limit: int, other: str) -> None:
        self.limit = limit
        self.other = other
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return self.other


ingestion_label = BoundedLabels(MAX_INGESTION_LABELS, OTHER_INGESTIONS)


def batch_written(ingestion_id: str, *, rows: int, indexed: int, rejected: int) -> None:
    """Count one batch of a run: rows read, documents indexed, rows rejected."""
    label = ingestion_label(ingestion_id)
    ROWS_READ.labels(label).inc(rows)
    DOCUMENTS_INDEXED.labels(label).inc(indexed)
    if rejected:
        DOCUMENTS_REJECTED.labels(label).inc(rejected)


def documents_deleted(ingestion_id: str, count: int) -> None:
    """Count documents that change sync deleted from the target of ``ingestion_id``."""
    if count:
        DOCUMENTS_DELETED.labels(ingestion_label(ingestion_id)).inc(count)


def bulk_request(*, seconds: float, sent_bytes: int) -> None:
    """Count one bulk request (answered or not), its latency and its body size."""
    BULK_REQUESTS.inc()
    BULK_LATENCY.observe(seconds)
    BULK_BYTES.inc(sent_bytes)


def bulk_retry(reason: RetryReason) -> None:
    BULK_RETRIES.labels(reason).inc()


def run_started(ingestion_id: str) -> None:
    RUNS_STARTED.labels(ingestion_label(ingestion_id)).inc()


def run_outcome(state: JobState, *, lost: bool = False) -> str:
    """How a run execution ended, from the state its worker last wrote or saw."""
    if state == JobState.QUEUED:
        return "handed_back"
    if lost or state in (JobState.RUNNING, JobState.ABORTING):
        return "lost"
    return state.value


def run_ended(ingestion_id: str, outcome: str) -> None:
    RUNS_ENDED.labels(ingestion_label(ingestion_id), outcome).inc()


@contextmanager
def run_active() -> Iterator[None]:
    """Count a run as executing for the duration of the block."""
    with RUNS_ACTIVE.track_inprogress():
        yield


def scheduler_fired(ingestion_id: str) -> None:
    SCHEDULER_FIRES.labels(ingestion_label(ingestion_id)).inc()


def scheduler_skipped(ingestion_id: str) -> None:
    SCHEDULER_SKIPS.labels(ingestion_label(ingestion_id)).inc()
