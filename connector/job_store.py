"""Own the job log: the only code that writes run documents, current-run pointers and errors.

A run is created in two conditional steps. First the job's pointer document
(``job-current/<type>:<id>``) is moved to the new run id with
``op_type=create`` or ``if_seq_no``: whoever wins that write is the only one
creating a run, so one job never has two active runs. Then the run document
is created (``op_type=create``). A pointer naming a run document that does not
exist yet is "being created" for :data:`CREATE_GRACE_MS`, after which it is
considered abandoned (the creator died between the two writes).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch

from connector import metrics
from connector.doc_store import DocumentStore, Page, VersionConflict, Versioned, store_errors
from connector.errors import Conflict
from connector.indices import IndexNames
from connector.job_query import JobQuery
from connector.job_state import ACTIVE, INFOS, INGESTION, JobState, RunStatus, envelope

CREATE_GRACE_MS = 30_000
RESULT_WINDOW = 10_000  # Elasticsearch's default index.max_result_window
JOBS_PATH = "/_siren/connector/jobs"


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run status with the document version a conditional write must name."""

    status: RunStatus
    version: Versioned

    @classmethod
    def of(cls, doc: Versioned) -> StoredRun:
        return cls(RunStatus.from_source(doc.source), doc)


class ActiveRun(Conflict):
    """The job already has a queued, running or aborting run."""


class ConcurrentRun(Conflict):
    """Another run of the job was created at the same moment."""


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a new run is created with."""

    job_type: str
    job_id: str
    params: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    strategy: str | None = None
    trigger: str = "manual"  # manual | schedule | resume
    fire_time: int | None = None
    resume_of: str | None = None
    checkpoint: dict[str, Any] | None = None
    staging_index: str | None = None
    allow_large: bool = False


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not indexed, for the run's errors report."""

    pk: str | None
    error_type: str
    reason: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class JobLogSnapshot:
    """What the metrics say about the whole job log (every process, every host)."""

    states: dict[str, int]
    oldest_queued_ms: int | None  # create_time of the oldest queued run
    oldest_heartbeat_ms: int | None  # the stalest heartbeat of a running or aborting run


def pointer_id(job_type: str, job_id: str) -> str:
    return f"{job_type}:{job_id}"


def run_links(job_type: str, job_id: str, run_id: str) -> dict[str, str]:
    base = f"{JOBS_PATH}/{job_type}/{job_id}"
    return {
        "self": f"{base}/_runs/{run_id}",
        "job": base,
        "ingestion": f"/_siren/connector/{job_type}/{job_id}",
        "errors": f"{base}/_runs/{run_id}/_errors",
    }


