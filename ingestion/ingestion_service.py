"""Own the ingestion use cases: define, read, delete, run, dry-run, abort."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict, Field

from connector.cron import CronError
from connector.crypto import SecretBox
from connector.datasource import ConnectionTarget
from connector.datasource_store import DatasourceStore
from connector.doc_store import VersionConflict
from connector.driver_options import policy_of
from connector.errors import Conflict, DatasourceUnavailable, DriverMissing, InvalidDefinition, QueryFailed
from connector.ingestion_def import Credentials, IngestBody, Ingestion, PutIngestionBody
from connector.ingestion_store import IngestionStore
from connector.job_state import INGESTION, JobState, RunStatus, envelope
from connector.job_store import JobStore, NewRun
from connector.settings import Settings
from connector.validation import check_id, parse_model
from ingestion.run.partitions import orderable
from ingestion.run.run_plan import (
    check_columns,
    datasource_connection,
    datasource_endpoint,
    target_mapping,
)
from ingestion.run.run_state import Counters
from ingestion.run.runner import RunContext, plan_reading
from ingestion.sink.documents import DocumentBuilder
from ingestion.sink.targets import resolve
from ingestion.sink.transforms import compile_transforms
from ingestion.source.query_template import ParamValue, check_template, render, variables_used
from ingestion.source.read_order import ReadOrder
from ingestion.source.sql_lexer import family
from ingestion.source.sql_source import open_rows, result_columns, target_session
from ingestion.source.values import JsonEncoder, load_json

WriteResult = Literal["created", "updated"]
NEXT_FIRE_TIMES = 5  # how many fire times GET, _search, PUT and _validate show


@dataclass(frozen=True, slots=True)
class ScheduleOutlook:
    """What an ingestion's schedule does next, from the service's clock."""

    next_fire_times: list[dt.datetime]  # aware, in the schedule's time zone
    enabled: bool  # enable_scheduler (or its synonym)
    warnings: list[str]  # how the expression may be misread (connector/cron.py)

    def as_fields(self) -> dict[str, Any]:
        """The response fields that show it (besides ``warnings``, which PUT and _validate place)."""
        return {
            "next_fire_times": [fire.isoformat() for fire in self.next_fire_times],
            "scheduler_enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class PutOutcome:
    result: WriteResult
    schedule: ScheduleOutlook | None


class RunBody(BaseModel):
    """Optional body of ``POST /ingestion/<id>/_run``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=100)


class ValidateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    size: int = Field(10, ge=1, le=100)
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=100)


