"""Own the partitions of partitioned runs (SPEC §15): the only code that writes partition documents.

A run of an ingestion with ``partitions: N`` is split into key ranges; each
range is one document of the ``job-partitions`` index, id ``<run id>/<k>``,
claimed by any worker with a conditional write (``queued -> running``),
heartbeated, checkpointed and reaped like a run, and summed into the run's
status. Every write is conditional (``if_seq_no``); a conflict means "re-read
and decide".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from elasticsearch import Elasticsearch

from connector.doc_store import DocumentStore, VersionConflict, Versioned

MAX_PARTITIONS = 64


class PartitionState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    ABORTED = "aborted"


ACTIVE_PARTITION = frozenset({PartitionState.QUEUED, PartitionState.RUNNING})


@dataclass(frozen=True, slots=True)
class Partition:
    """One key range of a run: ``lower <= key < upper`` (None: unbounded), as JSON with the key's type."""

    run_id: str
    job_id: str
    k: int
    n: int
    lower: Any = None
    upper: Any = None
    key_type: str | None = None
    state: PartitionState = PartitionState.QUEUED
    worker: str | None = None
    heartbeat: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    checkpoint: dict[str, Any] | None = None
    rows_read: int = 0
    count: int = 0
    deleted: int = 0
    error_count: int = 0
    recorded_errors: int = 0
    last_id: str | None = None
    last_record: list[Any] | None = None
    last_record_timestamp: int | None = None
    total: int | None = None
    error: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return partition_id(self.run_id, self.k)

    @property
    def ended(self) -> bool:
        return self.state not in ACTIVE_PARTITION

    def to_source(self) -> dict[str, Any]:
        source = dataclasses.asdict(self)
        source["state"] = self.state.value
        return source

    @classmethod
    def from_source(cls, source: dict[str, Any]) -> Partition:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in source.items() if k in known}
        values["state"] = PartitionState(values["state"])
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """What the run's status shows of it."""
        shown: dict[str, Any] = {
            "k": self.k,
            "state": self.state.value,
            "count": self.count,
            "rows_read": self.rows_read,
        }
        for name in ("worker", "total", "error_count", "deleted", "last_id"):
            value = getattr(self, name)
            if value:
                shown[name] = value
        if self.error:
            shown["error"] = list(self.error)
        return shown


def partition_id(run_id: str, k: int) -> str:
    return f"{run_id}:{k}"


@dataclass(frozen=True, slots=True)
class StoredPartition:
    partition: Partition
    version: Versioned

    @classmethod
    def of(cls, doc: Versioned) -> StoredPartition:
        return cls(Partition.from_source(doc.source), doc)


class PartitionStore:
    def __init__(self, es: Elasticsearch, index: str) -> None:
        self.docs = DocumentStore(es, index, refresh="false")

    def create(self, partitions: list[Partition]) -> list[StoredPartition]:
        """Create the partitions of a run (each once: ``op_type=create``), searchable when this returns."""
        created = []
        for index, partition in enumerate(partitions):
            last = index == len(partitions) - 1
            try:
                doc = self.docs.create(partition.id, partition.to_source(), refresh="wait_for" if last else "false")
            except VersionConflict:  # created by an earlier attempt of the same coordinator
                existing = self.docs.get(partition.id)
                assert existing is not None
                doc = existing
            created.append(StoredPartition.of(doc))
        return created

    def get(self, run_id: str, k: int) -> StoredPartition | None:
        doc = self.docs.get(partition_id(run_id, k))
        return StoredPartition.of(doc) if doc else None

    def of_run(self, run_id: str) -> list[StoredPartition]:
        """Every partition of a run, by k, each read in real time (a search may lag a write)."""
        page = self.docs.search(query={"term": {"run_id": run_id}}, sort=[{"k": "asc"}], size=MAX_PARTITIONS)
        return [StoredPartition.of(doc) for doc in self.docs.get_many([hit.id for hit in page.hits])]

    def queued(self, *, limit: int, run_id: str | None = None) -> list[StoredPartition]:
        """Queued partitions of any run (or of ``run_id``), oldest runs first (for workers to claim)."""
        query: dict[str, Any] = {"term": {"state": PartitionState.QUEUED.value}}
        if run_id is not None:
            query = {"bool": {"filter": [query, {"term": {"run_id": run_id}}]}}
        page = self.docs.search(
            query=query,
            sort=[{"run_id": "asc"}, {"k": "asc"}],
            size=limit,
            track_total_hits=False,
        )
        return [StoredPartition.of(hit) for hit in page.hits]

    def running(self, *, limit: int = 1000) -> list[StoredPartition]:
        """Running partitions (for the reaper)."""
        page = self.docs.search(
            query={"term": {"state": PartitionState.RUNNING.value}}, size=limit, track_total_hits=False
        )
        return [StoredPartition.of(hit) for hit in page.hits]

    def save(self, current: StoredPartition, partition: Partition, *, refresh: bool = False) -> StoredPartition:
        """Write ``partition`` over ``current`` if nobody changed it since; else VersionConflict."""
        doc = self.docs.replace(current.version, partition.to_source(), refresh="wait_for" if refresh else None)
        return StoredPartition(partition, doc)
