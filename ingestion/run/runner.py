"""Own the execution of one run: SQL rows streamed in batches into Elasticsearch.

Data flow: definition and datasource are read, the query is rendered with
bound variables, a server-side cursor is opened in a read-only transaction
(rows in ``pk_field`` order when there is one — ``(tracking_column,
pk_field)`` for change sync — from after the checkpoint or the last
watermark: ``run_state``), the first batch decides the mapping, the strategy
prepares its index (INCREMENTAL checks the target's mapping first: a
conflict fails the run, or with ``on_mapping_conflict: rebuild`` turns it
into a full load of a new index swapped in like REPLACE), then each batch is
converted (soft-deleted rows become deletes), bulk-written and accounted
(count, deleted, last id, rejections, checkpoint, watermark) while the
status is written at most every ``status_interval_s``. With
``delete.reconcile`` the run then deletes documents whose row is gone
(``reconcile``). Abort requests and worker shutdown are honoured between
batches. Whatever happens, the run ends in a final state (or, on shutdown,
back in the queue), and REPLACE leaves the target alone unless the run
succeeded. A failed REPLACE run with a checkpoint keeps its staging index so
that ``_run?resume=true`` can continue it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from elasticsearch import ApiError, Elasticsearch
from pydantic import SecretStr

from connector import metrics
from connector.crypto import SecretBox
from connector.datasource import ConnectionTarget
from connector.datasource_store import DatasourceStore
from connector.doc_store import VersionConflict, store_errors
from connector.driver_options import policy_of
from connector.errors import ConnectionLost, ConnectorError, InvalidDefinition
from connector.es_client import create_client
from connector.index_rules import RuleBroken, check_index_name, check_pipeline, pinned_pipeline, pipeline_id
from connector.ingestion_def import IngestBody, Ingestion
from connector.ingestion_store import IngestionStore
from connector.job_state import INGESTION, JobState, RunStatus
from connector.job_store import JobStore, Rejection
from connector.partition_store import PartitionStore
from connector.settings import Settings
from ingestion.run.progress import Progress
from ingestion.run.row_limit import RowLimit, TooManyRows
from ingestion.run.run_handle import RunHandle, RunLost
from ingestion.run.run_plan import check_columns, datasource_connection, render_query, target_mapping, target_reloaded
from ingestion.run.run_state import Counters, Start, Target, advance_watermark, keep_watermark, start
from ingestion.sink.bulk_writer import BulkWriter
from ingestion.sink.documents import Batch, DocumentBuilder, RenderedBuilder, SoftRule, rendered_builder
from ingestion.sink.line_builder import LineBuilder, line_builder
from ingestion.sink.reconcile import reconcile
from ingestion.sink.targets import (
    IncrementalTarget,
    MappingConflict,
    ReplaceTarget,
    TargetError,
    drop_staging,
    resolve,
    staging_name,
)
from ingestion.sink.transforms import compile_transforms
from ingestion.source.query_template import RenderedQuery
from ingestion.source.sql_json_mysql import RenderedLines
from ingestion.source.sql_lexer import POSTGRESQL, family
from ingestion.source.sql_source import RenderRequest, RowStream, open_rows, target_session
from ingestion.source.values import JsonEncoder, exact_json

log = logging.getLogger(__name__)

# Before this many rows, a non-zero max_error_ratio is not judged (too few rows to tell).
ERROR_RATIO_MIN_ROWS = 10_000


class Aborted(Exception):
    """An abort was requested; the run stops between batches."""


class HandBack(Exception):
    """The worker is shutting down; the run goes back to the queue between batches."""


class TooManyRejections(ConnectorError):
    error_type = "too_many_rejections_exception"


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a worker gives each run."""

    settings: Settings
    es: Elasticsearch
    jobs: JobStore
    ingestions: IngestionStore
    datasources: DatasourceStore
    box: SecretBox
    shutdown: threading.Event = field(default_factory=threading.Event)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time

    @property
    def partitions(self) -> PartitionStore:
        """The ranges of partitioned runs (``ingestion/run/partitioned.py``)."""
        return PartitionStore(self.es, self.jobs.names.job_partitions)


