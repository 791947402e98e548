"""Own the job state machine and the run status document (seed 003 names, exact).

States and their allowed transitions are in :data:`TRANSITIONS`; every change
of state goes through :meth:`RunStatus.moved_to`, which enforces it.

A job-log document is ``{"ingestion": <status>, "connector": <bookkeeping>}``:
the status holds only what SPEC §6 lists, and what the service keeps for
itself (checkpoints, flags, the types of ``last_record``) lives beside it,
never shown in a status.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from connector.indices import RUN_BOOKKEEPING_PROPERTIES

STATUS_VERSION = 1
INGESTION = "ingestion"  # the job type of ingestion runs (seed 003)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    ABORTING = "aborting"
    ABORTED = "aborted"
    ERROR = "error"
    SUCCESSFUL = "successful"
    # A fire time that found the previous run still running (one run at a time, seed 001).
    SKIPPED = "skipped"


ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.ABORTING})
TERMINAL = frozenset({JobState.ABORTED, JobState.ERROR, JobState.SUCCESSFUL, JobState.SKIPPED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    # queued -> error: the reaper or a worker that cannot start the run.
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.ABORTED, JobState.ERROR}),
    # running -> queued: a worker shutting down hands the run back for resumption.
    JobState.RUNNING: frozenset(
        {JobState.RUNNING, JobState.ABORTING, JobState.SUCCESSFUL, JobState.ERROR, JobState.ABORTED, JobState.QUEUED}
    ),
    # aborting -> successful: the request came after the last batch was committed.
    JobState.ABORTING: frozenset({JobState.ABORTING, JobState.ABORTED, JobState.ERROR, JobState.SUCCESSFUL}),
    JobState.ABORTED: frozenset(),
    JobState.ERROR: frozenset(),
    JobState.SUCCESSFUL: frozenset(),
    JobState.SKIPPED: frozenset(),  # created final, never changes
}

INFOS = {
    JobState.QUEUED: "The job is queued.",
    JobState.RUNNING: "The job is running.",
    JobState.ABORTING: "The job is aborting.",
    JobState.ABORTED: "The job has been aborted.",
    JobState.ERROR: "The job has failed.",
    JobState.SUCCESSFUL: "The job is done.",
    JobState.SKIPPED: "The scheduled run was skipped: the previous run was still running.",
}


BOOKKEEPING_FIELD = "connector"
# The job-log mapping is strict: the fields kept beside the status are exactly those it maps.
BOOKKEEPING = tuple(RUN_BOOKKEEPING_PROPERTIES)


class IllegalTransition(ValueError):
    """A change of state that the state machine forbids (a bug or a lost race)."""


@dataclass(frozen=True, slots=True)
class RunStatus:
    """One run of a job, as stored in the job log under ``_source.<type>``."""

    id: str
    run_id: str
    state: JobState
    type: str = "ingestion"
    version: int = STATUS_VERSION
    is_aborting: bool = False
    create_time: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    infos: str | None = None
    error: list[str] = field(default_factory=list)
    count: int = 0
    last_id: str | None = None
    error_count: int = 0
    deleted: int | None = None  # documents deleted by the run (change sync, SPEC §10)
    watermark: dict[str, Any] | None = None  # {"value", "pk"}: where the next run of a tracking column reads from
    total: int | None = None
    progress: float | None = None
    estimated_time_remaining: int | None = None
    eta: str | None = None
    worker: str | None = None
    heartbeat: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    strategy: str | None = None
    staging_index: str | None = None
    trigger: str = "manual"
    fire_time: int | None = None
    resume_of: str | None = None
    last_record: list[Any] | None = None
    last_record_timestamp: int | None = None
    partitions: list[dict[str, Any]] | None = None  # a partitioned run's key ranges: k, state, count, ... (SPEC §15)
    # Bookkeeping, stored beside the status (BOOKKEEPING), never in it:
    allow_large: bool = False  # started with allow_large: ingestion.max_rows_per_run does not apply
    watermark_types: list[str | None] | None = None  # database types of the watermark's value and pk
    runs_since_reconcile: int | None = None  # successful runs since delete.reconcile last ran
    checkpoint: dict[str, Any] | None = None  # {"pk", "count", "error_count", "rows_read", "recorded_errors"}
    staging_kept: bool = False  # a failed REPLACE run's staging index, kept for resume
    server_rendering: bool = False  # the database rendered the documents (ingestion/source/sql_json.py)
    last_record_types: list[str | None] | None = None  # database type of each value of last_record
    watermark_position: list[Any] | None = None  # the watermark as exact JSON (ingestion/source/values.py exact_json)
    definition_digest: str | None = None  # of the definition the run executed: a resume must run the same one
    # A partitioned run's plan (ingestion/run/partitioned.py): key, write_index, pipeline, rebuild, watermark, stop.
    partitioning: dict[str, Any] | None = None

    @property
    def is_running(self) -> bool:
        return self.state in ACTIVE

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL

    def moved_to(self, state: JobState, **changes: Any) -> RunStatus:
        """Return this run in ``state`` with ``changes``; IllegalTransition if forbidden."""
        if state not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"run {self.run_id}: {self.state} -> {state} is not allowed")
        if "infos" not in changes and state != self.state:
            changes["infos"] = INFOS[state]
        if state in TERMINAL:  # nothing remains of a run that ended (seed 000: "0ms"), whatever was estimated
            changes.update(eta=None, estimated_time_remaining=0)
        return dataclasses.replace(self, state=state, **changes)

    def with_progress(self, **changes: Any) -> RunStatus:
        """Return this run with counters changed, state unchanged."""
        return dataclasses.replace(self, **changes)

    def fields(self) -> dict[str, Any]:
        """The status fields (seed 003 order first), without unknown values."""
        out: dict[str, Any] = {
            "version": self.version,
            "id": self.id,
            "is_running": self.is_running,
        }
        if self.is_aborting:
            out["is_aborting"] = True
        for name in ("start_time", "end_time", "infos"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.error:
            out["error"] = list(self.error)
        out["state"] = self.state.value
        out["count"] = self.count
        if self.last_id is not None:
            out["last_id"] = self.last_id
        out["run_id"] = self.run_id
        out["type"] = self.type
        for name in (
            "create_time",
            "error_count",
            "deleted",
            "total",
            "progress",
            "estimated_time_remaining",
            "eta",
            "worker",
            "heartbeat",
            "target",
            "strategy",
            "staging_index",
            "trigger",
            "fire_time",
            "resume_of",
            "last_record",
            "last_record_timestamp",
            "watermark",
            "partitions",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.params:
            out["params"] = dict(self.params)
        if self.links:
            out["links"] = dict(self.links)
        return out

    def bookkeeping(self) -> dict[str, Any]:
        """What the service keeps about the run beside its status."""
        return {name: getattr(self, name) for name in BOOKKEEPING if getattr(self, name) not in (None, False)}

    def to_source(self) -> dict[str, Any]:
        return {self.type: self.fields(), BOOKKEEPING_FIELD: self.bookkeeping()}

    def public(self) -> dict[str, Any]:
        """The status as callers see it: its fields, and for a failed or aborted run whether a resume
        continues it from a checkpoint (``resumable``), which only the bookkeeping knows."""
        out = self.fields()
        if self.state in (JobState.ERROR, JobState.ABORTED):
            out["resumable"] = self.resumable
        return out

    @property
    def resumable(self) -> bool:
        """A resume would continue from where this run stopped (else it would start over, or be refused)."""
        if self.partitioning:  # its ranges hold the checkpoints; a REPLACE needs its staging index
            return not self.staging_index or self.staging_kept
        if not self.checkpoint:
            return False
        return self.strategy != "REPLACE" or self.staging_kept

    def public_source(self) -> dict[str, Any]:
        """The job-log document as callers see it (seed 003): the status only."""
        return {self.type: self.public()}

    @classmethod
    def from_source(cls, source: dict[str, Any]) -> RunStatus:
        job_type = next(key for key in source if key != BOOKKEEPING_FIELD)
        known = {f.name for f in dataclasses.fields(cls)}
        # Documents written before the bookkeeping moved out carry it inside the status.
        merged = {**source[job_type], **(source.get(BOOKKEEPING_FIELD) or {})}
        values = {k: v for k, v in merged.items() if k in known}
        values["state"] = JobState(values["state"])
        values["type"] = job_type
        return cls(**values)


def envelope(job_type: str, job_id: str, status: RunStatus | None) -> dict[str, Any]:
    """The seed-003 response: ``{"_id", "type", "found", "status"}``."""
    if status is None:
        return {"_id": job_id, "type": job_type, "found": False}
    return {"_id": job_id, "type": job_type, "found": True, "status": status.public()}
