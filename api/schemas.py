"""Own the response models of the HTTP API, for the OpenAPI document (``api/openapi.py``).

Resources still render plain dicts; these models describe what they render so
that the spec is generated rather than written by hand, and the fuzz test
(``tests/api/test_fuzz.py``) checks every response against them. Models
forbid unknown fields, so a response growing an undocumented field fails
that test until the model says so.

Fields the service leaves out when it has no value (rather than sending
``null``) are declared with :func:`omitted`: optional, and never ``null``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from connector.ingestion_def import IngestBody
from connector.job_query import MAX_Q_CHARS, SORT_PATTERN
from connector.job_state import JobState
from ingestion.ingestion_service import NEXT_FIRE_TIMES


def _present_not_null(schema: dict[str, Any]) -> None:
    """Turn ``anyOf: [X, null]`` with ``default: null`` into ``X``: absent, never null."""
    schema.pop("default", None)
    members = schema.pop("anyOf", None)
    if members is None:
        return
    kept = [m for m in members if m != {"type": "null"}]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


def omitted(description: str | None = None) -> Any:
    """A field left out of the response when unknown (``X | None = omitted()``)."""
    return Field(None, description=description, json_schema_extra=_present_not_null)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# ---------------------------------------------------------------- errors (SPEC §7)


class ErrorRule(_Out):
    rule: str
    params: list[Any]
    description: str


class InvalidEntry(_Out):
    """One invalid entry of the request (seed 002)."""

    entry_type: Literal["json_data_property", "query_parameter", "path_parameter", "header"]
    entry: str = Field(description="JSON path of a body property, or the parameter name")
    rules: list[ErrorRule]


class RootCause(_Out):
    type: str
    reason: str


class ErrorDetail(_Out):
    type: str = Field(description="Elasticsearch-style error type, e.g. validation_exception")
    reason: str
    root_cause: list[RootCause]
    invalid: list[InvalidEntry]


class ErrorBody(_Out):
    """Every error response: Elasticsearch shape with seed 002's ``invalid[]``."""

    error: ErrorDetail
    status: int
    job: JobEnvelope | None = omitted("the job envelope whose state caused a 409")


# ---------------------------------------------------------------- datasources (SPEC §4)


class WriteResult(_Out):
    """What PUT and DELETE of a datasource or an ingestion return."""

    id: str = Field(alias="_id")
    result: Literal["created", "updated", "deleted"]


class ConnectionOut(_Out):
    """A datasource's ``jdbc`` or ``sql`` object as GET returns it: never a password."""

    url: str
    driver: str | None = omitted("jdbc only; accepted and ignored")
    username: str | None = omitted()
    timezone: str | None = omitted()
    properties: dict[str, str | int | float | bool] | None = omitted()


class DatasourceSource(_Out):
    jdbc: ConnectionOut | None = omitted()
    sql: ConnectionOut | None = omitted()
    description: str | None = omitted()


class DatasourceDoc(_Out):
    id: str = Field(alias="_id")
    found: Literal[True]
    source: DatasourceSource = Field(alias="_source")


class DatasourceHit(_Out):
    id: str = Field(alias="_id")
    source: DatasourceSource = Field(alias="_source")


class DatasourceHits(_Out):
    total: int
    hits: list[DatasourceHit]


class DatasourceSearchResult(_Out):
    hits: DatasourceHits


class DatasourceValidateResult(_Out):
    id: str = Field(alias="_id")
    valid: bool
    dialect: str
    server_version: str | None
    took: int = Field(description="milliseconds")


class MetadataColumn(_Out):
    name: str
    type: str
    nullable: bool
    es_type: str | None


class MetadataTable(_Out):
    name: str
    type: Literal["table", "view"]
    columns: list[MetadataColumn]
    primary_key: list[str]


class MetadataSchema(_Out):
    name: str
    tables: list[MetadataTable] | None = omitted("only with ?schema=")


class MetadataCatalog(_Out):
    name: str
    schemas: list[MetadataSchema]


class DatasourceMetadataResult(_Out):
    id: str = Field(alias="_id")
    dialect: str
    catalogs: list[MetadataCatalog]


class ResultColumn(_Out):
    name: str
    db_type: str | None


class Mapping(BaseModel):
    """An Elasticsearch mapping: ``{"properties": {field: {"type": ...}}}``."""

    model_config = ConfigDict(extra="allow")

    properties: dict[str, dict[str, Any]]


class DatasourceSampleResult(_Out):
    id: str = Field(alias="_id")
    columns: list[ResultColumn]
    rows: list[dict[str, Any]]
    mapping: Mapping


# ---------------------------------------------------------------- ingestions (SPEC §5)

