"""Own the execution of one run: SQL rows streamed in batches into Elasticsearch.

Data flow: definition and datasource are read, the query is rendered with
bound variables, a server-side cursor is opened in a read-only transaction,
the first batch decides the mapping, the strategy prepares its index, then
each batch is converted, bulk-indexed and accounted (count, last id,
rejections) while the status is written at most every
``status_interval_s``. Abort requests are honoured between batches. Whatever
happens, the run ends in a final state, and REPLACE leaves the target alone
unless the run succeeded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from connector.crypto import SecretBox
from connector.datasource import ConnectionTarget
from connector.datasource_store import DatasourceStore
from connector.errors import ConnectorError, InvalidDefinition
from connector.es_client import create_client
from connector.ingestion_def import Ingestion, pipeline_id
from connector.ingestion_store import IngestionStore
from connector.job_state import JobState
from connector.job_store import JobStore, Rejection
from connector.settings import Settings
from ingestion.bulk_writer import BulkWriter
from ingestion.documents import DocumentBuilder
from ingestion.progress import Progress
from ingestion.query_template import render
from ingestion.run_handle import RunHandle, RunLost
from ingestion.run_plan import check_columns, target_mapping, template_variables
from ingestion.sql_source import open_rows
from ingestion.targets import IncrementalTarget, ReplaceTarget, TargetError, staging_name
from ingestion.transforms import compile_transforms
from ingestion.values import JsonEncoder

log = logging.getLogger(__name__)

# Before this many rows, a non-zero max_error_ratio is not judged (too few rows to tell).
ERROR_RATIO_MIN_ROWS = 10_000


class Aborted(Exception):
    """An abort was requested; the run stops between batches."""


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
    target: ReplaceTarget | IncrementalTarget | None = None


def execute_run(ctx: RunContext, handle: RunHandle) -> JobState:
    """Run to a final state; never leaves the run active (unless it was taken away)."""
    status = handle.status
    counters = Counters()
    write_es: Elasticsearch | None = None
    try:
        ingestion = ctx.ingestions.get(status.id)
        write_es = _writer_client(ctx, ingestion)
        target = _stream(ctx, handle, ingestion, write_es, counters)
        if handle.check_abort():
            raise Aborted
        target.commit()
        done: dict[str, Any] = {
            "total": counters.rows_read,
            "progress": 1.0,
            "estimated_time_remaining": 0,
            "eta": None,
        }
        # infos stays the seed's "The job is done."; error_count and the errors report tell the rest.
        handle.finish(JobState.SUCCESSFUL, **_final(counters), **done)
        return JobState.SUCCESSFUL
    except Aborted:
        _discard(counters.target)
        handle.finish(JobState.ABORTED, **_final(counters))
        return JobState.ABORTED
    except RunLost as ex:
        log.warning("%s", ex)
        return handle.status.state
    except ConnectorError as ex:
        _discard(counters.target)
        return _fail(handle, counters, _messages(status.id, ex))
    except Exception as ex:
        log.exception("run %s failed unexpectedly", status.run_id)
        _discard(counters.target)
        return _fail(handle, counters, [f"Internal error while running [{status.id}]: {type(ex).__name__}: {ex}"])
    finally:
        if write_es is not None and write_es is not ctx.es:
            write_es.close()


def _stream(
    ctx: RunContext, handle: RunHandle, ingestion: Ingestion, es: Elasticsearch, counters: Counters
) -> ReplaceTarget | IncrementalTarget:
    definition = ingestion.definition
    status = handle.status
    connection = _connection(ctx, ingestion)
    last_success = ctx.jobs.latest_run(status.type, status.id, state=JobState.SUCCESSFUL)
    variables = template_variables(
        definition, es=es, params=status.params, last_success=last_success.status if last_success else None
    )
    query = render(definition.query, variables, entry="$.ingest.query")
    batch_size = definition.batch_size or ctx.settings.ingestion.batch_size
    limits = ctx.settings.ingestion
    max_ratio = definition.max_error_ratio if definition.max_error_ratio is not None else limits.max_error_ratio
    with open_rows(
        connection, query, connect_timeout_s=ctx.settings.sql.connect_timeout_s, exact_total=definition.count_total
    ) as source:
        check_columns(definition, source.columns)
        rows = source.fetch(batch_size)
        mapping = target_mapping(definition, source.columns, source.db_types, rows)
        target = counters.target = _prepare_target(handle, ingestion, es, mapping)
        writer = BulkWriter(
            es,
            target.write_index,
            max_bytes=limits.bulk_max_bytes,
            max_retries=limits.bulk_max_retries,
            backoff_initial_s=limits.bulk_backoff_initial_s,
            backoff_max_s=limits.bulk_backoff_max_s,
            pipeline=_register_pipeline(ctx, ingestion, es),
            sleep=ctx.sleep,
        )
        encoder = JsonEncoder(connection.timezone)
        builder = DocumentBuilder(
            source.columns,
            db_types=source.db_types,
            pk_field=definition.pk_field,
            encoder=encoder,
            transforms=compile_transforms(definition.transforms, timezone=connection.timezone),
        )
        progress = Progress(source.total, started_ms=handle.now_ms())
        staging = target.write_index if isinstance(target, ReplaceTarget) else None
        handle.update(force=True, total=source.total, staging_index=staging)
        while rows:
            if handle.abort_requested.is_set():
                raise Aborted
            _write_batch(ctx, handle, builder, writer, rows, counters, encoder)
            _check_ratio(counters, max_ratio, final=False)
            handle.update(**_final(counters), **progress.at(counters.rows_read, handle.now_ms()))
            rows = source.fetch(batch_size)
    _check_ratio(counters, max_ratio, final=True)
    return target


def _connection(ctx: RunContext, ingestion: Ingestion) -> ConnectionTarget:
    """The datasource's connection, with the ingestion's own credentials when it has them."""
    definition = ingestion.definition
    datasource = ctx.datasources.get(definition.datasource)
    credentials = None
    if definition.ds_credentials and definition.ds_credentials.username:
        password = ctx.box.decrypt(ingestion.ds_password) if ingestion.ds_password else None
        credentials = (definition.ds_credentials.username, password)
    return datasource.connection_target(ctx.box, credentials=credentials)


def _write_batch(
    ctx: RunContext,
    handle: RunHandle,
    builder: DocumentBuilder,
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
    if batch.last_row is not None and len(batch.ids) - 1 not in rejected_positions:
        handle.update(last_record=encoder.plain(list(batch.last_row)), last_record_timestamp=handle.now_ms())
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
    handle: RunHandle, ingestion: Ingestion, es: Elasticsearch, mapping: dict[str, Any]
) -> ReplaceTarget | IncrementalTarget:
    definition = ingestion.definition
    if definition.strategy == "INCREMENTAL":
        incremental = IncrementalTarget(es, definition.target)
        incremental.prepare(mapping, explicit=definition.mapping)
        return incremental
    status = handle.status
    staging = status.staging_index or staging_name(
        definition.target, definition.staging_prefix, status.run_id[len(status.id) :].replace("-", "")[:16]
    )
    replace = ReplaceTarget(es, definition.target, staging)
    replace.prepare(mapping)
    return replace


def _register_pipeline(ctx: RunContext, ingestion: Ingestion, es: Elasticsearch) -> str | None:
    pipeline = ingestion.definition.pipeline
    if not pipeline:
        return None
    name = pipeline_id(ctx.settings.index_prefix, ingestion.id)
    try:
        es.ingest.put_pipeline(id=name, **pipeline)
    except ApiError as ex:
        raise TargetError(f"cannot register ingest pipeline [{name}]: {ex.message}") from ex
    return name


def _writer_client(ctx: RunContext, ingestion: Ingestion) -> Elasticsearch:
    credentials = ingestion.definition.es_credentials
    if not credentials or not credentials.username:
        return ctx.es
    password = ctx.box.decrypt(ingestion.es_password) if ingestion.es_password else ""
    settings = ctx.settings.elasticsearch.model_copy(
        update={"username": credentials.username, "password": password, "api_key": None}
    )
    client, _ = create_client(settings, wait=False)
    return client


def _final(counters: Counters) -> dict[str, Any]:
    return {"count": counters.count, "last_id": counters.last_id, "error_count": counters.error_count}


def _discard(target: ReplaceTarget | IncrementalTarget | None) -> None:
    if target is None:
        return
    try:
        target.discard()
    except ConnectorError as ex:
        log.error("could not clean up %s: %s", target.write_index, ex.reason)


def _fail(handle: RunHandle, counters: Counters, messages: list[str]) -> JobState:
    try:
        handle.finish(JobState.ERROR, error=messages, **_final(counters))
    except RunLost as ex:
        log.warning("%s", ex)
    return JobState.ERROR


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
        details = [entry.rules[0].description for entry in ex.invalid] or details
    return [context, *details]
