"""Own crash recovery: runs whose worker stopped heartbeating, and expired kept staging indices.

Every worker runs the reaper on each poll. A run in ``running`` or
``aborting`` whose heartbeat is older than the lease is moved to ``error``
with a conditional write naming the version read: if the worker was alive
after all its heartbeat changed the version and the reap loses; if two
reapers race, one wins. A live worker that was reaped finds out at its next
status write (version conflict, run no longer its own) and stops writing.
A reaped REPLACE run with a checkpoint keeps its staging index for a resume;
kept staging indices are dropped after ``staging_retention_s``.

Ranges of partitioned runs are reaped the same way: a range whose worker
stopped heartbeating is queued again from its checkpoint while its run goes
on, and ended (``aborted``) when its run has stopped; queued ranges of a run
that ended are ended too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable

from elasticsearch import Elasticsearch

from connector import metrics
from connector.doc_store import VersionConflict
from connector.job_state import JobState, RunStatus
from connector.job_store import JobStore, StoredRun
from connector.partition_store import Partition, PartitionState, PartitionStore
from connector.settings import WorkerSettings
from ingestion.run.partition_handle import from_checkpoint, parent_stops
from ingestion.sink.targets import drop_staging

log = logging.getLogger(__name__)


class Reaper:
    def __init__(
        self,
        jobs: JobStore,
        es: Elasticsearch,
        settings: WorkerSettings,
        *,
        name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jobs = jobs
        self.es = es
        self.settings = settings
        self.name = name
        self._clock = clock
        self.partitions = PartitionStore(es, jobs.names.job_partitions)

    def tick(self) -> list[str]:
        """Reap the runs whose lease expired; return their run ids."""
        now = int(self._clock() * 1000)
        deadline = now - int(self.settings.lease_s * 1000)
        reaped = []
        for run in self.jobs.find_active():
            heartbeat = run.status.heartbeat or run.status.start_time or 0
            if heartbeat < deadline and self._reap(run, now):
                reaped.append(run.status.run_id)
        reaped += self._reap_partitions(now, deadline)
        self._expire_staging(now)
        return reaped

    def _reap_partitions(self, now: int, deadline: int) -> list[str]:
        """Queue again the ranges whose worker stopped heartbeating; end those of runs that stopped."""
        runs: dict[str, RunStatus | None] = {}

        def run_of(partition: Partition) -> RunStatus | None:
            if partition.run_id not in runs:
                found = self.jobs.get_run(partition.run_id)
                runs[partition.run_id] = found.status if found is not None else None
            return runs[partition.run_id]

        reaped = []
        for stored in self.partitions.running():
            partition = stored.partition
            if (partition.heartbeat or partition.start_time or 0) >= deadline:
                continue
            why = parent_stops(run_of(partition))
            if why is None:  # the run goes on: another worker continues the range from its checkpoint
                changed = from_checkpoint(partition)
            else:
                changed = dataclasses.replace(partition, state=PartitionState.ABORTED, end_time=now, heartbeat=None)
            try:
                self.partitions.save(stored, changed, refresh=True)
            except VersionConflict:
                continue  # it heartbeated meanwhile, or another reaper was first
            log.warning(
                "reaped partition %s of worker %s: %s",
                partition.id,
                partition.worker,
                "queued again from its checkpoint" if why is None else f"ended ({why})",
            )
            reaped.append(partition.id)
        for stored in self.partitions.queued(limit=1000):
            partition = stored.partition
            why = parent_stops(run_of(partition))
            if why is not None and why != "another partition of its run failed":  # its coordinator ends those
                ended = dataclasses.replace(partition, state=PartitionState.ABORTED, end_time=now)
                with contextlib.suppress(VersionConflict):
                    self.partitions.save(stored, ended, refresh=True)
                    reaped.append(partition.id)
        return reaped

    def _reap(self, run: StoredRun, now: int) -> bool:
        status = run.status
        last_seen = dt.datetime.fromtimestamp((status.heartbeat or 0) / 1000, tz=dt.UTC).isoformat(timespec="seconds")
        keep = bool(status.staging_index and (status.checkpoint or status.partitioning))
        infos = (
            f"The job has failed: worker [{status.worker}] stopped sending heartbeats "
            f"(last seen {last_seen}, lease {self.settings.lease_s:g} s); reaped by [{self.name}]."
        )
        errors = [f"The worker [{status.worker}] running [{status.id}] was lost (last heartbeat {last_seen})."]
        if status.partitioning:
            errors.append("Resume its unfinished partitions with _run?resume=true.")
        elif status.checkpoint:
            errors.append(f"Resume from key {status.checkpoint['pk']} with _run?resume=true.")
        try:
            reaped = status.moved_to(JobState.ERROR, end_time=now, infos=infos, error=errors, staging_kept=keep)
            self.jobs.save(run, reaped, refresh=True)
        except VersionConflict:
            return False  # it heartbeated meanwhile, or another reaper was first
        if status.staging_index and not keep:
            drop_staging(self.es, status.staging_index)
        metrics.run_ended(status.id, "reaped")
        log.warning("reaped run %s of worker %s (last heartbeat %s)", status.run_id, status.worker, last_seen)
        return True

    def _expire_staging(self, now: int) -> None:
        cutoff = now - int(self.settings.staging_retention_s * 1000)
        for run in self.jobs.kept_staging(ended_before=cutoff):
            if run.status.staging_index:
                drop_staging(self.es, run.status.staging_index)
            try:
                self.jobs.save(run, run.status.with_progress(staging_kept=False))
            except VersionConflict:
                continue