class IngestionService:
    def __init__(
        self,
        store: IngestionStore,
        datasources: DatasourceStore,
        jobs: JobStore,
        es: Elasticsearch,
        box: SecretBox,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.datasources = datasources
        self.jobs = jobs
        self.es = es
        self.box = box
        self.settings = settings
        self._clock = clock

    # ------------------------------------------------------------ definitions

    def put(self, ingestion_id: str, body: Any) -> PutOutcome:
        """Create or replace a definition after validating all of it; passwords are kept if omitted."""
        check_id(ingestion_id, what="ingestion")
        context = {
            "index_prefix": self.settings.index_prefix,
            "allow_scripts": self.settings.ingestion.allow_script_processors,
        }
        definition = parse_model(PutIngestionBody, body, context=context).ingest
        self._check_limits(definition)
        if definition.partitioned and "max_primary_key" in variables_used(definition.query):
            raise InvalidDefinition.single(
                "$.ingest.partitions",
                "max_primary_key",
                "a partitioned query cannot use {{max_primary_key}}: it moves while the ranges are written; "
                "use tracking_column to read what changed",
            )
        outlook = self.schedule_outlook(definition)
        if outlook is not None and not outlook.next_fire_times:
            raise InvalidDefinition.single(
                "$.ingest.schedule", "cron", f"schedule {definition.schedule!r} never fires again", params=["never"]
            )
        found = self.datasources.find(definition.datasource)
        if found is None:
            raise InvalidDefinition.single(
                "$.ingest.datasource", "exists", f"datasource [{definition.datasource}] does not exist"
            )
        endpoint = datasource_endpoint(found[0], policy_of(self.settings.sql))
        now = int(self._clock() * 1000)
        existing = self.store.find(ingestion_id)
        ingestion = Ingestion(
            ingestion_id,
            _without_passwords(definition),
            ds_password=self._encrypt(definition.ds_credentials),
            es_password=self._encrypt(definition.es_credentials),
            created_at=now,
            updated_at=now,
        )
        if existing is not None:
            previous, _ = existing
            # A kept ds password must still go to the server it was given for (SPEC §4, §14).
            same_server = previous.definition.datasource == definition.datasource and previous.ds_endpoint == endpoint
            ingestion = replace(
                ingestion,
                created_at=previous.created_at,
                ds_password=ingestion.ds_password
                or (_same_user(definition.ds_credentials, previous, "ds") if same_server else None),
                es_password=ingestion.es_password or _same_user(definition.es_credentials, previous, "es"),
            )
        if ingestion.ds_password is not None:
            ingestion = replace(ingestion, ds_endpoint=endpoint)
        self._probe_columns(ingestion)
        try:
            if existing is None:
                self.store.create(ingestion)
                return PutOutcome("created", outlook)
            self.store.replace(existing[1], ingestion)
            return PutOutcome("updated", outlook)
        except VersionConflict as ex:
            raise Conflict(f"ingestion [{ingestion_id}] was changed concurrently; retry") from ex

    def _check_limits(self, definition: IngestBody) -> None:
        if len(definition.query.encode()) > self.settings.sql.max_sql_bytes:
            raise InvalidDefinition.single(
                "$.ingest.query",
                "max_length",
                f"must be at most {self.settings.sql.max_sql_bytes} bytes",
                params=[self.settings.sql.max_sql_bytes],
            )
        if len(definition.transforms) > self.settings.ingestion.max_transforms:
            raise InvalidDefinition.single(
                "$.ingest.transforms",
                "max_items",
                f"at most {self.settings.ingestion.max_transforms} transforms",
                params=[self.settings.ingestion.max_transforms],
            )

    def _encrypt(self, credentials: Credentials | None) -> str | None:
        if credentials is None or credentials.password is None:
            return None
        return self.box.encrypt(credentials.password)

    def _probe_columns(self, ingestion: Ingestion) -> None:
        """Check the query's columns against pk_field and transforms when the database answers.

        A database that cannot be reached is not a reason to refuse a
        definition (it may be down for maintenance); a query it rejects is.
        """
        definition = ingestion.definition
        connection = self._connection(ingestion)
        dialect = family(connection.url.get_backend_name())
        check_template(definition.query, dialect=dialect, entry="$.ingest.query")
        query = render(definition.query, {"params": {}}, dialect=dialect, entry="$.ingest.query", strict=False)
        try:
            with target_session(
                connection,
                connect_timeout_s=self.settings.sql.connect_timeout_s,
                statement_timeout_s=self.settings.sql.statement_timeout_s,
            ) as conn:
                columns, db_types = result_columns(conn, query.sql, query.params)
        except (DatasourceUnavailable, DriverMissing):
            return
        except QueryFailed as ex:
            raise InvalidDefinition.single(
                "$.ingest.query", "sql", f"the datasource rejects the query: {ex.reason}"
            ) from None
        check_columns(definition, columns)
        if definition.partitioned and definition.pk_field in columns and db_types:
            key_type = db_types[columns.index(definition.pk_field)]
            if not orderable(key_type):
                raise InvalidDefinition.single(
                    "$.ingest.partitions",
                    "orderable",
                    f"partitions needs a pk_field that can be split into ranges; [{definition.pk_field}] is "
                    f"{(key_type or '').removeprefix('mysql:')}",
                )

    def get(self, ingestion_id: str) -> Ingestion:
        return self.store.get(ingestion_id)

    def schedule_outlook(self, definition: IngestBody) -> ScheduleOutlook | None:
        """The next fire times of the definition's schedule from now; None without a schedule.

        The scheduler's reading (``IngestBody.parsed_schedule``); one croniter cannot read has none.
        """
        try:
            schedule = definition.parsed_schedule()
        except CronError as ex:
            return ScheduleOutlook([], definition.scheduler_enabled, [str(ex)])
        if schedule is None:
            return None
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        return ScheduleOutlook(
            schedule.fire_times(now, NEXT_FIRE_TIMES), definition.scheduler_enabled, schedule.warnings()
        )

    def page(self, *, from_: int, size: int) -> tuple[int, list[Ingestion]]:
        return self.store.page(from_=from_, size=size)

    def delete(self, ingestion_id: str) -> None:
        found = self.store.find(ingestion_id)
        if found is None:
            self.store.get(ingestion_id)
            return
        current = self.jobs.current_run(INGESTION, ingestion_id)
        if current is not None and current.status.is_running:
            raise Conflict(
                f"ingestion [{ingestion_id}] has a {current.status.state.value} run; abort it first",
                body=envelope(INGESTION, ingestion_id, current.status),
            )
        try:
            self.store.delete(found[1])
        except VersionConflict as ex:
            raise Conflict(f"ingestion [{ingestion_id}] was changed concurrently; retry") from ex

    def using_datasource(self, datasource_id: str) -> list[str]:
        return self.store.using_datasource(datasource_id)

    # ------------------------------------------------------------ runs

    def run(self, ingestion_id: str, body: Any, *, resume: bool = False, allow_large: bool = False) -> RunStatus:
        """Queue a run (a worker executes it); Conflict while one is queued or running.

        With ``resume``, the new run continues the last failed or aborted run
        from its checkpoint (rows above its last key, into its kept staging
        index for REPLACE). With ``allow_large``, ``ingestion.max_rows_per_run``
        does not apply to it.
        """
        parsed = parse_model(RunBody, body if body is not None else {})
        definition = self.store.get(ingestion_id).definition
        new = NewRun(
            INGESTION,
            ingestion_id,
            params=parsed.params,
            target=definition.target,
            strategy=definition.strategy,
            allow_large=allow_large,
        )
        if resume:
            given = isinstance(body, dict) and "params" in body
            new = self._resumption(ingestion_id, definition, new, params_given=given)
        return self.jobs.enqueue(new).status

    def _resumption(self, ingestion_id: str, definition: IngestBody, new: NewRun, *, params_given: bool) -> NewRun:
        if not definition.pk_field:
            raise Conflict(
                f"ingestion [{ingestion_id}] cannot resume: without pk_field a run has no checkpoint; "
                "run it again without resume"
            )
        last = self.jobs.current_run(INGESTION, ingestion_id)
        if last is None:
            raise Conflict(f"ingestion [{ingestion_id}] has never run; nothing to resume")
        status = last.status
        if status.is_running:
            raise Conflict(
                f"ingestion [{ingestion_id}] already has a {status.state.value} run",
                body=envelope(INGESTION, ingestion_id, status),
            )
        if status.state not in (JobState.ERROR, JobState.ABORTED):
            raise Conflict(
                f"nothing to resume: the last run of [{ingestion_id}] is {status.state.value}",
                body=envelope(INGESTION, ingestion_id, status),
            )
        redefined = (
            status.definition_digest != definition.resume_digest()
            if status.definition_digest
            else (status.target, status.strategy) != (definition.target, definition.strategy)
        )
        if redefined:
            raise Conflict(
                f"cannot resume [{ingestion_id}]: it was redefined since run [{status.run_id}] (its datasource, "
                "target, strategy or keys changed); run it again without resume"
            )
        if definition.strategy == "INCREMENTAL" and resolve(self.es, definition.target)[0] == "missing":
            raise Conflict(
                f"cannot resume [{ingestion_id}]: its target [{definition.target}] does not exist, so nothing of "
                f"what run [{status.run_id}] wrote is there to continue; run it again without resume"
            )
        if bool(status.partitioning) != definition.partitioned:
            was = "a partitioned run" if status.partitioning else "not partitioned"
            raise Conflict(
                f"cannot resume [{ingestion_id}]: run [{status.run_id}] was {was} and ingest.partitions has changed "
                "since; run it again without resume"
            )
        if status.partitioning:  # its partitions hold the checkpoints (ingestion/run/partitioned.py)
            if status.staging_index and not status.staging_kept:
                raise Conflict(
                    f"cannot resume [{ingestion_id}]: the staging index of run [{status.run_id}] was not kept; "
                    "run it again without resume"
                )
            return replace(
                new,
                trigger="resume",
                resume_of=status.run_id,
                staging_index=status.staging_index,
                params=new.params if params_given else dict(status.params),
                allow_large=new.allow_large or status.allow_large,
            )
        checkpoint = status.checkpoint
        if definition.strategy == "REPLACE" and checkpoint and not status.staging_kept:
            raise Conflict(
                f"cannot resume [{ingestion_id}]: the staging index of run [{status.run_id}] was not kept; "
                "run it again without resume"
            )
        return replace(
            new,
            trigger="resume",
            resume_of=status.run_id,
            checkpoint=checkpoint,
            staging_index=status.staging_index if checkpoint and definition.strategy == "REPLACE" else None,
            params=new.params if params_given else dict(status.params),
            allow_large=new.allow_large or status.allow_large,
        )

    # ------------------------------------------------------------ dry run

    def validate(self, ingestion_id: str, body: Any) -> dict[str, Any]:
        """Render, fetch a few rows, build their documents and the mapping; write nothing."""
        parsed = parse_model(ValidateBody, body if body is not None else {})
        ingestion = self.store.get(ingestion_id)
        definition = ingestion.definition
        # Planned as a run plans it (last success, template variables, read order, soft deletes).
        context = RunContext(self.settings, self.es, self.jobs, self.store, self.datasources, self.box)
        reading = plan_reading(context, ingestion, self.es, params=parsed.params, counters=Counters(), rebuild=False)
        connection, query, begin, soft = reading.connection, reading.query, reading.begin, reading.soft
        with open_rows(
            connection,
            query,
            connect_timeout_s=self.settings.sql.connect_timeout_s,
            statement_timeout_s=self.settings.sql.statement_timeout_s,
            exact_total=definition.count_total,
            order=begin.order,
            batch_size=parsed.size,
        ) as source:
            columns, db_types, total = source.columns, source.db_types, source.total
            rows = source.fetch()
        timezone = connection.timezone
        check_columns(definition, columns)
        encoder = JsonEncoder(timezone)
        builder = DocumentBuilder(
            columns,
            db_types=db_types,
            pk_field=definition.pk_field,
            encoder=encoder,
            transforms=compile_transforms(definition.transforms, timezone=timezone),
            soft=soft,
        )
        batch = builder.build(rows, first_row_number=1)
        mapping = target_mapping(definition, columns, db_types, rows)
        if soft is not None:
            mapping["properties"].pop(soft.column, None)
        indexed = [(i, s) for i, s in zip(batch.ids, batch.sources, strict=True) if s is not None]
        deletes = [i for i, s in zip(batch.ids, batch.sources, strict=True) if s is None]
        documents = [load_json(source) for _, source in indexed]
        produced = {key for document in documents for key in document}
        unused = sorted(set((definition.mapping or {}).get("properties", {})) - produced - set(columns))
        outlook = self.schedule_outlook(definition)
        return {
            "_id": ingestion_id,
            "valid": not batch.rejected,
            "query": {"sql": query.sql, "params": encoder.plain(query.params)},
            "columns": [
                {"name": c, "db_type": t} for c, t in zip(columns, db_types or [None] * len(columns), strict=True)
            ],
            "total": total,
            "documents": [{"_id": i, "_source": d} for (i, _), d in zip(indexed, documents, strict=True)],
            "deletes": deletes,
            "rejected": [
                {"pk": r.pk, "field": r.field, "error_type": r.error_type, "reason": r.reason} for r in batch.rejected
            ],
            "mapping": mapping,
            **({"read": _read_of(begin.order, encoder)} if begin.order is not None else {}),
            "warnings": [f"mapping field [{f}] is never produced by the query or transforms" for f in unused]
            + [f"schedule: {warning}" for warning in (outlook.warnings if outlook else [])],
            **(outlook.as_fields() if outlook else {}),
        }

    def _connection(self, ingestion: Ingestion) -> ConnectionTarget:
        return datasource_connection(ingestion, self.datasources, self.box, policy_of(self.settings.sql))


def _read_of(order: ReadOrder, encoder: JsonEncoder) -> dict[str, Any]:
    """How a run reads the query: in which order, and from where (the dry run reads the same way)."""
    read: dict[str, Any] = {"order_by": list(order.columns)}
    if order.after is not None:
        read["after"] = encoder.plain(list(order.after))
    if order.from_value is not None:
        read["from"] = encoder.plain([order.from_value])[0]
    return read


def _without_passwords(definition: IngestBody) -> IngestBody:
    updates = {}
    for key in ("ds_credentials", "es_credentials"):
        credentials = getattr(definition, key)
        if credentials is not None:
            updates[key] = credentials.model_copy(update={"password": None})
    return definition.model_copy(update=updates)


def _same_user(credentials: Credentials | None, previous: Ingestion, which: str) -> str | None:
    """Keep the stored password when the update names the same user without a password."""
    before = getattr(previous.definition, f"{which}_credentials")
    if credentials is None or before is None or credentials.username != before.username:
        return None
    stored: str | None = getattr(previous, f"{which}_password")
    return stored
