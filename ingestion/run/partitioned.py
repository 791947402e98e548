"""Own partitioned runs (SPEC §15): the coordinator that plans and sums a run, the executor of one key range.

A run of an ingestion with ``partitions: N`` (N > 1) is claimed like any
run, and its worker becomes the run's coordinator. It

1. plans: renders the query, cuts the rows it will read into N key ranges
   of ``pk_field`` (quantiles, ``partitions.key_ranges``), reads a first
   batch for the mapping, prepares the target once (REPLACE: the staging
   index; INCREMENTAL: the mapping check, or a rebuild into a staging
   index), registers the pipeline, and with a tracking column reads the
   largest tracking value: the run's watermark;
2. writes the plan to the run (bookkeeping ``partitioning``), then one
   document per range (``partition_store``), queued;
3. executes queued ranges of its own run itself while any other worker
   claims the others (``Worker.tick``), and sums them into the run's status
   (count, rows, progress, ETA, one entry per range);
4. when every range is done: reconciles deletes, swaps REPLACE's alias once,
   and the run succeeds.

A range that fails sets ``stop`` in the plan: the other ranges stop at
their next batch, and the run fails. An abort stops them all the same way.
A worker that stops heartbeating loses its range to the reaper, which
queues it again from its checkpoint while the run goes on. A coordinator
that stops hands its run back to the queue; the next worker to claim it
takes over the same plan. ``_run?resume=true`` of a failed or aborted
partitioned run copies its ranges: finished ones stay finished, the others
continue from their checkpoints, into the same staging index.

The watermark of a partitioned run is the last (tracking value, key)
position of the query's rows when it was planned, read in the same
statement-level snapshot rules as a single run's last row: the next run
reads after it. Ranges read in their own transactions, later: a row changed
after the plan may be read by its range already, and is read again by the
next run (its tracking value is later), which is harmless.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any

from elasticsearch import Elasticsearch

from connector.doc_store import VersionConflict
from connector.errors import ConnectorError, InvalidDefinition
from connector.ingestion_def import Ingestion
from connector.job_state import JobState, RunStatus
from connector.partition_store import Partition, PartitionState, PartitionStore, StoredPartition
from connector.redaction import scrub
from ingestion.run.partition_handle import PartitionHandle, PartitionLost, from_checkpoint
from ingestion.run.partitions import Split, key_ranges, orderable
from ingestion.run.progress import Progress
from ingestion.run.row_limit import RowLimit, TooManyRows
from ingestion.run.run_handle import RunHandle, RunLost
from ingestion.run.run_state import Counters, Target
from ingestion.run.runner import (
    Aborted,
    HandBack,
    Reading,
    RebuildNeeded,
    RunContext,
    check_ratio,
    copy_rows,
    execute_run,
    failure_messages,
    first_batch,
    housekeeping,
    new_writer,
    open_reading,
    plan_reading,
    prepare_target,
    reconcile_deletes,
    register_pipeline,
    writer_client,
)
from ingestion.sink.targets import IncrementalTarget, ReplaceTarget
from ingestion.source.read_order import KeyRange
from ingestion.source.sql_lexer import POSTGRESQL, family
from ingestion.source.sql_source import close_quietly, keyset, stream_query, target_session
from ingestion.source.values import JsonEncoder, exact_json, exact_values

log = logging.getLogger(__name__)

# Rows read by the coordinator for the mapping: a first batch, not a whole one.
SAMPLE_ROWS = 1000


class PartitionsFailed(ConnectorError):
    """A key range of the run failed; the others were stopped."""

    error_type = "partition_failed_exception"

    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages[-1] if messages else "a partition failed")
        self.messages = messages


def execute(ctx: RunContext, handle: RunHandle) -> JobState:
    """Execute a claimed run: split across workers when its ingestion (or its plan) says so."""
    status = handle.status
    try:
        ingestion = ctx.ingestions.get(status.id)
    except ConnectorError:
        return execute_run(ctx, handle)  # it says why the run cannot start
    if status.partitioning is None and not ingestion.definition.partitioned:
        return execute_run(ctx, handle)
    return coordinate(ctx, handle, ingestion)


# ---------------------------------------------------------------- the coordinator


def coordinate(ctx: RunContext, handle: RunHandle, ingestion: Ingestion) -> JobState:
    """Plan (or take over) a partitioned run, drive its ranges to an end, and end the run."""
    status = handle.status
    store = ctx.partitions
    es: Elasticsearch | None = None
    target: Target | None = None
    parts: list[Partition] = []
    try:
        es = writer_client(ctx, ingestion)
        if status.partitioning is not None:  # a run handed back by a coordinator that stopped
            plan = status.partitioning
            target = _target_of(es, ingestion, plan)
        elif status.resume_of is not None:
            plan, target = _resume(ctx, handle, ingestion, es)
        else:
            housekeeping(ctx, status, ingestion, es)
            plan, target = _plan(ctx, handle, ingestion, es)
        _ensure_partitions(store, handle.status, plan)
        parts = _drive(ctx, handle, plan)
        if any(p.state == PartitionState.ERROR for p in parts):
            raise PartitionsFailed(_first_error(parts))
        if handle.abort_requested.is_set() or any(p.state != PartitionState.DONE for p in parts):
            raise Aborted
        return _succeed(ctx, handle, ingestion, es, plan, target, parts)
    except Aborted:
        parts = parts or _parts(store, status.run_id)
        kept = _keep_or_discard(target, parts)
        handle.finish(JobState.ABORTED, **_summary(parts), staging_kept=kept)
        return JobState.ABORTED
    except HandBack:
        try:
            handle.hand_back(
                f"The job was handed back by worker [{handle.worker}] shutting down; its partitions continue.",
                **_summary(_parts(store, status.run_id)),
            )
        except RunLost as ex:
            log.warning("%s", ex)
        return JobState.QUEUED
    except RunLost as ex:
        log.warning("%s", ex)
        return handle.status.state
    except PartitionsFailed as ex:
        return _fail(ctx, handle, target, ex.messages)
    except TooManyRows as ex:
        return _fail(ctx, handle, target, failure_messages(status.id, ex), keep=False)
    except ConnectorError as ex:
        return _fail(ctx, handle, target, failure_messages(status.id, ex))
    except Exception as ex:
        log.exception("run %s failed unexpectedly", status.run_id)
        internal = f"Internal error while running [{status.id}] ({type(ex).__name__}); see the worker log for run"
        return _fail(ctx, handle, target, [f"{internal} [{status.run_id}]."])
    finally:
        if es is not None and es is not ctx.es:
            es.close()


def _plan(ctx: RunContext, handle: RunHandle, ingestion: Ingestion, es: Elasticsearch) -> tuple[dict[str, Any], Target]:
    """Cut the rows into ranges, prepare the target once, write the plan; return it and the target."""
    definition = ingestion.definition
    status = handle.status
    assert definition.pk_field is not None and definition.partitions is not None
    rebuild = False
    while True:
        reading = plan_reading(ctx, ingestion, es, params=status.params, counters=Counters(), rebuild=rebuild)
        with target_session(reading.connection, connect_timeout_s=ctx.settings.sql.connect_timeout_s) as conn:
            assert reading.begin.order is not None
            rows_read = keyset(conn, reading.query, reading.begin.order, sort=False)  # what this run reads
            split = key_ranges(conn, rows_read, definition.pk_field, definition.partitions)
            watermark = _largest(conn, reading) if reading.tracking else None
        limit = RowLimit(status.id, ctx.settings.ingestion.max_rows_per_run, allowed=status.allow_large)
        limit.check_estimate(split.total)
        counters = Counters()
        with open_reading(ctx, reading, batch_size=min(reading.batch_size, SAMPLE_ROWS)) as source:
            opened = first_batch(reading, source, counters)
            key_type = opened.types.get(definition.pk_field)
            if not orderable(key_type):  # checked at PUT too, when the database answered then
                raise InvalidDefinition.single(
                    "$.ingest.partitions",
                    "orderable",
                    f"partitions needs a pk_field that can be split into ranges; [{definition.pk_field}] is {key_type}",
                )
            mapping = opened.mapping(definition, reading.soft)
            rendered = source.rendered is not None
            db_types = list(source.db_types)
        try:
            target = prepare_target(
                handle,
                ingestion,
                es,
                mapping,
                resume=False,
                rebuild=rebuild,
                service_prefix=ctx.settings.index_prefix,
            )
        except RebuildNeeded:
            log.info("run %s: the target's mapping conflicts; loading a new index", status.run_id)
            rebuild = True
            continue
        break
    shown = {
        "definition_digest": definition.resume_digest(),
        "total": split.total,
        "server_rendering": rendered,
        "last_record_types": db_types or None,
        "watermark_types": counters.position_types if reading.tracking else None,
    }
    try:
        plan = _write_plan(ctx, handle, ingestion, es, reading, target, split, watermark, opened.types, rebuild, shown)
    except BaseException:
        target.discard()  # nothing was written to it yet (INCREMENTAL: nothing to undo)
        raise
    log.info(
        "run %s split into %d ranges of %s: %s rows",
        status.run_id,
        len(split.ranges),
        definition.pk_field,
        "/".join(str(r) for r in split.rows),
    )
    return plan, target


def _write_plan(
    ctx: RunContext,
    handle: RunHandle,
    ingestion: Ingestion,
    es: Elasticsearch,
    reading: Reading,
    target: Target,
    split: Split,
    watermark: list[Any] | None,
    types: dict[str, str | None],
    rebuild: bool,
    shown: dict[str, Any],
) -> dict[str, Any]:
    """Register the pipeline and write the plan to the run with ``shown`` (before any range exists)."""
    definition = ingestion.definition
    assert definition.pk_field is not None
    encoder = JsonEncoder(reading.connection.timezone)
    plan: dict[str, Any] = {
        "key": definition.pk_field,
        "key_type": types.get(definition.pk_field),
        "ranges": [
            [*exact_json([r.low, r.high], encoder), rows] for r, rows in zip(split.ranges, split.rows, strict=True)
        ],
        "write_index": target.write_index,
        "replace": isinstance(target, ReplaceTarget),
        "pipeline": register_pipeline(ctx, ingestion, es, target.write_index),
        "rebuild": rebuild,
        "from_scratch": reading.from_scratch,
        "watermark": exact_json(watermark, encoder) if watermark is not None else None,
        "watermark_shown": encoder.plain(watermark) if watermark is not None else None,
        "stop": False,
    }
    staging = target.write_index if isinstance(target, ReplaceTarget) else None
    handle.update(force=True, partitioning=plan, staging_index=staging, **shown)
    return plan


def _largest(conn: Any, reading: Reading) -> list[Any] | None:
    """The last position of the query's rows in (tracking column, key) order now: the run's watermark."""
    order = reading.begin.order
    assert order is not None
    quote = conn.dialect.identifier_preparer.quote
    tracking, key = (quote(c) for c in order.columns)
    nulls = " NULLS LAST" if conn.dialect.name == "postgresql" else ""  # NULL tracking values sort first
    sql = f"SELECT {tracking}, {key} FROM ({reading.query.inner}) AS connector_query"
    sql += f" ORDER BY {tracking} DESC{nulls}, {key} DESC"
    if conn.dialect.name in ("postgresql", "mysql", "mariadb", "sqlite", "duckdb"):
        sql += " LIMIT 1"
    rows = stream_query(conn, sql, reading.query.params, batch_size=1)
    try:
        row = rows.fetchone()
    finally:
        close_quietly(rows)
    return list(row) if row is not None else None


def _resume(
    ctx: RunContext, handle: RunHandle, ingestion: Ingestion, es: Elasticsearch
) -> tuple[dict[str, Any], Target]:
    """Continue the ranges of the run being resumed: done ones stay done, the others from their checkpoints."""
    status = handle.status
    assert status.resume_of is not None
    found = ctx.jobs.get_run(status.resume_of)
    old = found.status if found is not None else None
    if old is None or old.partitioning is None:
        raise InvalidDefinition.single(
            "$.ingest.partitions", "resume", f"run [{status.resume_of}] was not partitioned; run without resume"
        )
    if old.partitioning.get("key") != ingestion.definition.pk_field:
        raise InvalidDefinition.single(
            "$.ingest.pk_field", "resume", "pk_field changed since the run being resumed; run it without resume"
        )
    store = ctx.partitions
    previous = _settled(ctx, old.run_id)
    plan = {**old.partitioning, "stop": False}
    target = _target_of(es, ingestion, plan)
    if isinstance(target, ReplaceTarget):
        target.prepare({}, resume=True)  # its staging index must still exist
    if plan.get("pipeline"):
        register_pipeline(ctx, ingestion, es, target.write_index)
    handle.update(
        force=True,
        definition_digest=ingestion.definition.resume_digest(),
        partitioning=plan,
        total=old.total,
        staging_index=old.staging_index,
        server_rendering=old.server_rendering,
        last_record_types=old.last_record_types,
        watermark_types=old.watermark_types,
    )
    copies = [_continued(p, status) for p in previous]
    store.create(copies)
    done = sum(1 for p in copies if p.state == PartitionState.DONE)
    log.info("run %s resumes %s: %d of %d ranges were done", status.run_id, old.run_id, done, len(copies))
    return plan, target


def _settled(ctx: RunContext, run_id: str) -> list[Partition]:
    """The ranges of an ended run once none is still stopping (a worker ends its range at its next beat)."""
    deadline = ctx.clock() + ctx.settings.worker.lease_s * 2
    while True:
        parts = _parts(ctx.partitions, run_id)
        if all(p.ended for p in parts) or ctx.clock() > deadline:
            return parts
        ctx.shutdown.wait(ctx.settings.worker.poll_interval_s)
        if ctx.shutdown.is_set():
            raise HandBack


def _continued(old: Partition, run: RunStatus) -> Partition:
    """``old`` as a range of the resuming ``run``: finished, or queued from its checkpoint."""
    if old.state == PartitionState.DONE:
        return dataclasses.replace(old, run_id=run.run_id, job_id=run.id)
    # Its checkpoint and what was written with it (counters, last_record) carry over; how it ended does not.
    return from_checkpoint(old, run_id=run.run_id, job_id=run.id, start_time=None, end_time=None, error=[])


def _target_of(es: Elasticsearch, ingestion: Ingestion, plan: dict[str, Any]) -> Target:
    if plan["replace"]:
        return ReplaceTarget(es, ingestion.definition.target, plan["write_index"])
    return IncrementalTarget(es, plan["write_index"])


def _ensure_partitions(store: PartitionStore, run: RunStatus, plan: dict[str, Any]) -> None:
    """Create the plan's ranges that do not exist yet (a coordinator may have stopped in between)."""
    existing = {p.k for p in _parts(store, run.run_id)}
    ranges = plan["ranges"]
    missing = [
        Partition(run.run_id, run.id, k, len(ranges), lower=low, upper=high, key_type=plan["key_type"], total=rows)
        for k, (low, high, rows) in enumerate(ranges)
        if k not in existing
    ]
    if missing:
        store.create(missing)