class Handle(Protocol):
    """What the copy loop writes progress to: a run's status (``RunHandle``) or a partition's."""

    abort_requested: threading.Event
    seq_base: int  # where this executor's rows start in the run's errors report

    @property
    def status(self) -> RunStatus: ...

    def now_ms(self) -> int: ...

    def update(self, *, force: bool = False, **changes: Any) -> None: ...


class RebuildNeeded(Exception):
    """The target's mapping conflicts and ``on_mapping_conflict`` is ``rebuild``: load a new index instead."""


def execute_run(ctx: RunContext, handle: RunHandle) -> JobState:
    """Run to a final state (or back to the queue on shutdown); never leaves it running."""
    status = handle.status
    counters = Counters.resumed(status.checkpoint)
    write_es: Elasticsearch | None = None
    resumable = False
    try:
        ingestion = ctx.ingestions.get(status.id)
        resumable = bool(ingestion.definition.pk_field)
        write_es = writer_client(ctx, ingestion)
        housekeeping(ctx, status, ingestion, write_es)
        try:
            extra = _stream(ctx, handle, ingestion, write_es, counters, rebuild=False)
        except RebuildNeeded:
            log.info("run %s: the target's mapping conflicts; loading a new index", status.run_id)
            resumable = False  # a rebuild starts over; a resume of it would start over too
            counters = Counters()
            extra = _stream(ctx, handle, ingestion, write_es, counters, rebuild=True)
        target = counters.target
        assert target is not None
        if handle.check_abort():
            raise Aborted
        target.commit()
        done: dict[str, Any] = {"total": counters.rows_read, "progress": 1.0, **extra}
        # infos stays the seed's "The job is done."; error_count and the errors report tell the rest.
        handle.finish(JobState.SUCCESSFUL, **counters.status_fields(), **done, staging_kept=False)
        return JobState.SUCCESSFUL
    except Aborted:
        kept = _keep_or_discard(counters, resumable)
        handle.finish(JobState.ABORTED, **_final_fields(counters, resumable), staging_kept=kept)
        return JobState.ABORTED
    except HandBack:
        return _hand_back(handle, counters, resumable)
    except RunLost as ex:
        log.warning("%s", ex)
        return handle.status.state
    except TooManyRows as ex:
        # Not resumable: what was written is dropped, to give the memory back.
        return _fail(handle, counters, False, failure_messages(status.id, ex))
    except ConnectorError as ex:
        return _fail(handle, counters, resumable, failure_messages(status.id, ex, rows_read=counters.rows_read))
    except Exception as ex:
        log.exception("run %s failed unexpectedly", status.run_id)
        # Its text may quote anything (a file, a value): it stays in the worker's log, scrubbed.
        internal = f"Internal error while running [{status.id}] ({type(ex).__name__}); see the worker log for run"
        return _fail(handle, counters, resumable, [f"{internal} [{status.run_id}]."])
    finally:
        if write_es is not None and write_es is not ctx.es:
            write_es.close()


@dataclass(frozen=True, slots=True)
class Reading:
    """What one execution reads and by which rules, planned from the definition (and the last success)."""

    definition: IngestBody
    connection: ConnectionTarget
    query: RenderedQuery
    previous: RunStatus | None  # the last successful run
    begin: Start
    soft: SoftRule | None
    incremental: bool  # upserts (and deletes) into the target, not a new index
    batch_size: int
    max_ratio: float
    from_scratch: bool = False  # the last success was forgotten: its target no longer exists

    @property
    def tracking(self) -> bool:
        return self.begin.order is not None and len(self.begin.order.columns) == 2

    @property
    def order_columns(self) -> tuple[str, ...]:
        return self.begin.order.columns if self.begin.order is not None else ()