class JobStore:
    def __init__(
        self,
        es: Elasticsearch,
        names: IndexNames,
        *,
        clock: Callable[[], float] = time.time,
        new_uuid: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self.es = es
        self.names = names
        self.runs = DocumentStore(es, names.job_log, refresh="false")
        self.pointers = DocumentStore(es, names.job_current, refresh="false")
        self.errors = DocumentStore(es, names.job_errors, refresh="false")
        self._clock = clock
        self._new_uuid = new_uuid

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------ creating runs

    def enqueue(self, new: NewRun, *, run_uuid: uuid.UUID | None = None) -> StoredRun:
        """Create a queued run; ActiveRun/ConcurrentRun (409, with the current envelope) otherwise."""
        now = self.now_ms()
        run_id = f"{new.job_id}{run_uuid or self._new_uuid()}"
        pid = pointer_id(new.job_type, new.job_id)
        pointer = self.pointers.get(pid)
        if pointer is not None:
            self._refuse_if_active(new.job_type, new.job_id, pointer, now)
        pointer_source = {"type": new.job_type, "id": new.job_id, "run_id": run_id, "updated_at": now}
        try:
            if pointer is None:
                self.pointers.create(pid, pointer_source)
            else:
                self.pointers.replace(pointer, pointer_source)
        except VersionConflict:
            current = self.current_run(new.job_type, new.job_id)
            raise ConcurrentRun(
                f"another run of {new.job_type} [{new.job_id}] was started at the same time",
                body=envelope(new.job_type, new.job_id, current.status if current else None),
            ) from None
        return self._create_run(new, run_id, now)

    def fire(self, new: NewRun, run_uuid: uuid.UUID) -> StoredRun | None:
        """Handle one scheduled fire time exactly once, whatever the number of schedulers.

        The run id is derived from the fire time, and the job-log document with
        that id is created once (``op_type=create``): either the queued run or,
        when the previous run is still active, a ``skipped`` record. Returns the
        run when this call created it.
        """
        now = self.now_ms()
        run_id = f"{new.job_id}{run_uuid}"
        if self.runs.get(run_id) is not None:
            return None  # this fire time was already handled
        pointer = self.pointers.get(pointer_id(new.job_type, new.job_id))
        try:
            if pointer is not None and pointer.source.get("run_id") == run_id:
                return self._create_run(new, run_id, now)  # a peer moved the pointer; finish its work
            return self.enqueue(new, run_uuid=run_uuid)
        except ActiveRun as active:
            skipped = _new_status(
                new,
                run_id,
                now,
                JobState.SKIPPED,
                end_time=now,
                infos=f"{INFOS[JobState.SKIPPED]} ({active.reason})",
                estimated_time_remaining=0,
            )
            with contextlib.suppress(VersionConflict):  # another scheduler recorded it
                self.runs.create(run_id, skipped.to_source(), refresh="wait_for")
                metrics.scheduler_skipped(new.job_id)
            return None
        except (ConcurrentRun, VersionConflict):
            return None  # a peer is handling this fire time

    def _create_run(self, new: NewRun, run_id: str, now: int) -> StoredRun:
        status = _new_status(
            new,
            run_id,
            now,
            JobState.QUEUED,
            infos=INFOS[JobState.QUEUED],
            params=dict(new.params),
            resume_of=new.resume_of,
            allow_large=new.allow_large,
            checkpoint=new.checkpoint,
            staging_index=new.staging_index,
        )
        # wait_for: workers find queued runs by searching.
        doc = self.runs.create(run_id, status.to_source(), refresh="wait_for")
        return StoredRun(status, doc)

    def _refuse_if_active(self, job_type: str, job_id: str, pointer: Versioned, now: int) -> None:
        run = self.runs.get(pointer.source["run_id"])
        if run is None:
            if now - int(pointer.source.get("updated_at", 0)) < CREATE_GRACE_MS:
                raise ActiveRun(f"a run of {job_type} [{job_id}] is being created")
            return
        status = RunStatus.from_source(run.source)
        if status.is_running:
            raise ActiveRun(
                f"{job_type} [{job_id}] already has a {status.state.value} run [{status.run_id}]",
                body=envelope(job_type, job_id, status),
            )

    # ------------------------------------------------------------ reading runs

    def get_run(self, run_id: str) -> StoredRun | None:
        doc = self.runs.get(run_id)
        return StoredRun.of(doc) if doc else None

    def current_run(self, job_type: str, job_id: str) -> StoredRun | None:
        """The job's latest run: read through its pointer in real time."""
        pointer = self.pointers.get(pointer_id(job_type, job_id))
        if pointer is not None:
            run = self.get_run(pointer.source["run_id"])
            if run is not None:
                return run
        return self.latest_run(job_type, job_id)

    def latest_run(self, job_type: str, job_id: str, *, state: JobState | None = None) -> StoredRun | None:
        """The newest run of a job (in ``state``) found by search."""
        filters: list[dict[str, Any]] = [
            {"term": {f"{job_type}.id": job_id}},
            {"term": {f"{job_type}.type": job_type}},
        ]
        if state is not None:
            filters.append({"term": {f"{job_type}.state": state.value}})
        page = self.runs.search(
            query={"bool": {"filter": filters}},
            sort=[{f"{job_type}.create_time": "desc"}, {f"{job_type}.run_id": "desc"}],
            size=1,
            track_total_hits=False,
        )
        return StoredRun.of(page.hits[0]) if page.hits else None

    def find_queued(self, *, limit: int) -> list[StoredRun]:
        """Queued runs, oldest first (for workers to claim)."""
        return self._in_states((JobState.QUEUED,), limit=limit)

    def find_active(self, *, limit: int = 1000) -> list[StoredRun]:
        """Runs in running/aborting state (for the reaper)."""
        return self._in_states((JobState.RUNNING, JobState.ABORTING), limit=limit)

    def _in_states(self, states: Iterable[JobState], *, limit: int) -> list[StoredRun]:
        """Runs in ``states``, oldest first, as the search sees them (not necessarily real time)."""
        page = self.runs.search(
            query={"terms": {f"{INGESTION}.state": sorted(s.value for s in states)}},
            sort=[{f"{INGESTION}.create_time": "asc"}, {f"{INGESTION}.run_id": "asc"}],
            size=limit,
            track_total_hits=False,
        )
        return [StoredRun.of(hit) for hit in page.hits]

    def search_runs(self, query: JobQuery, *, from_: int, size: int) -> Page:
        """Runs matching ``query``, newest first; pages past the result window use search_after."""
        es_query = _es_query(query)
        sort = [
            {f"{INGESTION}.{query.sort_field}": {"order": query.sort_order, "missing": "_last"}},
            {f"{INGESTION}.run_id": query.sort_order},
        ]
        if from_ + size <= RESULT_WINDOW:
            return self.runs.search(query=es_query, sort=sort, from_=from_, size=size)
        total = self.runs.count(es_query)
        after: list[Any] | None = None
        skip = from_
        while skip > 0:
            page = self.runs.search(
                query=es_query, sort=sort, size=min(skip, RESULT_WINDOW), search_after=after, track_total_hits=False
            )
            if not page.hits:
                return Page(total, [])
            after, skip = page.last_sort, skip - len(page.hits)
        page = self.runs.search(query=es_query, sort=sort, size=size, search_after=after, track_total_hits=False)
        return Page(total, page.hits, page.last_sort)

    def active_runs(self, *, limit: int = 1000) -> list[RunStatus]:
        """Queued, running and aborting runs, each confirmed by a real-time read."""
        confirmed = (self.get_run(run.status.run_id) for run in self._in_states(ACTIVE, limit=limit))
        return [run.status for run in confirmed if run is not None and run.status.is_running]

    def state_counts(self) -> dict[str, int]:
        """Runs per state (the job types listing)."""
        with store_errors("counting runs"):
            resp = self.es.search(
                index=self.names.job_log,
                size=0,
                aggs={"states": {"terms": {"field": f"{INGESTION}.state", "size": len(JobState)}}},
            )
        buckets = resp.get("aggregations", {}).get("states", {}).get("buckets", [])
        return {bucket["key"]: int(bucket["doc_count"]) for bucket in buckets}

    def snapshot(self, *, timeout_s: float) -> JobLogSnapshot:
        """Runs per state, the oldest queued run and the stalest heartbeat, in one search (for metrics).

        Fails fast (``timeout_s``, no retries): a scrape must not wait on a stalled cluster.
        """
        field = f"{INGESTION}."
        aggs: dict[str, Any] = {
            "states": {"terms": {"field": field + "state", "size": len(JobState)}},
            "queued": {
                "filter": {"term": {field + "state": JobState.QUEUED.value}},
                "aggs": {"oldest": {"min": {"field": field + "create_time"}}},
            },
            "active": {
                "filter": {"terms": {field + "state": [JobState.RUNNING.value, JobState.ABORTING.value]}},
                "aggs": {"oldest": {"min": {"field": field + "heartbeat"}}},
            },
        }
        es = self.es.options(request_timeout=timeout_s, max_retries=0)
        with store_errors("reading the job log for metrics"):
            resp = es.search(index=self.names.job_log, size=0, aggs=aggs)
        found = resp.get("aggregations", {})
        buckets = found.get("states", {}).get("buckets", [])

        def oldest(name: str) -> int | None:
            value = found.get(name, {}).get("oldest", {}).get("value")
            return int(value) if value is not None else None

        return JobLogSnapshot(
            states={bucket["key"]: int(bucket["doc_count"]) for bucket in buckets},
            oldest_queued_ms=oldest("queued"),
            oldest_heartbeat_ms=oldest("active"),
        )

    def rejections(self, run_id: str, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """A run's recorded rejected rows in order, read page by page (never all at once)."""
        for hit in self.errors.scan(query={"term": {"run_id": run_id}}, sort=[{"seq": "asc"}], page_size=page_size):
            yield hit.source

    def kept_staging(self, *, job_id: str | None = None, ended_before: int | None = None) -> list[StoredRun]:
        """Failed REPLACE runs whose staging index is kept for a resume."""
        kept = [{"term": {"connector.staging_kept": True}}, {"term": {f"{INGESTION}.staging_kept": True}}]  # new, older
        filters: list[dict[str, Any]] = [{"bool": {"should": kept, "minimum_should_match": 1}}]
        if job_id is not None:
            filters.append({"term": {f"{INGESTION}.id": job_id}})
        if ended_before is not None:
            filters.append({"range": {f"{INGESTION}.end_time": {"lt": ended_before}}})
        page = self.runs.search(query={"bool": {"filter": filters}}, size=1000, track_total_hits=False)
        return [StoredRun.of(hit) for hit in page.hits]

    # ------------------------------------------------------------ writing runs

    def save(self, current: StoredRun, status: RunStatus, *, refresh: bool = False) -> StoredRun:
        """Write ``status`` over ``current`` if nobody changed it since; else VersionConflict.

        Final states are written with ``refresh=wait_for`` so that searches
        (last successful run, job-log search) see them once the write returns.
        """
        doc = self.runs.replace(current.version, status.to_source(), refresh="wait_for" if refresh else None)
        return StoredRun(status, doc)

    def record_rejections(self, status: RunStatus, first_seq: int, rejections: Iterable[Rejection]) -> int:
        """Append rejected rows to the run's errors report; return how many were written."""
        now = self.now_ms()
        operations: list[dict[str, Any]] = []
        seq = first_seq
        for item in rejections:
            operations.append({"index": {"_index": self.names.job_errors, "_id": f"{status.run_id}:{seq}"}})
            operations.append(
                {
                    "run_id": status.run_id,
                    "type": status.type,
                    "id": status.id,
                    "seq": seq,
                    "pk": item.pk,
                    "field": item.field,
                    "error_type": item.error_type,
                    "reason": item.reason[:4000],
                    "time": now,
                }
            )
            seq += 1
        if not operations:
            return 0
        with store_errors("recording rejected rows"):
            self.es.bulk(operations=operations, filter_path="errors")
        return seq - first_seq


def _es_query(query: JobQuery) -> dict[str, Any]:
    field = f"{INGESTION}."
    filters: list[dict[str, Any]] = []
    if query.job_type:
        filters.append({"term": {field + "type": query.job_type}})
    if query.ids:
        filters.append({"terms": {field + "id": list(query.ids)}})
    states = query.states_wanted()
    if states is not None:
        filters.append({"terms": {field + "state": sorted(s.value for s in states)}})
    window: dict[str, int] = {}
    if query.start_time_from is not None:
        window["gte"] = query.start_time_from
    if query.start_time_to is not None:
        window["lte"] = query.start_time_to
    if window:
        filters.append({"range": {field + "start_time": window}})
    must: list[dict[str, Any]] = []
    if query.text:
        must.append(
            {
                "simple_query_string": {
                    "query": query.text,
                    "fields": [field + "infos", field + "error"],
                    "default_operator": "and",
                }
            }
        )
    if not filters and not must:
        return {"match_all": {}}
    return {"bool": {"filter": filters, "must": must}}


def _new_status(new: NewRun, run_id: str, now: int, state: JobState, **fields: Any) -> RunStatus:
    """The status of a run created for ``new``: what every new run says, and ``fields``."""
    return RunStatus(
        id=new.job_id,
        run_id=run_id,
        state=state,
        type=new.job_type,
        create_time=now,
        target=new.target,
        strategy=new.strategy,
        trigger=new.trigger,
        fire_time=new.fire_time,
        links=run_links(new.job_type, new.job_id, run_id),
        **fields,
    )