def _drive(ctx: RunContext, handle: RunHandle, plan: dict[str, Any]) -> list[Partition]:
    """Execute this run's queued ranges here while others execute the rest; sum them; return them all ended."""
    store = ctx.partitions
    run_id = handle.status.run_id
    worker = ctx.settings.worker
    parts = _parts(store, run_id)
    progress = Progress(handle.status.total, started_ms=handle.now_ms(), done_before=_rows(parts))
    stopping = False

    def report(force: bool = False) -> list[Partition]:
        fresh = _parts(store, run_id)
        handle.update(force=force, **_summary(fresh), **progress.at(_rows(fresh), handle.now_ms()))
        return fresh

    reported = [ctx.clock()]

    def between() -> None:  # while this coordinator executes a range itself
        if ctx.clock() - reported[0] >= ctx.settings.ingestion.status_interval_s:
            reported[0] = ctx.clock()
            report()

    while True:
        parts = report()
        if all(p.ended for p in parts):
            return parts
        failed = any(p.state == PartitionState.ERROR for p in parts)
        if failed or handle.abort_requested.is_set():
            if failed and not stopping:  # the ranges running elsewhere stop at their next heartbeat
                handle.update(force=True, partitioning={**plan, "stop": True})
            stopping = True
            _abort_queued(store, run_id)
        elif ctx.shutdown.is_set():
            raise HandBack
        else:
            claimed = _claim(ctx, store.queued(limit=1, run_id=run_id), handle.worker)
            if claimed is not None:
                execute_partition(ctx, claimed, worker=handle.worker, between=between)
                continue
        if stopping:  # even when this worker is shutting down: the run ends first
            ctx.sleep(worker.poll_interval_s)
        else:
            ctx.shutdown.wait(worker.poll_interval_s)


