"""Own the writes a worker makes to one run's status document.

The runner thread and the heartbeat thread share a handle; writes are
serialised by a lock and always conditional. A version conflict means
somebody else wrote the run: an abort request (merge our counters into it and
carry on, the runner then stops at the next batch), or a reaper or another
worker (the run is lost: stop writing, never fight over it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from connector.doc_store import VersionConflict
from connector.job_state import JobState, RunStatus
from connector.job_store import JobStore, StoredRun

log = logging.getLogger(__name__)


class RunLost(Exception):
    """The run was changed by someone else (reaped, taken over); this worker must stop."""


class RunHandle:
    def __init__(
        self,
        store: JobStore,
        run: StoredRun,
        *,
        worker: str,
        status_interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.worker = worker
        self.status_interval_s = status_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._current = run
        self._pending: dict[str, Any] = {}
        self._last_write = clock()
        self.abort_requested = threading.Event()
        self.lost = threading.Event()
        self.seq_base = 0  # the run's errors report is its own

    @property
    def status(self) -> RunStatus:
        with self._lock:
            return self._current.status.with_progress(**self._pending) if self._pending else self._current.status

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def update(self, *, force: bool = False, **changes: Any) -> None:
        """Record progress; written at most every ``status_interval_s`` unless ``force``."""
        with self._lock:
            self._pending.update(changes)
            if force or self._clock() - self._last_write >= self.status_interval_s:
                self._write(lambda status: status.with_progress(**self._pending))

    def heartbeat(self) -> None:
        """Prove this worker is alive (and pick up abort requests)."""
        with self._lock:
            if not self.lost.is_set() and not self._current.status.ended:
                self._write(lambda status: status.with_progress(**self._pending))

    def check_abort(self) -> bool:
        """Re-read the run now; True if an abort was requested."""
        with self._lock:
            fresh = self.store.get_run(self._current.status.run_id)
            self._adopt(fresh)
        return self.abort_requested.is_set()

    def finish(self, state: JobState, *, infos: str | None = None, **changes: Any) -> RunStatus:
        """Write the final state (searchable once this returns)."""
        with self._lock:

            def final(status: RunStatus) -> RunStatus:
                extra = {"infos": infos} if infos else {}
                return status.with_progress(**self._pending).moved_to(state, end_time=self.now_ms(), **extra, **changes)

            self._write(final, refresh=True)
            return self._current.status

    def hand_back(self, infos: str, **changes: Any) -> None:
        """Put the run back in the queue (worker shutting down), searchable at once."""
        with self._lock:

            def queued(status: RunStatus) -> RunStatus:
                merged = status.with_progress(**self._pending)
                return merged.moved_to(JobState.QUEUED, infos=infos, worker=None, heartbeat=None, **changes)

            self._write(queued, refresh=True)
            self.lost.set()  # the run is no longer ours: no more heartbeats

    def _write(self, change: Callable[[RunStatus], RunStatus], *, refresh: bool = False) -> None:
        if self.lost.is_set():
            raise RunLost(f"run {self._current.status.run_id} is no longer owned by {self.worker}")
        for _attempt in range(3):
            status = change(self._current.status)
            if status.state in (JobState.RUNNING, JobState.ABORTING):
                status = status.with_progress(heartbeat=self.now_ms())
            try:
                self._current = self.store.save(self._current, status, refresh=refresh)
                self._pending.clear()
                self._last_write = self._clock()
                return
            except VersionConflict:
                self._adopt(self.store.get_run(self._current.status.run_id))
        raise RunLost(f"run {self._current.status.run_id}: status keeps changing under {self.worker}")

    def _adopt(self, fresh: StoredRun | None) -> None:
        """Take a re-read version as the base for the next write, or declare the run lost."""
        if (
            fresh is None
            or fresh.status.worker != self.worker
            or fresh.status.state not in (JobState.RUNNING, JobState.ABORTING)
        ):
            self.lost.set()
            state = fresh.status.state.value if fresh else "deleted"
            log.warning("run %s was taken away from %s (now %s)", self._current.status.run_id, self.worker, state)
            raise RunLost(f"run {self._current.status.run_id} is now {state}; {self.worker} stops")
        if fresh.status.is_aborting:
            self.abort_requested.set()
        self._current = fresh
