"""Own the writes a worker makes to one partition of a partitioned run, and what it learns of the run.

Like ``run_handle`` for a run: the executing thread and the heartbeat thread
share the handle, writes are serialised and conditional, and a version
conflict means the partition was taken away (reaped, aborted with its run):
the worker stops writing. The heartbeat also re-reads the run the partition
belongs to: when the run is being aborted, has ended, or its coordinator
asked the partitions to stop (another partition failed), the partition
stops at its next batch boundary, its checkpoint kept for a resume.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from connector.doc_store import VersionConflict
from connector.job_state import JobState, RunStatus
from connector.job_store import JobStore
from connector.partition_store import Partition, PartitionState, PartitionStore, StoredPartition
from ingestion.run.run_state import Counters

log = logging.getLogger(__name__)

# A partition's rows in the run's errors report start at k * this (each partition keeps its own count).
SEQ_STRIDE = 1_000_000_000
# What a partition keeps of the status fields its copy loop reports.
_KEPT = ("count", "last_id", "error_count", "deleted", "checkpoint", "last_record", "last_record_timestamp")


class PartitionLost(Exception):
    """The partition was changed by someone else (reaped, aborted with its run); this worker must stop."""


def from_checkpoint(partition: Partition, **changes: Any) -> Partition:
    """``partition`` queued to continue from its checkpoint, its counters as they were when that was written."""
    counters = Counters.resumed(partition.checkpoint)
    return dataclasses.replace(
        partition,
        state=PartitionState.QUEUED,
        worker=None,
        heartbeat=None,
        rows_read=counters.rows_read,
        count=counters.count,
        deleted=counters.deleted,
        error_count=counters.error_count,
        recorded_errors=counters.recorded_errors,
        last_id=counters.last_id,
        **changes,
    )


def parent_stops(run: RunStatus | None) -> str | None:
    """Why the partitions of ``run`` must stop now, or None to go on (a queued run is between coordinators)."""
    if run is None:
        return "its run no longer exists"
    if run.state == JobState.ABORTING:
        return "its run is being aborted"
    if run.ended:
        return f"its run has ended ({run.state.value})"
    if (run.partitioning or {}).get("stop"):
        return "another partition of its run failed"
    return None


class PartitionHandle:
    def __init__(
        self,
        partitions: PartitionStore,
        jobs: JobStore,
        stored: StoredPartition,
        run: RunStatus,
        *,
        worker: str,
        status_interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.partitions = partitions
        self.jobs = jobs
        self.worker = worker
        self.status_interval_s = status_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._current = stored
        self._run = run
        self._pending: dict[str, Any] = {}
        self._last_write = clock()
        self.abort_requested = threading.Event()  # the run says stop (abort, end, another partition failed)
        self.stop_reason: str | None = None
        self.lost = threading.Event()
        self.seq_base = stored.partition.k * SEQ_STRIDE

    @property
    def status(self) -> RunStatus:
        """The run this partition belongs to, as read when it was claimed or last checked."""
        return self._run

    @property
    def partition(self) -> Partition:
        with self._lock:
            return self._current.partition

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def update(self, *, force: bool = False, **changes: Any) -> None:
        """Record progress (the run-status fields a partition keeps); written at most every status interval."""
        with self._lock:
            self._pending.update({k: v for k, v in changes.items() if k in _KEPT})
            due = force or self._clock() - self._last_write >= self.status_interval_s
            if due:
                self._write(self._merged)
        if due:  # as often as a run's own status write would learn of an abort
            self.check_run()

    def heartbeat(self) -> None:
        """Prove this worker is alive, and find out whether the run wants its partitions to stop."""
        with self._lock:
            if self.lost.is_set() or self._current.partition.ended:
                return
            self._write(self._merged)
        self.check_run()

    def check_run(self) -> bool:
        """Re-read the run now; True if this partition must stop."""
        fresh = self.jobs.get_run(self._run.run_id)
        reason = parent_stops(fresh.status if fresh else None)
        if fresh is not None:
            self._run = fresh.status
        if reason is not None and not self.abort_requested.is_set():
            self.stop_reason = reason
            log.info("partition %s stops: %s", self._current.partition.id, reason)
            self.abort_requested.set()
        return self.abort_requested.is_set()

    def finish(self, state: PartitionState, *, error: list[str] | None = None, **changes: Any) -> None:
        """Write the partition's final state (searchable once this returns)."""
        with self._lock:
            self._pending.update({k: v for k, v in changes.items() if k in _KEPT})

            def final(partition: Partition) -> Partition:
                merged = self._merged(partition)
                return dataclasses.replace(
                    merged, state=state, end_time=self.now_ms(), heartbeat=None, error=list(error or [])
                )

            self._write(final, refresh=True)

    def hand_back(self, **changes: Any) -> None:
        """Queue the partition again (worker shutting down), from its checkpoint."""
        with self._lock:
            self._pending.update({k: v for k, v in changes.items() if k in _KEPT})

            def queued(partition: Partition) -> Partition:
                merged = self._merged(partition)
                return dataclasses.replace(merged, state=PartitionState.QUEUED, worker=None, heartbeat=None)

            self._write(queued, refresh=True)
            self.lost.set()

    def _merged(self, partition: Partition) -> Partition:
        changes = dict(self._pending)
        checkpoint = changes.get("checkpoint", partition.checkpoint)
        if checkpoint is not None:
            changes["rows_read"] = checkpoint["rows_read"]
            changes["recorded_errors"] = checkpoint["recorded_errors"]
        return dataclasses.replace(partition, **changes)

    def _write(self, change: Callable[[Partition], Partition], *, refresh: bool = False) -> None:
        if self.lost.is_set():
            raise PartitionLost(f"partition {self._current.partition.id} is no longer owned by {self.worker}")
        partition = change(self._current.partition)
        if partition.state == PartitionState.RUNNING:
            partition = dataclasses.replace(partition, heartbeat=self.now_ms())
        try:
            self._current = self.partitions.save(self._current, partition, refresh=refresh)
        except VersionConflict:
            self.lost.set()
            fresh = self.partitions.get(partition.run_id, partition.k)
            now = fresh.partition.state.value if fresh else "deleted"
            log.warning("partition %s was taken away from %s (now %s)", partition.id, self.worker, now)
            raise PartitionLost(f"partition {partition.id} is now {now}; {self.worker} stops") from None
        self._pending.clear()
        self._last_write = self._clock()