def plan_reading(
    ctx: RunContext,
    ingestion: Ingestion,
    es: Elasticsearch,
    *,
    params: dict[str, Any],
    counters: Counters,
    rebuild: bool,
    from_scratch: bool | None = None,
) -> Reading:
    """Connection, rendered query and read order of an execution (a partition narrows it to its range).

    ``from_scratch``: forget the last success (its watermark, its template variables); None decides it
    here, as a partitioned run's plan did once for all its ranges.
    """
    definition = ingestion.definition
    connection = datasource_connection(ingestion, ctx.datasources, ctx.box, policy_of(ctx.settings.sql))
    found = ctx.jobs.latest_run(INGESTION, ingestion.id, state=JobState.SUCCESSFUL)
    previous = found.status if found is not None else None
    if from_scratch is None:
        from_scratch = target_reloaded(es, ingestion.definition, previous)
    if from_scratch:
        previous = None
    query = render_query(ingestion, connection, es=es, params=params, last_success=previous)
    server_binds = family(connection.url.get_backend_name()) == POSTGRESQL
    begin = start(
        definition, counters, previous, rebuild=rebuild, server_binds=server_binds, timezone=connection.timezone
    )
    incremental = definition.strategy == "INCREMENTAL" and not rebuild
    limits = ctx.settings.ingestion
    return Reading(
        definition,
        connection,
        query,
        previous,
        begin,
        _soft_rule(definition, delete=incremental),
        incremental,
        definition.batch_size or limits.batch_size,
        definition.max_error_ratio if definition.max_error_ratio is not None else limits.max_error_ratio,
        from_scratch,
    )


def open_reading(
    ctx: RunContext, reading: Reading, *, batch_size: int | None = None
) -> AbstractContextManager[RowStream]:
    """The rows of ``reading`` in its order, from where it starts."""
    definition = reading.definition
    return open_rows(
        reading.connection,
        reading.query,
        connect_timeout_s=ctx.settings.sql.connect_timeout_s,
        exact_total=definition.count_total,
        order=reading.begin.order,
        batch_size=batch_size or reading.batch_size,
        batch_max_bytes=ctx.settings.ingestion.batch_max_bytes,
        render=RenderRequest(
            transforms=tuple(definition.transforms), soft_column=reading.soft.column if reading.soft else None
        )
        if ctx.settings.ingestion.server_rendering
        else None,
    )


@dataclass(slots=True)
class Opened:
    """A row stream with its first batch, the builder for it and the types of its columns."""

    source: RowStream
    rows: Sequence[Any]
    builder: DocumentBuilder | RenderedBuilder | LineBuilder
    encoder: JsonEncoder
    types: dict[str, str | None]

    def mapping(self, definition: IngestBody, soft: SoftRule | None) -> dict[str, Any]:
        """The mapping for a new target, from the columns' types and the first batch."""
        builder, rows, source = self.builder, self.rows, self.source
        if isinstance(builder, RenderedBuilder | LineBuilder):
            sample = [builder.values(row) for row in rows]
        else:
            sample = list(rows)
        mapping = target_mapping(definition, source.columns, source.db_types, sample)
        if soft is not None:
            mapping["properties"].pop(soft.column, None)  # the soft-delete column is never indexed
        return mapping


def first_batch(reading: Reading, source: RowStream, counters: Counters) -> Opened:
    """Check the columns, read the first batch and build its converter; set the checkpoint's types."""
    check_columns(reading.definition, source.columns)
    rows = source.fetch()
    encoder = JsonEncoder(reading.connection.timezone)
    builder = _builder(
        reading.definition, source, rows, encoder, reading.connection.timezone, reading.order_columns, reading.soft
    )
    types = dict(zip(source.columns, source.db_types or [None] * len(source.columns), strict=True))
    counters.position_types = [types.get(c) for c in reading.order_columns] or None
    return Opened(source, rows, builder, encoder, types)


