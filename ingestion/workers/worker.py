"""Own the worker: claim queued runs with a conditional write, execute them, heartbeat.

Any number of workers on any number of hosts poll the job log for queued
runs, and the partitions index for queued key ranges of partitioned runs
(``partitioned``). Claiming is the conditional write ``queued -> running`` naming the
version that was read, so exactly one worker wins each run; the others get a
version conflict and move on. Each claimed run executes on its own thread
with a heartbeat thread beside it (``heartbeat_interval_s``). Each poll also
runs the reaper and (``worker.scheduler``) the scheduler. On stop, the
worker claims nothing more and its runs go back to the queue at their next
batch boundary, resumable from their checkpoint.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
import uuid

from connector import metrics
from connector.doc_store import VersionConflict
from connector.errors import ConnectorError
from connector.job_state import JobState
from connector.job_store import StoredRun
from connector.log_setup import run_context
from connector.partition_store import StoredPartition
from ingestion.run import run_log
from ingestion.run.partitioned import claim, execute, execute_partition
from ingestion.run.run_handle import RunHandle, RunLost
from ingestion.run.runner import RunContext
from ingestion.workers.reaper import Reaper
from ingestion.workers.scheduler import Scheduler

log = logging.getLogger(__name__)


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, ctx: RunContext, *, name: str | None = None) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.worker
        self.name = name or default_worker_name()
        self._active: dict[str, threading.Thread] = {}
        self._run_of: dict[str, str] = {}  # a range's id -> its run's
        self._lock = threading.Lock()
        self.reaper = Reaper(ctx.jobs, ctx.es, self.settings, name=self.name, clock=ctx.clock)
        self.scheduler = Scheduler(ctx.jobs, ctx.ingestions, self.settings, clock=ctx.clock)

    @property
    def active_runs(self) -> list[str]:
        with self._lock:
            return [run_id for run_id, thread in self._active.items() if thread.is_alive()]

    def run(self, stop: threading.Event) -> None:
        """Poll and execute until ``stop`` is set, then wait for the runs in progress."""
        log.info("worker %s started (max %d concurrent runs)", self.name, self.settings.max_concurrent_runs)
        steps = [self.reaper.tick, *([self.scheduler.tick] if self.settings.scheduler else []), self.tick]
        while not stop.is_set():
            for step in steps:
                try:
                    step()
                except ConnectorError as ex:
                    log.warning("worker %s: %s", self.name, ex.reason)
                except Exception:
                    log.exception("worker %s: unexpected error while polling", self.name)
            stop.wait(self.settings.poll_interval_s)
        self.ctx.shutdown.set()  # runs hand themselves back at their next batch boundary
        for thread in list(self._active.values()):
            thread.join()
        log.info("worker %s stopped", self.name)

    def tick(self) -> list[str]:
        """Claim queued runs, then queued ranges of partitioned runs, while slots are free; return their ids."""
        free = self.settings.max_concurrent_runs - len(self.active_runs)
        if free <= 0:
            return []
        claimed: list[str] = []
        for run in self.ctx.jobs.find_queued(limit=free * 4):
            if len(claimed) >= free:
                break
            mine = self._claim(run)
            if mine is not None:
                self._start(mine)
                claimed.append(mine.status.run_id)
        if len(claimed) < free:
            # One range of a run per worker: other processes take the others (a coordinator executes
            # the rest of its run's ranges one after the other, so one worker alone still ends it).
            busy = self.busy_runs
            for partition in claim(self.ctx, self.name, limit=free - len(claimed), skip_runs=busy):
                self._start_partition(partition)
                claimed.append(partition.partition.id)
        return claimed

    @property
    def busy_runs(self) -> set[str]:
        """Runs this worker coordinates or executes a range of."""
        with self._lock:
            return {self._run_of.get(key, key) for key, thread in self._active.items() if thread.is_alive()}

    def _claim(self, run: StoredRun) -> StoredRun | None:
        now = self.ctx.jobs.now_ms()
        # A run handed back by a stopping worker keeps its first start_time.
        status = run.status.moved_to(
            JobState.RUNNING, start_time=run.status.start_time or now, worker=self.name, heartbeat=now
        )
        try:
            return self.ctx.jobs.save(run, status)
        except VersionConflict:
            return None  # another worker claimed it, or it was aborted meanwhile

    def _start(self, run: StoredRun) -> None:
        thread = threading.Thread(target=self._execute, args=(run,), name=f"run-{run.status.run_id}", daemon=True)
        with self._lock:
            self._active = {k: t for k, t in self._active.items() if t.is_alive()}
            self._active[run.status.run_id] = thread
        thread.start()

    def _start_partition(self, claimed: StoredPartition) -> None:
        partition = claimed.partition
        thread = threading.Thread(
            target=self._execute_partition, args=(claimed,), name=f"part-{partition.id}", daemon=True
        )
        with self._lock:
            self._active = {k: t for k, t in self._active.items() if t.is_alive()}
            self._run_of = {k: r for k, r in self._run_of.items() if k in self._active}
            self._active[partition.id] = thread
            self._run_of[partition.id] = partition.run_id
        thread.start()

    def _execute_partition(self, claimed: StoredPartition) -> None:
        partition = claimed.partition
        with run_context(job_id=partition.job_id, run_id=partition.run_id, worker=self.name):
            log.info("partition %d of %d of run %s started", partition.k, partition.n, partition.run_id)
            try:
                state = execute_partition(self.ctx, claimed, worker=self.name)
            except Exception:  # it ends the range itself; this is a last resort for the thread
                log.exception("partition %s: unexpected error", partition.id)
                return
            log.info("partition %d of run %s ended %s", partition.k, partition.run_id, state.value)

    def _execute(self, run: StoredRun) -> None:
        status = run.status
        handle = RunHandle(
            self.ctx.jobs,
            run,
            worker=self.name,
            status_interval_s=self.ctx.settings.ingestion.status_interval_s,
            clock=self.ctx.clock,
        )
        done = threading.Event()
        with run_context(job_id=status.id, run_id=status.run_id, worker=self.name), metrics.run_active():
            # Threads do not inherit context variables: the heartbeat's lines name the run too.
            beat = threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._heartbeat, handle, done),
                name=f"beat-{status.run_id}",
                daemon=True,
            )
            beat.start()
            run_log.run_started(status)
            metrics.run_started(status.id)
            started = time.monotonic()
            try:
                state = execute(self.ctx, handle)
            finally:
                done.set()
                beat.join()
            outcome = metrics.run_outcome(state, lost=handle.lost.is_set())
            metrics.run_ended(status.id, outcome)
            run_log.run_ended(
                handle.status,
                outcome,
                seconds=time.monotonic() - started,
                count_before=run_log.count_at_start(status),
            )

    def _heartbeat(self, handle: RunHandle, done: threading.Event) -> None:
        while not done.wait(self.settings.heartbeat_interval_s):
            try:
                handle.heartbeat()
            except RunLost:
                return
            except ConnectorError as ex:
                # Elasticsearch briefly unavailable: the lease allows several missed beats.
                log.warning("heartbeat of %s failed: %s", handle.status.run_id, ex.reason)
