"""Own what one scrape of ``/metrics`` answers: every process's values, bounded labels, job-log gauges.

A scrape collects, in this order:

1. the recorded metrics: from the multiprocess directory when the process
   has one (`connector serve`: gunicorn workers and worker processes, summed
   by prometheus_client's :class:`MultiProcessCollector`), else from this
   process's registry (a `connector worker` started alone, tests);
2. with their ``ingestion`` label folded: an id that is not a defined
   ingestion any more (deleted) is counted as ``_other`` (so are ids past
   the per-process cap of ``connector.metrics``); totals are kept;
3. gauges computed from the job log at scrape time, because no single
   process knows them (workers on other hosts queue, run and heartbeat
   too): runs per state, the age of the oldest queued run, the age of the
   stalest heartbeat. One search, cached :data:`JOB_LOG_CACHE_S` per process.

Elasticsearch unreachable: ``connector_job_log_up`` is 0, the job-log gauges
are absent and labels are left as recorded (they were defined then).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from connector.errors import StoreUnavailable
from connector.ingestion_store import IngestionStore
from connector.job_store import JobLogSnapshot, JobStore
from connector.metrics import OTHER_INGESTIONS

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
JOB_LOG_CACHE_S = 5.0  # scrapes (every 15 s or so, from several Prometheus) share one search
JOB_LOG_TIMEOUT_S = 2.0  # a stalled cluster makes the scrape miss the job-log gauges, not hang
MAX_LISTED_INGESTIONS = 10_000  # Elasticsearch's default result window
INGESTION_LABEL = "ingestion"


def multiprocess_dir() -> str | None:
    """The multiprocess directory of this process, if it writes its metrics there."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


@dataclass(frozen=True, slots=True)
class JobLogView:
    snapshot: JobLogSnapshot
    read_at_ms: int