def _stream(
    ctx: RunContext, handle: RunHandle, ingestion: Ingestion, es: Elasticsearch, counters: Counters, *, rebuild: bool
) -> dict[str, Any]:
    """Read, convert and write every batch (then reconcile); return what the final status adds."""
    definition = ingestion.definition
    reading = plan_reading(ctx, ingestion, es, params=handle.status.params, counters=counters, rebuild=rebuild)
    limits = ctx.settings.ingestion
    with open_reading(ctx, reading) as source:
        opened = first_batch(reading, source, counters)
        limit = RowLimit(handle.status.id, limits.max_rows_per_run, allowed=handle.status.allow_large)
        limit.check_estimate(source.total + counters.rows_read if source.total is not None else None)
        target = counters.target = prepare_target(
            handle,
            ingestion,
            es,
            opened.mapping(definition, reading.soft),
            resume=counters.position is not None,
            rebuild=rebuild,
            service_prefix=ctx.settings.index_prefix,
        )
        writer = new_writer(ctx, es, target.write_index, register_pipeline(ctx, ingestion, es, target.write_index))
        total = source.total + counters.rows_read if source.total is not None else None
        progress = Progress(total, started_ms=handle.now_ms(), done_before=counters.rows_read)
        staging = target.write_index if isinstance(target, ReplaceTarget) else None
        handle.update(
            force=True,
            definition_digest=definition.resume_digest(),
            total=total,
            staging_index=staging,
            server_rendering=source.rendered is not None,
            last_record_types=list(source.db_types) or None,
            watermark_types=counters.position_types if reading.tracking else None,
        )
        copy_rows(ctx, handle, reading, opened, writer, counters, limit, progress)
        if reading.tracking:
            keep_watermark(counters, reading.begin)
    check_ratio(counters, reading.max_ratio, final=True)
    if reading.incremental and definition.delete is not None and definition.delete.reconcile is not None:
        return reconcile_deletes(ctx, handle, reading, es, writer, counters, opened.types)
    return {}


_REFUSED_FIELD = re.compile(r"failed to parse field \[([^\]]{1,512})\]")


def refused_field(reason: str) -> str | None:
    """The field Elasticsearch names in a mapping refusal (``failed to parse field [qty] of type ...``)."""
    found = _REFUSED_FIELD.search(reason)
    return found.group(1) if found else None


def new_writer(ctx: RunContext, es: Elasticsearch, index: str, pipeline: str | None) -> BulkWriter:
    limits = ctx.settings.ingestion
    return BulkWriter(
        es,
        index,
        max_bytes=limits.bulk_max_bytes,
        max_retries=limits.bulk_max_retries,
        backoff_initial_s=limits.bulk_backoff_initial_s,
        backoff_max_s=limits.bulk_backoff_max_s,
        pipeline=pipeline,
        sleep=ctx.sleep,
    )


def copy_rows(
    ctx: RunContext,
    handle: Handle,
    reading: Reading,
    opened: Opened,
    writer: BulkWriter,
    counters: Counters,
    limit: RowLimit,
    progress: Progress,
    *,
    between: Callable[[], None] | None = None,
) -> None:
    """Convert and write every batch of ``opened``, accounting for each; stop between batches when asked."""
    rows = opened.rows
    while rows:
        if handle.abort_requested.is_set():
            raise Aborted
        if ctx.shutdown.is_set():
            raise HandBack
        limit.check_batch(counters.rows_read, len(rows))
        batch = _write_batch(ctx, handle, opened.builder, writer, rows, counters, opened.encoder)
        if reading.tracking and batch.last_position is not None and counters.position is not None:
            last = batch.last_position  # counters.position is its exact JSON, written by _write_batch
            advance_watermark(counters, reading.begin, last, counters.position, opened.encoder.plain(list(last)))
        check_ratio(counters, reading.max_ratio, final=False)
        handle.update(**counters.status_fields(), **progress.at(counters.rows_read, handle.now_ms()))
        if between is not None:
            between()
        rows = opened.source.fetch()


def _builder(
    definition: IngestBody,
    source: RowStream,
    rows: Sequence[Any],
    encoder: JsonEncoder,
    timezone: str,
    order: Sequence[str],
    soft: SoftRule | None,
) -> DocumentBuilder | RenderedBuilder | LineBuilder:
    if isinstance(source.rendered, RenderedLines):  # MariaDB (never with a soft-delete rule: sql_json_mysql)
        return line_builder(
            source.rendered,
            pk_field=definition.pk_field,
            transforms=definition.transforms,
            timezone=timezone,
            encoder=encoder,
        )
    if source.rendered is not None:
        return rendered_builder(
            source.rendered,
            pk_field=definition.pk_field,
            transforms=definition.transforms,
            timezone=timezone,
            encoder=encoder,
            order=order,
            soft=soft,
        )
    return DocumentBuilder(
        source.columns,
        db_types=source.db_types,
        pk_field=definition.pk_field,
        encoder=encoder,
        transforms=compile_transforms(definition.transforms, timezone=timezone),
        order=order,
        soft=soft,
    )