def _abort_queued(store: PartitionStore, run_id: str) -> None:
    for queued in store.queued(limit=64, run_id=run_id):
        partition = queued.partition
        try:
            store.save(queued, dataclasses.replace(partition, state=PartitionState.ABORTED), refresh=True)
        except VersionConflict:
            continue  # claimed meanwhile: that worker sees the run stopping at its first check


def _succeed(
    ctx: RunContext,
    handle: RunHandle,
    ingestion: Ingestion,
    es: Elasticsearch,
    plan: dict[str, Any],
    target: Target,
    parts: list[Partition],
) -> JobState:
    definition = ingestion.definition
    counters = _counters(parts)
    summary = _summary(parts)
    extra: dict[str, Any] = {}
    reading = plan_reading(
        ctx,
        ingestion,
        es,
        params=handle.status.params,
        counters=Counters(),
        rebuild=plan["rebuild"],
        from_scratch=plan.get("from_scratch", False),
    )
    check_ratio(counters, reading.max_ratio, final=True)
    if reading.tracking:
        # The last position when the run was planned; with no rows at all, the last one stays.
        exact, plain = plan.get("watermark"), plan.get("watermark_shown")
        if exact is None:  # no rows at all: the last watermark stays
            exact, plain = reading.begin.previous_watermark_json, reading.begin.previous_watermark_shown
        if exact is not None and plain is not None:
            summary.update(watermark={"value": plain[0], "pk": plain[1]}, watermark_position=exact)
    if reading.incremental and definition.delete is not None and definition.delete.reconcile is not None:
        writer = new_writer(ctx, es, target.write_index, None)
        types = {definition.pk_field or "": plan.get("key_type")}
        extra = reconcile_deletes(ctx, handle, reading, es, writer, counters, types)
        summary.update(deleted=counters.deleted, error_count=counters.error_count)
    if handle.check_abort():
        raise Aborted
    target.commit()
    done: dict[str, Any] = {"total": counters.rows_read, "progress": 1.0, **extra}
    handle.finish(JobState.SUCCESSFUL, **summary, **done, staging_kept=False)
    return JobState.SUCCESSFUL


