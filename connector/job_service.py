"""Own the job use cases behind ``/_siren/connector/jobs``: status, abort, search, history, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from connector.doc_store import Page, retry_on_conflict
from connector.errors import Conflict, NotFound
from connector.ingestion_store import IngestionStore
from connector.job_query import JobQuery, check_type
from connector.job_state import ACTIVE, INGESTION, JobState, RunStatus, envelope
from connector.job_store import JobStore, StoredRun

ABORT_POLL_S = 0.1


class JobService:
    def __init__(
        self,
        jobs: JobStore,
        ingestions: IngestionStore,
        *,
        abort_wait_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.jobs = jobs
        self.ingestions = ingestions
        self.abort_wait_s = abort_wait_s
        self._clock = clock
        self._sleep = sleep

    def status(self, job_type: str, job_id: str) -> RunStatus | None:
        """The current run if one is queued or running, else the last run."""
        check_type(job_type)
        current = self.jobs.current_run(job_type, job_id)
        return current.status if current else None

    def active(self, job_type: str) -> list[RunStatus]:
        check_type(job_type)
        return self.jobs.active_runs()

    def types(self) -> list[dict[str, Any]]:
        """Job types with counts (seed 000 "names")."""
        counts = self.jobs.state_counts()
        return [
            {
                "name": INGESTION,
                "queued": counts.get(JobState.QUEUED.value, 0),
                "running": counts.get(JobState.RUNNING.value, 0) + counts.get(JobState.ABORTING.value, 0),
                "total": sum(counts.values()),
            }
        ]

    def search(self, query: JobQuery, *, from_: int, size: int) -> Page:
        return self.jobs.search_runs(query, from_=from_, size=size)

    def run(self, job_type: str, job_id: str, run_id: str) -> RunStatus:
        """One historical run of a job (404 if it is not a run of that job)."""
        check_type(job_type)
        found = self.jobs.get_run(run_id)
        if found is None or found.status.id != job_id or found.status.type != job_type:
            raise NotFound(f"run [{run_id}] of {job_type} [{job_id}] not found")
        return found.status

    def abort(self, job_type: str, job_id: str) -> RunStatus:
        """Stop the job's run and wait up to ``abort_wait_s`` for its final state (seed 003 answers ``aborted``).

        A queued run stops at once; a running one at its next batch boundary,
        in whatever process runs it. Repeating the request on an aborted run
        answers that run again; Conflict only for a run that ended otherwise.
        Past the wait, the ``aborting`` status is returned.
        """
        check_type(job_type)

        def attempt() -> RunStatus:
            current = self.jobs.current_run(job_type, job_id)
            if current is None:
                self.ingestions.get(job_id)  # NotFound for an unknown ingestion
                raise Conflict(f"{job_type} [{job_id}] has never run", body=envelope(job_type, job_id, None))
            return self._abort(current)

        status: RunStatus = retry_on_conflict(5, attempt)
        deadline = self._clock() + self.abort_wait_s
        while status.is_running and self._clock() < deadline:
            self._sleep(ABORT_POLL_S)
            found = self.jobs.get_run(status.run_id)
            if found is None:
                break
            status = found.status
        return status

    def _abort(self, current: StoredRun) -> RunStatus:
        status = current.status
        if status.state == JobState.ABORTED:
            return status  # asked again: the answer is the same final state
        if status.state == JobState.QUEUED:
            aborted = status.moved_to(JobState.ABORTED, is_aborting=True, end_time=self.jobs.now_ms())
            return self.jobs.save(current, aborted, refresh=True).status
        if status.state == JobState.RUNNING:
            return self.jobs.save(current, status.moved_to(JobState.ABORTING, is_aborting=True)).status
        if status.state in ACTIVE:
            return status  # already aborting
        raise Conflict(
            f"the run of [{status.id}] already ended ({status.state.value})",
            body=envelope(status.type, status.id, status),
        )