def _soft_rule(definition: IngestBody, *, delete: bool) -> SoftRule | None:
    soft = definition.delete.soft if definition.delete is not None else None
    return SoftRule(soft.column, tuple(soft.values), delete) if soft is not None else None


def reconcile_deletes(
    ctx: RunContext,
    handle: RunHandle,
    reading: Reading,
    es: Elasticsearch,
    writer: BulkWriter,
    counters: Counters,
    types: dict[str, str | None],
) -> dict[str, Any]:
    """``delete.reconcile`` when it is due (``every_runs``); return the bookkeeping of when it last ran."""
    definition, previous = reading.definition, reading.previous
    settings = definition.delete.reconcile if definition.delete is not None else None
    assert settings is not None and definition.pk_field is not None
    since = (previous.runs_since_reconcile or 0) + 1 if previous is not None else settings.every_runs
    if since < settings.every_runs:
        return {"runs_since_reconcile": since}
    with store_errors(f"refreshing {definition.target}"):
        es.indices.refresh(index=definition.target)  # the documents this run wrote are compared too
    with target_session(reading.connection, connect_timeout_s=ctx.settings.sql.connect_timeout_s) as conn:
        outcome = reconcile(
            conn,
            es,
            writer,
            query=reading.query,
            target=definition.target,
            key=definition.pk_field,
            key_db_type=types.get(definition.pk_field),
            max_delete_ratio=settings.max_delete_ratio,
        )
    counters.deleted += outcome.deleted
    metrics.documents_deleted(handle.status.id, outcome.deleted)
    rejected = outcome.rejected or []
    counters.error_count += len(rejected)
    _record(ctx, handle, counters, rejected)
    log.info(
        "run %s reconciled %s: %d documents, %d gone, %d back, %d deleted",
        handle.status.run_id,
        definition.target,
        outcome.documents,
        outcome.candidates,
        outcome.kept,
        outcome.deleted,
    )
    return {"runs_since_reconcile": 0}


def housekeeping(ctx: RunContext, status: RunStatus, ingestion: Ingestion, es: Elasticsearch) -> None:
    """Take over the staging index of the run being resumed; drop staging kept by older runs."""
    for kept in ctx.jobs.kept_staging(job_id=status.id):
        if kept.status.run_id == status.run_id:
            continue
        if kept.status.staging_index and kept.status.staging_index != status.staging_index:
            drop_staging(es, kept.status.staging_index)
        with contextlib.suppress(VersionConflict):  # another process released it
            ctx.jobs.save(kept, kept.status.with_progress(staging_kept=False))


def _write_batch(
    ctx: RunContext,
    handle: Handle,
    builder: DocumentBuilder | RenderedBuilder | LineBuilder,
    writer: BulkWriter,
    rows: Sequence[Any],
    counters: Counters,
    encoder: JsonEncoder,
) -> Batch:
    batch = builder.build(rows, first_row_number=counters.rows_read + 1)
    outcome = writer.write(batch.actions, batch.sources)
    rejected_positions = {e.position for e in outcome.rejected}
    rejections = list(batch.rejected) + [
        Rejection(batch.ids[e.position], e.error_type, e.reason, refused_field(e.reason)) for e in outcome.rejected
    ]
    counters.rows_read += len(rows)
    counters.count += outcome.indexed
    counters.deleted += outcome.deleted
    counters.error_count += len(rejections)
    metrics.batch_written(handle.status.id, rows=len(rows), indexed=outcome.indexed, rejected=len(rejections))
    metrics.documents_deleted(handle.status.id, outcome.deleted)
    # From the end: the last document written (deletes have no source), then the last one not refused.
    positions = (p for p in range(len(batch.sources) - 1, -1, -1) if batch.sources[p] is not None)
    last_indexed = next(positions, None)
    last_kept = last_indexed
    while last_kept is not None and last_kept in rejected_positions:
        last_kept = next(positions, None)
    if last_kept is not None:
        counters.last_id = batch.ids[last_kept]
    if batch.last_position is not None:
        counters.position = exact_json(batch.last_position, encoder)
    if batch.last_row is not None and last_indexed is not None and last_indexed == last_kept:
        counters.last_record = encoder.plain(list(batch.last_row))
        counters.last_record_timestamp = handle.now_ms()
    _record(ctx, handle, counters, rejections)
    return batch