def _fail(
    ctx: RunContext, handle: RunHandle, target: Target | None, messages: list[str], *, keep: bool = True
) -> JobState:
    parts = _parts(ctx.partitions, handle.status.run_id)
    if parts and keep:  # the ranges running elsewhere must stop before their index may go
        try:
            plan = handle.status.partitioning or {}
            handle.update(force=True, partitioning={**plan, "stop": True})
            _abort_queued(ctx.partitions, handle.status.run_id)
            parts = _settled(ctx, handle.status.run_id)
        except (ConnectorError, RunLost, HandBack) as ex:
            log.warning("run %s: could not stop its partitions: %s", handle.status.run_id, ex)
    kept = _keep_or_discard(target, parts if keep else [])
    try:
        handle.finish(JobState.ERROR, error=messages, **_summary(parts), staging_kept=kept)
    except RunLost as ex:
        log.warning("%s", ex)
    return JobState.ERROR


def _keep_or_discard(target: Target | None, parts: Sequence[Partition]) -> bool:
    """Keep a staging index that a resume can continue (some range got somewhere); delete any other."""
    if not isinstance(target, ReplaceTarget):
        return False
    if any(p.checkpoint or p.state == PartitionState.DONE for p in parts):
        return True
    try:
        target.discard()
    except ConnectorError as ex:
        log.error("could not clean up %s: %s", target.write_index, ex.reason)
    return False