class JobLogReader:
    """The job-log snapshot and the defined ingestion ids, each read at most every ``ttl_s`` (or when stale)."""

    def __init__(
        self,
        jobs: JobStore,
        ingestions: IngestionStore,
        *,
        ttl_s: float = JOB_LOG_CACHE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jobs = jobs
        self.ingestions = ingestions
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._view: JobLogView | None = None
        self._failed_at: float | None = None
        self._ids: frozenset[str] | None = None
        self._ids_at = 0.0

    def now(self) -> float:
        return self._clock()

    def current(self) -> JobLogView | None:
        """A fresh enough view, or None while Elasticsearch does not answer."""
        with self._lock:
            now = self._clock()
            if self._view is not None and now - self._view.read_at_ms / 1000 < self.ttl_s:
                return self._view
            if self._failed_at is not None and now - self._failed_at < self.ttl_s:
                return None
            try:
                snapshot = self.jobs.snapshot(timeout_s=JOB_LOG_TIMEOUT_S)
            except StoreUnavailable as ex:
                log.warning("metrics: job log unreadable: %s", ex.reason)
                self._view, self._failed_at = None, now
                return None
            self._view, self._failed_at = JobLogView(snapshot, int(now * 1000)), None
            return self._view

    def defined_ingestions(self, recorded: Collection[str], *, since: float) -> frozenset[str] | None:
        """The ids of the defined ingestions, or None if Elasticsearch does not answer.

        An id in ``recorded`` was defined when it was recorded, before ``since``:
        absent from a list read after ``since``, it was deleted; absent from an
        older one, it may be newer than the list, which is then read again.
        """
        with self._lock:
            now = self._clock()
            cached = self._ids
            fresh = cached is not None and now - self._ids_at < self.ttl_s
            if fresh and cached is not None and (self._ids_at >= since or all(i in cached for i in recorded)):
                return cached
            if self._failed_at is not None and now - self._failed_at < self.ttl_s:
                return None  # Elasticsearch did not answer a moment ago: do not make every scrape wait on it
            try:
                ids = self.ingestions.ids(limit=MAX_LISTED_INGESTIONS, timeout_s=JOB_LOG_TIMEOUT_S)
            except StoreUnavailable as ex:
                log.warning("metrics: ingestions unreadable: %s", ex.reason)
                self._failed_at = now
                return None
            self._ids, self._ids_at = frozenset(ids), now
            return self._ids


class JobLogCollector:
    """Gauges of the whole job log, computed at scrape time."""

    def __init__(self, reader: JobLogReader) -> None:
        self.reader = reader

    def collect(self) -> Iterable[Metric]:
        view = self.reader.current()
        yield GaugeMetricFamily(
            "connector_job_log_up", "1 if the job log could be read for this scrape", value=1 if view else 0
        )
        if view is None:
            return
        runs = GaugeMetricFamily(
            "connector_job_log_runs", "Runs in the job log by state (every process, every host)", labels=["state"]
        )
        for state, count in sorted(view.snapshot.states.items()):
            runs.add_metric([state], count)
        yield runs
        yield GaugeMetricFamily(
            "connector_job_log_oldest_queued_age_seconds",
            "How long the oldest queued run has waited for a worker (0: none queued)",
            value=_age_s(view.snapshot.oldest_queued_ms, view.read_at_ms),
        )
        yield GaugeMetricFamily(
            "connector_job_log_oldest_heartbeat_age_seconds",
            "Age of the stalest heartbeat of a running or aborting run (0: none active); "
            "past worker.lease_s the run is reaped",
            value=_age_s(view.snapshot.oldest_heartbeat_ms, view.read_at_ms),
        )


def _age_s(then_ms: int | None, now_ms: int) -> float:
    return max(0.0, (now_ms - then_ms) / 1000) if then_ms is not None else 0.0


class IngestionLabelFolding:
    """Pass ``source``'s metrics through, samples of deleted ingestions summed into ``_other``."""

    def __init__(self, source: Collector, reader: JobLogReader) -> None:
        self.source = source
        self.reader = reader

    def collect(self) -> Iterable[Metric]:
        since = self.reader.now()
        families = list(self.source.collect())
        recorded = {s.labels[INGESTION_LABEL] for f in families for s in f.samples if INGESTION_LABEL in s.labels}
        recorded.discard(OTHER_INGESTIONS)
        if not recorded:
            return families
        known = self.reader.defined_ingestions(recorded, since=since)
        if known is None:
            return families
        return [fold_ingestions(family, known) for family in families]


def fold_ingestions(family: Metric, known: frozenset[str]) -> Metric:
    """``family`` with every ``ingestion`` label not in ``known`` replaced by ``_other``, values summed."""
    if not any(s.labels.get(INGESTION_LABEL, OTHER_INGESTIONS) not in known for s in family.samples):
        return family
    summed: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for sample in family.samples:
        labels = dict(sample.labels)
        if labels.get(INGESTION_LABEL) not in (None, *known):
            labels[INGESTION_LABEL] = OTHER_INGESTIONS
        key = (sample.name, tuple(sorted(labels.items())))
        if key not in summed:
            summed[key] = sample.value
        elif sample.name.endswith("_created"):  # a creation time: the earliest of the folded series
            summed[key] = min(summed[key], sample.value)
        else:
            summed[key] += sample.value
    folded = Metric(family.name, family.documentation, family.type, family.unit)
    folded.samples = [Sample(name, dict(labels), value) for (name, labels), value in summed.items()]
    return folded


class MultiProcessSource:
    """The summed metrics of every process writing to ``path``; processes that died leave the live gauges.

    gunicorn's ``child_exit`` hook marks its workers dead; worker processes
    (supervised, or killed with -9) are noticed here, at scrape time.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._collector = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for pid in _pids_with_live_gauges(self.path):
            if not _alive(pid):
                mark_process_dead(pid, self.path)  # type: ignore[no-untyped-call]
        metrics: Iterable[Metric] = self._collector.collect()  # type: ignore[no-untyped-call]
        return metrics


def _pids_with_live_gauges(path: str) -> set[int]:
    pids = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        tail = os.path.basename(name).rsplit("_", 1)[-1].removesuffix(".db")
        if tail.isdigit():
            pids.add(int(tail))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def scrape_registry(jobs: JobStore, ingestions: IngestionStore) -> CollectorRegistry:
    """The registry ``/metrics`` renders: recorded metrics (all processes), folded labels, job-log gauges."""
    reader = JobLogReader(jobs, ingestions)
    path = multiprocess_dir()
    source: Collector = MultiProcessSource(path) if path else _RegistrySource(REGISTRY)
    view = CollectorRegistry(auto_describe=False)
    view.register(IngestionLabelFolding(source, reader))
    view.register(JobLogCollector(reader))
    return view


class _RegistrySource:
    """Every metric of a process-local registry (single-process mode)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


def mark_dead(pid: int) -> None:
    """Drop the live gauges of an exited process (gunicorn's ``child_exit``), if metrics are multiprocess."""
    path = multiprocess_dir()
    if path:
        with contextlib.suppress(FileNotFoundError):
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
