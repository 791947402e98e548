"""Own the execution of one run: SQL rows streamed in batches into Elasticsearch.

Data flow: definition and datasource are read, the query is rendered with
bound variables, a server-side cursor is opened in a read-only transaction
(rows in ``pk_field`` order when there is one, so the last key read is a
checkpoint), the first batch decides the mapping, the strategy prepares its
index, then each batch is converted, bulk-indexed and accounted (count, last
id, rejections, checkpoint) while the status is written at most every
``status_interval_s``. Abort requests and worker shutdown are honoured
between batches. Whatever happens, the run ends in a final state (or, on
shutdown, back in the queue), and REPLACE leaves the target alone unless the
run succeeded. A failed REPLACE run with a checkpoint keeps its staging
index so that ``_run?resume=true`` can continue it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, Elasticsearch
from pydantic import SecretStr

from connector.crypto import SecretBox
from connector.datasource_store import DatasourceStore
from connector.doc_store import VersionConflict
from connector.driver_options import policy_of
from connector.errors import ConnectorError, InvalidDefinition
from connector.es_client import create_client
from connector.index_rules import RuleBroken, check_index_name, check_pipeline, pinned_pipeline, pipeline_id
from connector.ingestion_def import Ingestion
from connector.ingestion_store import IngestionStore
from connector.job_state import JobState, RunStatus
from connector.job_store import JobStore, Rejection
from connector.redaction import caller_input
from connector.settings import Settings
from ingestion.bulk_writer import BulkWriter
from ingestion.documents import DocumentBuilder, RenderedBuilder, rendered_builder
from ingestion.line_builder import LineBuilder, line_builder
from ingestion.progress import Progress
from ingestion.run_handle import RunHandle, RunLost
from ingestion.run_plan import check_columns, datasource_connection, render_query, target_mapping
from ingestion.sql_json_mysql import RenderedLines
from ingestion.sql_source import RenderRequest, open_rows
from ingestion.targets import IncrementalTarget, ReplaceTarget, TargetError, drop_staging, staging_name
from ingestion.transforms import compile_transforms
from ingestion.values import JsonEncoder

log = logging.getLogger(__name__)

# Before this many rows, a non-zero max_error_ratio is not judged (too few rows to tell).
ERROR_RATIO_MIN_ROWS = 10_000

Target = ReplaceTarget | IncrementalTarget


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


@dataclass(slots=True)
class Counters:
    """What a run has done so far; ``target`` is set once its index exists (for clean-up)."""

    rows_read: int = 0
    count: int = 0
    error_count: int = 0
    recorded_errors: int = 0
    last_id: str | None = None
    last_pk: Any = None  # the pk of the last row processed, as bound on resume
    last_record: list[Any] | None = None  # of the last row indexed, in the query's column order
    last_record_timestamp: int | None = None
    target: Target | None = None

    @classmethod
    def resumed(cls, checkpoint: dict[str, Any] | None) -> Counters:
        if not checkpoint:
            return cls()
        return cls(
            rows_read=checkpoint["rows_read"],
            count=checkpoint["count"],
            error_count=checkpoint["error_count"],
            recorded_errors=checkpoint.get("recorded_errors", 0),
            last_id=checkpoint.get("last_id"),
            last_pk=checkpoint["pk"],
        )

    def checkpoint(self) -> dict[str, Any] | None:
        """Counters and key at one batch boundary: everything up to ``pk`` is accounted for."""
        if self.last_pk is None:
            return None
        return {
            "pk": self.last_pk,
            "rows_read": self.rows_read,
            "count": self.count,
            "error_count": self.error_count,
            "recorded_errors": self.recorded_errors,
            "last_id": self.last_id,
        }

    def status_fields(self) -> dict[str, Any]:
        """The counters as one status update: count, last_id and last_record always agree."""
        fields: dict[str, Any] = {
            "count": self.count,
            "last_id": self.last_id,
            "error_count": self.error_count,
            "checkpoint": self.checkpoint(),
        }
        if self.last_record is not None:
            fields.update(last_record=self.last_record, last_record_timestamp=self.last_record_timestamp)
        return fields


def execute_run(ctx: RunContext, handle: RunHandle) -> JobState:
    """Run to a final state (or back to the queue on shutdown); never leaves it running."""
    status = handle.status
    counters = Counters.resumed(status.checkpoint)
    write_es: Elasticsearch | None = None
    resumable = False
    try:
        ingestion = ctx.ingestions.get(status.id)
        resumable = bool(ingestion.definition.pk_field)
        write_es = _writer_client(ctx, ingestion)
        _housekeeping(ctx, status, ingestion, write_es)
        with caller_input(ingestion.definition.query, repr(status.params)):
            target = _stream(ctx, handle, ingestion, write_es, counters)
        if handle.check_abort():
            raise Aborted
        target.commit()
        done: dict[str, Any] = {"total": counters.rows_read, "progress": 1.0}
        # infos stays the seed's "The job is done."; error_count and the errors report tell the rest.
        handle.finish(JobState.SUCCESSFUL, **counters.status_fields(), **done, staging_kept=False)
        return JobState.SUCCESSFUL
    except Aborted:
        kept = _keep_or_discard(counters, resumable)
        handle.finish(JobState.ABORTED, **counters.status_fields(), staging_kept=kept)
        return JobState.ABORTED
    except HandBack:
        return _hand_back(handle, counters, resumable)
    except RunLost as ex:
        log.warning("%s", ex)
        return handle.status.state
    except ConnectorError as ex:
        return _fail(handle, counters, resumable, _messages(status.id, ex))
    except Exception as ex:
        log.exception("run %s failed unexpectedly", status.run_id)
        # Its text may quote anything (a file, a value): it stays in the worker's log, scrubbed.
        internal = f"Internal error while running [{status.id}] ({type(ex).__name__}); see the worker log for run"
        return _fail(handle, counters, resumable, [f"{internal} [{status.run_id}]."])
    finally:
        if write_es is not None and write_es is not ctx.es:
            write_es.close()


def _stream(ctx: RunContext, handle: RunHandle, ingestion: Ingestion, es: Elasticsearch, counters: Counters) -> Target:
    definition = ingestion.definition
    connection = datasource_connection(ingestion, ctx.datasources, ctx.box, policy_of(ctx.settings.sql))
    query = render_query(ingestion, connection, es=es, jobs=ctx.jobs, params=handle.status.params)
    limits = ctx.settings.ingestion
    batch_size = definition.batch_size or limits.batch_size
    max_ratio = definition.max_error_ratio if definition.max_error_ratio is not None else limits.max_error_ratio
    with open_rows(
        connection,
        query,
        connect_timeout_s=ctx.settings.sql.connect_timeout_s,
        exact_total=definition.count_total,
        order_by=definition.pk_field,
        after=counters.last_pk,
        batch_size=batch_size,
        batch_max_bytes=limits.batch_max_bytes,
        render=RenderRequest(transforms=tuple(definition.transforms)) if limits.server_rendering else None,
    ) as source:
        check_columns(definition, source.columns)
        rows = source.fetch()
        encoder = JsonEncoder(connection.timezone)
        builder: DocumentBuilder | RenderedBuilder | LineBuilder
        if isinstance(source.rendered, RenderedLines):
            builder = line_builder(
                source.rendered,
                pk_field=definition.pk_field,
                transforms=definition.transforms,
                timezone=connection.timezone,
                encoder=encoder,
            )
            sample = [builder.values(row) for row in rows]
        elif source.rendered is not None:
            builder = rendered_builder(
                source.rendered,
                pk_field=definition.pk_field,
                transforms=definition.transforms,
                timezone=connection.timezone,
                encoder=encoder,
            )
            sample = [builder.values(row) for row in rows]
        else:
            builder = DocumentBuilder(
                source.columns,
                db_types=source.db_types,
                pk_field=definition.pk_field,
                encoder=encoder,
                transforms=compile_transforms(definition.transforms, timezone=connection.timezone),
            )
            sample = list(rows)
        mapping = target_mapping(definition, source.columns, source.db_types, sample)
        target = counters.target = _prepare_target(
            handle,
            ingestion,
            es,
            mapping,
            resume=counters.last_pk is not None,
            service_prefix=ctx.settings.index_prefix,
        )
        writer = BulkWriter(
            es,
            target.write_index,
            max_bytes=limits.bulk_max_bytes,
            max_retries=limits.bulk_max_retries,
            backoff_initial_s=limits.bulk_backoff_initial_s,
            backoff_max_s=limits.bulk_backoff_max_s,
            pipeline=_register_pipeline(ctx, ingestion, es, target.write_index),
            sleep=ctx.sleep,
        )
        total = source.total + counters.rows_read if source.total is not None else None
        progress = Progress(total, started_ms=handle.now_ms(), done_before=counters.rows_read)
        staging = target.write_index if isinstance(target, ReplaceTarget) else None
        handle.update(
            force=True,
            total=total,
            staging_index=staging,
            server_rendering=source.rendered is not None,
            last_record_types=list(source.db_types) or None,
        )
        while rows:
            if handle.abort_requested.is_set():
                raise Aborted
            if ctx.shutdown.is_set():
                raise HandBack
            _write_batch(ctx, handle, builder, writer, rows, counters, encoder)
            _check_ratio(counters, max_ratio, final=False)
            handle.update(**counters.status_fields(), **progress.at(counters.rows_read, handle.now_ms()))
            rows = source.fetch()
    _check_ratio(counters, max_ratio, final=True)
    return target


def _housekeeping(ctx: RunContext, status: RunStatus, ingestion: Ingestion, es: Elasticsearch) -> None:
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
    handle: RunHandle,
    builder: DocumentBuilder | RenderedBuilder | LineBuilder,
    writer: BulkWriter,
    rows: Sequence[Any],
    counters: Counters,
    encoder: JsonEncoder,
) -> None:
    batch = builder.build(rows, first_row_number=counters.rows_read + 1)
    outcome = writer.write(batch.actions, batch.sources)
    rejected_positions = {e.position for e in outcome.rejected}
    rejections = list(batch.rejected) + [
        Rejection(batch.ids[e.position], e.error_type, e.reason) for e in outcome.rejected
    ]
    counters.rows_read += len(rows)
    counters.count += outcome.indexed
    counters.error_count += len(rejections)
    for position in range(len(batch.ids) - 1, -1, -1):
        if position not in rejected_positions:
            counters.last_id = batch.ids[position]
            break
    if batch.last_key is not None:
        counters.last_pk = encoder.plain(batch.last_key)
    if batch.last_row is not None and len(batch.ids) - 1 not in rejected_positions:
        counters.last_record = encoder.plain(list(batch.last_row))
        counters.last_record_timestamp = handle.now_ms()
    room = ctx.settings.ingestion.errors_report_cap - counters.recorded_errors
    if rejections and room > 0:
        counters.recorded_errors += ctx.jobs.record_rejections(
            handle.status, counters.recorded_errors, rejections[:room]
        )


def _check_ratio(counters: Counters, max_ratio: float, *, final: bool) -> None:
    if not counters.error_count or not counters.rows_read:
        return
    ratio = counters.error_count / counters.rows_read
    judged = final or max_ratio == 0 or counters.rows_read >= ERROR_RATIO_MIN_ROWS
    if judged and ratio > max_ratio:
        raise TooManyRejections(
            f"{counters.error_count} of {counters.rows_read} rows rejected ({ratio:.2%}), above max_error_ratio "
            f"{max_ratio:.2%}; see the errors report"
        )


def _prepare_target(
    handle: RunHandle,
    ingestion: Ingestion,
    es: Elasticsearch,
    mapping: dict[str, Any],
    *,
    resume: bool,
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
    if definition.strategy == "INCREMENTAL":
        incremental = IncrementalTarget(es, definition.target)
        incremental.prepare(mapping, explicit=definition.mapping)
        return incremental
    status = handle.status
    staging = status.staging_index or staging_name(
        definition.target, definition.staging_prefix, status.run_id[len(status.id) :].replace("-", "")[:16]
    )
    replace = ReplaceTarget(es, definition.target, staging)
    replace.prepare(mapping, resume=resume)
    return replace


def _register_pipeline(ctx: RunContext, ingestion: Ingestion, es: Elasticsearch, write_index: str) -> str | None:
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


def _writer_client(ctx: RunContext, ingestion: Ingestion) -> Elasticsearch:
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
    if isinstance(target, ReplaceTarget) and resumable and counters.last_pk is not None:
        return True
    if target is not None:
        try:
            target.discard()
        except ConnectorError as ex:
            log.error("could not clean up %s: %s", target.write_index, ex.reason)
    return False


def _fail(handle: RunHandle, counters: Counters, resumable: bool, messages: list[str]) -> JobState:
    kept = _keep_or_discard(counters, resumable)
    try:
        handle.finish(JobState.ERROR, error=messages, **counters.status_fields(), staging_kept=kept)
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


def _messages(job_id: str, ex: ConnectorError) -> list[str]:
    """The seed-003 ``error`` list: what failed, then why."""
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