def _parts(store: PartitionStore, run_id: str) -> list[Partition]:
    return [stored.partition for stored in store.of_run(run_id)]


def _rows(parts: Sequence[Partition]) -> int:
    return sum(p.rows_read for p in parts)


def _counters(parts: Sequence[Partition]) -> Counters:
    return Counters(
        rows_read=_rows(parts),
        count=sum(p.count for p in parts),
        deleted=sum(p.deleted for p in parts),
        error_count=sum(p.error_count for p in parts),
    )


def _summary(parts: Sequence[Partition]) -> dict[str, Any]:
    """The run's status from its ranges: sums, the last key's id and record, one entry per range."""
    if not parts:
        return {}
    counters = _counters(parts)
    fields: dict[str, Any] = {
        "count": counters.count,
        "error_count": counters.error_count,
        "deleted": counters.deleted,
        "partitions": [p.public() for p in parts],
    }
    with_id = [p for p in parts if p.last_id is not None]
    if with_id:
        fields["last_id"] = with_id[-1].last_id  # ranges are in key order: the last one's is the largest
    with_record = [p for p in parts if p.last_record is not None]
    if with_record:
        fields.update(
            last_record=with_record[-1].last_record, last_record_timestamp=with_record[-1].last_record_timestamp
        )
    return fields