def _record(ctx: RunContext, handle: Handle, counters: Counters, rejections: list[Rejection]) -> None:
    """Add rejected rows to the run's errors report, up to its cap (a partition's own share of it)."""
    room = ctx.settings.ingestion.errors_report_cap - counters.recorded_errors
    if rejections and room > 0:
        counters.recorded_errors += ctx.jobs.record_rejections(
            handle.status, handle.seq_base + counters.recorded_errors, rejections[:room]
        )


def check_ratio(counters: Counters, max_ratio: float, *, final: bool) -> None:
    if not counters.error_count or not counters.rows_read:
        return
    ratio = counters.error_count / counters.rows_read
    judged = final or max_ratio == 0 or counters.rows_read >= ERROR_RATIO_MIN_ROWS
    if judged and ratio > max_ratio:
        raise TooManyRejections(
            f"{counters.error_count} of {counters.rows_read} rows rejected ({ratio:.2%}), above max_error_ratio "
            f"{max_ratio:.2%}; see the errors report"
        )


def prepare_target(
    handle: RunHandle,
    ingestion: Ingestion,
    es: Elasticsearch,
    mapping: dict[str, Any],
    *,
    resume: bool,
    rebuild: bool,
    service_prefix: str,
) -> Target:
    definition = ingestion.definition
    for entry, name, prefix_only in (
        ("$.ingest.target", definition.target, False),
        ("$.ingest.staging_prefix", definition.staging_prefix, True),
    ):
        try:  # checked at PUT too; a definition stored before these rules must not write there either
            if name is not None:
                check_index_name(name, service_prefix=service_prefix, prefix_only=prefix_only)
        except RuleBroken as ex:
            raise InvalidDefinition.single(entry, "index_name", str(ex)) from None
    kind = _check_covered(es, definition.target, service_prefix)
    if definition.strategy == "INCREMENTAL" and not rebuild:
        incremental = IncrementalTarget(es, definition.target)
        try:
            incremental.prepare(mapping, kind=kind)
        except MappingConflict:
            if definition.on_mapping_conflict == "rebuild":
                raise RebuildNeeded from None
            raise
        return incremental
    status = handle.status
    staging = status.staging_index or staging_name(
        definition.target, definition.staging_prefix, status.run_id[len(status.id) :].replace("-", "")[:16]
    )
    replace = ReplaceTarget(es, definition.target, staging)
    replace.prepare(mapping, resume=resume)
    return replace


def _check_covered(es: Elasticsearch, target: str, service_prefix: str) -> str:
    """An existing alias named ``target`` must not lead to indices an ingestion may not write (or REPLACE drop).

    Returns what ``target`` is now (``resolve``'s kind), for the target to be prepared from.
    """
    kind, covered = resolve(es, target)
    for index in covered if kind == "alias" else ():
        try:
            check_index_name(index, service_prefix=service_prefix)
        except RuleBroken as ex:
            raise InvalidDefinition.single(
                "$.ingest.target",
                "index_name",
                f"[{target}] is an alias over [{index}], which an ingestion may not write or replace: {ex}",
            ) from None
    return kind