_NEXT_FIRE_TIMES = (
    f"with a schedule: its next {NEXT_FIRE_TIMES} fire times from now (fewer if it ends), ISO 8601 with the "
    "offset of the schedule's time zone, whether or not the scheduler is enabled"
)
_SCHEDULER_ENABLED = "with a schedule: enable_scheduler (or its synonym enable_schedule)"


def _fire_times_schema(schema: dict[str, Any]) -> None:
    _present_not_null(schema)
    schema["maxItems"] = NEXT_FIRE_TIMES


def _next_fire_times() -> Any:
    return Field(None, description=_NEXT_FIRE_TIMES, json_schema_extra=_fire_times_schema)


class IngestionWriteResult(_Out):
    """What PUT of an ingestion returns: the seed's ``_id`` and ``result``, then what its schedule does."""

    id: str = Field(alias="_id")
    result: Literal["created", "updated"]
    next_fire_times: list[AwareDatetime] | None = _next_fire_times()
    scheduler_enabled: bool | None = omitted(_SCHEDULER_ENABLED)
    warnings: list[str] | None = omitted(
        "present when the schedule fires more often than hourly or reads like 5-field cron with a sixth field"
    )


class IngestionSource(_Out):
    ingest: IngestBody = Field(description="the definition as stored, without passwords")


class IngestionDoc(_Out):
    id: str = Field(alias="_id")
    found: Literal[True]
    source: IngestionSource = Field(alias="_source")
    next_fire_times: list[AwareDatetime] | None = _next_fire_times()
    scheduler_enabled: bool | None = omitted(_SCHEDULER_ENABLED)


class IngestionHit(_Out):
    id: str = Field(alias="_id")
    source: IngestionSource = Field(alias="_source")
    next_fire_times: list[AwareDatetime] | None = _next_fire_times()
    scheduler_enabled: bool | None = omitted(_SCHEDULER_ENABLED)


class IngestionHits(_Out):
    total: int
    hits: list[IngestionHit]


class IngestionSearchResult(_Out):
    hits: IngestionHits


class RenderedQueryOut(_Out):
    sql: str = Field(description="the SQL with :name placeholders")
    params: dict[str, Any]


class DocumentOut(_Out):
    id: str = Field(alias="_id")
    source: dict[str, Any] = Field(alias="_source")


class RejectedRow(_Out):
    pk: str | None
    field: str | None
    error_type: str
    reason: str


class ReadOut(_Out):
    order_by: list[str] = Field(description="(tracking_column, pk_field) or (pk_field,)")
    after: list[Any] | None = omitted("strictly after this position: the last successful run's watermark")
    from_: Any = Field(
        None,
        alias="from",
        description="from this tracking value on (the watermark less tracking_overlap)",
        json_schema_extra=_present_not_null,
    )


class IngestionValidateResult(_Out):
    """The dry run: nothing is written."""

    id: str = Field(alias="_id")
    valid: bool
    query: RenderedQueryOut
    columns: list[ResultColumn]
    total: int | None = Field(description="rows expected, when cheap to know")
    documents: list[DocumentOut]
    deletes: list[str] = Field(description="ids whose documents the rows would delete (delete.soft)")
    rejected: list[RejectedRow]
    mapping: Mapping
    read: ReadOut | None = omitted(
        "how a run reads the query now (pk_field or tracking_column): order, and where it starts after the last run"
    )
    warnings: list[str] = Field(description="mapping fields never produced; how the schedule may be misread")
    next_fire_times: list[AwareDatetime] | None = _next_fire_times()
    scheduler_enabled: bool | None = omitted(_SCHEDULER_ENABLED)


# ---------------------------------------------------------------- jobs (SPEC §6)


class Watermark(_Out):
    value: Any = Field(description="the tracking column's value of the last row read (JSON)")
    pk: Any = Field(description="its pk_field value: ties on the tracking value are ordered by it")


class PartitionOut(_Out):
    """One key range of a partitioned run (SPEC §15)."""

    k: int = Field(description="0-based; ranges are in key order")
    state: str = Field(description="queued, running, done, error or aborted")
    count: int = Field(description="documents indexed from this range")
    rows_read: int
    worker: str | None = omitted("the worker executing it")
    total: int | None = omitted("rows in the range when the run planned it")
    error_count: int | None = omitted("rows rejected")
    deleted: int | None = omitted("documents deleted (change sync)")
    last_id: str | None = omitted()
    error: list[str] | None = omitted("what failed, then why")