def _first_error(parts: Sequence[Partition]) -> list[str]:
    failed = next(p for p in parts if p.state == PartitionState.ERROR)
    first = f"Partition k={failed.k} (range {failed.k + 1} of {failed.n}) failed; the others were stopped."
    return [first, *failed.error]


# ---------------------------------------------------------------- one range


def claim(ctx: RunContext, worker: str, *, limit: int, skip_runs: Collection[str] = ()) -> list[StoredPartition]:
    """Claim up to ``limit`` queued ranges for ``worker`` (conditional writes), one per run, none of ``skip_runs``."""
    claimed: list[StoredPartition] = []
    taken = set(skip_runs)
    for queued in ctx.partitions.queued(limit=(limit + len(taken)) * 4):
        if len(claimed) >= limit:
            break
        if queued.partition.run_id in taken:
            continue
        mine = _claim(ctx, [queued], worker)
        if mine is not None:
            claimed.append(mine)
            taken.add(mine.partition.run_id)
    return claimed


def _claim(ctx: RunContext, candidates: list[StoredPartition], worker: str) -> StoredPartition | None:
    now = ctx.jobs.now_ms()
    for queued in candidates:
        partition = queued.partition
        running = dataclasses.replace(
            partition,
            state=PartitionState.RUNNING,
            worker=worker,
            heartbeat=now,
            start_time=partition.start_time or now,
        )
        try:
            return ctx.partitions.save(queued, running)
        except VersionConflict:
            continue  # another worker was first, or its run stopped it
    return None


def execute_partition(
    ctx: RunContext, claimed: StoredPartition, *, worker: str, between: Callable[[], None] | None = None
) -> PartitionState:
    """Execute one claimed range to an end (or back to the queue), heartbeating beside it."""
    partition = claimed.partition
    found = ctx.jobs.get_run(partition.run_id)
    if found is None:  # its run was deleted with its ingestion
        with contextlib.suppress(VersionConflict):
            ended = dataclasses.replace(partition, state=PartitionState.ABORTED, end_time=ctx.jobs.now_ms())
            ctx.partitions.save(claimed, ended)
        return PartitionState.ABORTED
    handle = PartitionHandle(
        ctx.partitions,
        ctx.jobs,
        claimed,
        found.status,
        worker=worker,
        status_interval_s=ctx.settings.ingestion.status_interval_s,
        clock=ctx.clock,
    )
    done = threading.Event()
    beat = threading.Thread(
        target=contextvars.copy_context().run,
        args=(_heartbeat, ctx, handle, done),
        name=f"beat-{partition.id}",
        daemon=True,
    )
    beat.start()
    try:
        return _execute_partition(ctx, handle, between)
    finally:
        done.set()
        beat.join()