def register_pipeline(ctx: RunContext, ingestion: Ingestion, es: Elasticsearch, write_index: str) -> str | None:
    """Register the ingestion's pipeline for this run, ``_index`` pinned to the run's write index (SPEC §14)."""
    pipeline = ingestion.definition.pipeline
    if not pipeline:
        return None
    try:  # checked at PUT too; settings may have changed since
        check_pipeline(pipeline, allow_scripts=ctx.settings.ingestion.allow_script_processors)
    except RuleBroken as ex:
        raise InvalidDefinition.single(f"$.ingest.pipeline{ex.path}", "pipeline", str(ex)) from None
    name = pipeline_id(ctx.settings.index_prefix, ingestion.id)
    try:
        es.ingest.put_pipeline(id=name, **pinned_pipeline(pipeline, write_index))
    except ApiError as ex:
        raise TargetError(f"cannot register ingest pipeline [{name}]: {ex.message}") from ex
    return name


def writer_client(ctx: RunContext, ingestion: Ingestion) -> Elasticsearch:
    credentials = ingestion.definition.es_credentials
    if not credentials or not credentials.username:
        return ctx.es
    password = ctx.box.decrypt(ingestion.es_password) if ingestion.es_password else ""
    settings = ctx.settings.elasticsearch.model_copy(
        update={"username": credentials.username, "password": SecretStr(password), "api_key": None}
    )
    client, _ = create_client(settings, wait=False)
    return client


def _keep_or_discard(counters: Counters, resumable: bool) -> bool:
    """Keep a REPLACE staging index that a resume can continue; delete any other. True if kept."""
    target = counters.target
    if isinstance(target, ReplaceTarget) and resumable and counters.position is not None:
        return True
    if target is not None:
        try:
            target.discard()
        except ConnectorError as ex:
            log.error("could not clean up %s: %s", target.write_index, ex.reason)
    return False


def _final_fields(counters: Counters, resumable: bool) -> dict[str, Any]:
    """A stopped run's counters; without its checkpoint when a resume must not continue it (the status's
    ``resumable`` then says false, and a resume starts over)."""
    fields = counters.status_fields()
    if not resumable:
        fields["checkpoint"] = None
    return fields


def _fail(handle: RunHandle, counters: Counters, resumable: bool, messages: list[str]) -> JobState:
    kept = _keep_or_discard(counters, resumable)
    try:
        handle.finish(JobState.ERROR, error=messages, **_final_fields(counters, resumable), staging_kept=kept)
    except RunLost as ex:
        log.warning("%s", ex)
    return JobState.ERROR


def _hand_back(handle: RunHandle, counters: Counters, resumable: bool) -> JobState:
    """Queue the run again for the next worker, resumable from its checkpoint when it has one."""
    replacing = isinstance(counters.target, ReplaceTarget)
    kept = _keep_or_discard(counters, resumable)
    if replacing and not kept:
        # The staging index is gone: the next worker starts this run over.
        fields: dict[str, Any] = {
            "count": 0,
            "last_id": None,
            "error_count": 0,
            "checkpoint": None,
            "staging_index": None,
        }
    else:
        fields = counters.status_fields()
    where = f"from key {counters.last_pk}" if fields["checkpoint"] else "from the start"
    try:
        handle.hand_back(
            f"The job was handed back by worker [{handle.worker}] shutting down; it resumes {where}.", **fields
        )
    except RunLost as ex:
        log.warning("%s", ex)
    return JobState.QUEUED


def failure_messages(job_id: str, ex: ConnectorError, *, rows_read: int = 0) -> list[str]:
    """The seed-003 ``error`` list: what failed, then why."""
    if isinstance(ex, ConnectionLost):  # it had connected: say so, and how far it got
        return [f"Lost the connection to the datasource of [{job_id}] after {rows_read} rows.", ex.reason]
    context = {
        "datasource_connection_exception": f"Could not connect to the datasource of [{job_id}].",
        "sql_exception": f"Could not execute datasource query of [{job_id}].",
        "query_timeout_exception": f"Could not execute datasource query of [{job_id}].",
        "validation_exception": f"The ingestion [{job_id}] is invalid.",
        "resource_not_found_exception": f"The ingestion [{job_id}] cannot run.",
    }.get(ex.error_type, f"The ingestion [{job_id}] failed.")
    details = [ex.reason]
    if isinstance(ex, InvalidDefinition):
        details = [f"{entry.entry}: {entry.rules[0].description}" for entry in ex.invalid] or details
    return [context, *details]