class JobRunStatus(_Out):
    """A run's status document: seed 003 names first, then the extensions of seeds 000-002."""

    version: int
    id: str
    is_running: bool
    is_aborting: bool | None = omitted("present once an abort was requested")
    start_time: int | None = omitted("epoch ms")
    end_time: int | None = omitted("epoch ms")
    infos: str | None = omitted()
    error: list[str] | None = omitted("what failed, then why")
    state: JobState
    count: int = Field(description="documents indexed")
    last_id: str | None = omitted()
    run_id: str
    type: str
    create_time: int | None = omitted("epoch ms")
    error_count: int | None = omitted("rows rejected")
    deleted: int | None = omitted("documents deleted by the run (change sync)")
    total: int | None = omitted("rows expected")
    progress: float | None = omitted("0..1")
    estimated_time_remaining: int | None = omitted("ms")
    eta: str | None = omitted("ISO 8601 UTC")
    worker: str | None = omitted()
    heartbeat: int | None = omitted("epoch ms")
    target: str | None = omitted()
    strategy: str | None = omitted()
    staging_index: str | None = omitted()
    trigger: str | None = omitted("manual, schedule or resume")
    fire_time: int | None = omitted("epoch ms of the schedule fire time")
    resume_of: str | None = omitted("run id this run resumes")
    resumable: bool | None = omitted(
        "failed or aborted runs: whether this run stopped at a checkpoint a resume can continue from"
        " (_run?resume=true continues the job's last run only, unless the ingestion was redefined since"
        " or its INCREMENTAL target is gone)"
    )
    last_record: list[Any] | None = omitted("the last indexed row's values, in the query's column order")
    last_record_timestamp: int | None = omitted("epoch ms")
    watermark: Watermark | None = omitted("where the next run of a tracking column reads from")
    partitions: list[PartitionOut] | None = omitted("a partitioned run's key ranges (ingest.partitions)")
    params: dict[str, Any] | None = omitted("given to _run")
    links: dict[str, str] | None = omitted("self, job, ingestion, errors")


class JobEnvelope(_Out):
    """``{"_id", "type", "found", "status"}`` (seed 003); no ``status`` when not found."""

    id: str = Field(alias="_id")
    type: str
    found: bool
    status: JobRunStatus | None = omitted()


class JobTypeCount(_Out):
    name: str
    queued: int
    running: int
    total: int


class JobTypesResult(_Out):
    types: list[JobTypeCount]


class JobListResult(_Out):
    type: str
    jobs: list[JobEnvelope]


class RejectedRowRecord(_Out):
    """One line of a run's errors report."""

    seq: int
    pk: str | None
    field: str | None
    error_type: str
    reason: str
    time: int | None = Field(description="epoch ms")


class JobLogSource(_Out):
    ingestion: JobRunStatus


class JobLogHit(_Out):
    id: str = Field(alias="_id")
    source: JobLogSource = Field(alias="_source")


class JobLogHits(_Out):
    total: int
    hits: list[JobLogHit]


class JobSearchResult(_Out):
    """The job log, newest first, exactly as seed 003."""

    hits: JobLogHits


class JobSearchBody(BaseModel):
    """Body of ``POST /jobs/_search``: the query-string parameters of GET, as JSON values."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["ingestion"] | None = None
    id: str | list[str] | None = Field(None, description="a job id, a comma list or an array")
    state: str | list[str] | None = Field(None, description="a state, a comma list or an array")
    start_time_from: str | int | None = Field(
        None, description="epoch ms, ISO 8601, 20220221 or 20220221T061500; inclusive"
    )
    start_time_to: str | int | None = Field(None, description="as start_time_from; a date alone means its end")
    ended: bool | None = None
    q: str | None = Field(
        None, max_length=MAX_Q_CHARS, description="free text over infos and error (simple query string syntax)"
    )
    sort: str | None = Field(
        None,
        pattern=SORT_PATTERN,
        description="FIELD[:asc|desc]; default create_time:desc",
    )
    from_: int | None = Field(None, alias="from", ge=0, json_schema_extra=_present_not_null)
    size: int | None = Field(None, ge=0, json_schema_extra=_present_not_null)
    start: int | None = Field(None, ge=0, description="alias of from", json_schema_extra=_present_not_null)
    count: int | None = Field(None, ge=0, description="alias of size", json_schema_extra=_present_not_null)


# ---------------------------------------------------------------- operations


class ElasticsearchHealth(_Out):
    reachable: bool
    reason: str | None = omitted("why it is unreachable")
    cluster_status: str | None = omitted()
    distribution: str | None = omitted()
    version: str | None = omitted()
    compatibility_mode: bool | None = omitted()
    took: int | None = omitted("ms")


class WhoAmIResult(_Out):
    """The caller's name and scopes, and the service's auth mode."""

    name: str = Field(description="token name, basic-auth user, or anonymous (auth.mode none)")
    scopes: list[Literal["admin", "job:read", "job:write"]] = Field(description="admin implies the others")
    auth_mode: Literal["none", "token", "basic"]


class HealthReport(_Out):
    """The service's health; the details only for an authenticated caller."""

    status: Literal["green", "red"]
    elasticsearch: ElasticsearchHealth | None = omitted("only for an authenticated caller")
    missing_indices: list[str] | None = omitted("only for an authenticated caller")


ErrorBody.model_rebuild()