def _heartbeat(ctx: RunContext, handle: PartitionHandle, done: threading.Event) -> None:
    while not done.wait(ctx.settings.worker.heartbeat_interval_s):
        try:
            handle.heartbeat()
        except PartitionLost:
            return
        except ConnectorError as ex:
            log.warning("heartbeat of partition %s failed: %s", handle.partition.id, ex.reason)


def _execute_partition(ctx: RunContext, handle: PartitionHandle, between: Callable[[], None] | None) -> PartitionState:
    partition = handle.partition
    counters = Counters.resumed(partition.checkpoint)
    es: Elasticsearch | None = None
    try:
        if handle.check_run():
            raise Aborted
        plan = handle.status.partitioning
        assert plan is not None
        ingestion = ctx.ingestions.get(partition.job_id)
        es = writer_client(ctx, ingestion)
        reading = plan_reading(
            ctx,
            ingestion,
            es,
            params=handle.status.params,
            counters=counters,
            rebuild=plan["rebuild"],
            from_scratch=plan.get("from_scratch", False),
        )
        reading = _within(reading, partition)
        limit = RowLimit(partition.job_id, ctx.settings.ingestion.max_rows_per_run, allowed=handle.status.allow_large)
        with open_reading(ctx, reading) as source:
            opened = first_batch(reading, source, counters)
            writer = new_writer(ctx, es, plan["write_index"], plan.get("pipeline"))
            progress = Progress(partition.total, started_ms=handle.now_ms(), done_before=counters.rows_read)
            copy_rows(ctx, handle, reading, opened, writer, counters, limit, progress, between=between)
        handle.finish(PartitionState.DONE, **counters.status_fields())
        return PartitionState.DONE
    except Aborted:
        return _end(handle, PartitionState.ABORTED, counters)
    except HandBack:
        try:
            handle.hand_back(**counters.status_fields())
        except PartitionLost as ex:
            log.warning("%s", ex)
        return PartitionState.QUEUED
    except PartitionLost as ex:
        log.warning("%s", ex)
        return handle.partition.state
    except RunLost:
        _end(handle, PartitionState.ABORTED, counters)
        raise
    except ConnectorError as ex:
        messages = failure_messages(partition.job_id, ex, rows_read=counters.rows_read)
        return _end(handle, PartitionState.ERROR, counters, messages)
    except Exception as ex:
        log.exception("partition %s failed unexpectedly", partition.id)
        internal = f"Internal error in partition {partition.k} of [{partition.job_id}] ({type(ex).__name__})"
        return _end(handle, PartitionState.ERROR, counters, [scrub(f"{internal}; see the worker log.")])
    finally:
        if es is not None and es is not ctx.es:
            es.close()


def _end(
    handle: PartitionHandle, state: PartitionState, counters: Counters, messages: list[str] | None = None
) -> PartitionState:
    try:
        handle.finish(state, error=messages, **counters.status_fields())
    except PartitionLost as ex:
        log.warning("%s", ex)
    except ConnectorError as ex:  # the reaper ends it when the store answers again
        log.warning("partition %s: could not record its end: %s", handle.partition.id, ex.reason)
    return state


def _within(reading: Reading, partition: Partition) -> Reading:
    """``reading`` restricted to the partition's key range, bounds bound as the database compares them."""
    order = reading.begin.order
    assert order is not None
    server_binds = family(reading.connection.url.get_backend_name()) == POSTGRESQL
    timezone = reading.connection.timezone

    def bound(value: Any) -> Any:
        if value is None:
            return None
        return exact_values([value], [partition.key_type], server_binds=server_binds, timezone=timezone)[0]

    keys = KeyRange(bound(partition.lower), bound(partition.upper), nulls=partition.k == 0)
    begin = dataclasses.replace(reading.begin, order=dataclasses.replace(order, keys=keys))
    return dataclasses.replace(reading, begin=begin)
