"""Own the ingestion definition: request model, validation rules, stored form."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from connector.cron import CronError, Schedule
from connector.datasource import check_timezone
from connector.date_pattern import DatePatternError, check_format
from connector.index_rules import RuleBroken, check_index_name, check_pipeline
from connector.partition_store import MAX_PARTITIONS
from connector.validation import custom_error

Strategy = Literal["REPLACE", "INCREMENTAL"]
TransformName = Literal["geo_point", "concat", "split", "date", "cast"]
CAST_TYPES = ("keyword", "text", "long", "integer", "short", "byte", "double", "float", "boolean", "date")

MAX_BATCH_SIZE = 100_000


def _context(info: ValidationInfo) -> dict[str, Any]:
    """What validation knows of the service: ``index_prefix``, ``allow_scripts``, ``stored``."""
    return info.context if isinstance(info.context, dict) else {}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Credentials(_Strict):
    username: str | None = Field(None, min_length=1, max_length=256)
    password: str | None = Field(None, max_length=1024)


class TransformInput(_Strict):
    """One input of a transform: a column of the query, or a constant."""

    source: str | None = Field(None, min_length=1)
    value: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _one(self) -> TransformInput:
        if (self.source is None) == (self.value is None):
            raise ValueError("give exactly one of source (a column) or value (a constant)")
        return self


class Transform(_Strict):
    input: list[TransformInput] = Field(min_length=1, max_length=50)
    output: str = Field(min_length=1, max_length=256)
    transform: TransformName | None = None
    mapping: dict[str, Any] | None = None
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("mapping")
    @classmethod
    def _scripts(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if value is not None and not _stored(info):
            _check_mapping_scripts(value, allow=bool(_context(info).get("allow_scripts")))
        return value

    @field_validator("params")
    @classmethod
    def _date_format(cls, params: dict[str, str | int | float | bool], info: ValidationInfo) -> dict[str, Any]:
        """Refuse a ``date`` format that no row could match, naming the letter (a stored one still loads)."""
        if info.data.get("transform") != "date" or "format" not in params or _stored(info):
            return params
        try:
            check_format(str(params["format"]))
        except DatePatternError as ex:
            raise custom_error("date_format", ex.reason, within="format", letter=ex.letter) from None
        return params

    @model_validator(mode="after")
    def _arity(self) -> Transform:
        n = len(self.input)
        name = self.transform
        if name == "geo_point" and n != 2:
            raise ValueError("geo_point takes two inputs: latitude, longitude")
        if name in (None, "split", "date", "cast") and n != 1:
            raise ValueError(f"{name or 'a copy'} takes one input")
        known = {"concat": {"separator"}, "split": {"separator"}, "date": {"format"}, "cast": {"type"}}
        extra = set(self.params) - known.get(name or "", set())
        if extra:
            raise ValueError(f"unknown params {sorted(extra)} for {name or 'a copy'}")
        if name == "cast":
            target = self.params.get("type") or (self.mapping or {}).get("type")
            if target not in CAST_TYPES:
                raise ValueError(f"cast needs params.type or mapping.type, one of {', '.join(CAST_TYPES)}")
        if self.mapping is not None and not isinstance(self.mapping.get("type", "object"), str):
            raise ValueError("mapping.type must be a string")
        return self

    @property
    def sources(self) -> list[str]:
        return [i.source for i in self.input if i.source is not None]


SoftValue = str | int | float | bool


class SoftDelete(_Strict):
    """A row whose ``column`` holds one of ``values`` deletes its document (SPEC §10)."""

    column: str = Field(min_length=1, max_length=256)
    values: list[SoftValue] = Field(min_length=1, max_length=100)


class Reconcile(_Strict):
    """Delete documents whose row is gone, comparing the query's keys with the target's (SPEC §10)."""

    max_delete_ratio: float = Field(0.05, ge=0, le=1)
    every_runs: int = Field(1, ge=1, le=100_000)


class Deletes(_Strict):
    soft: SoftDelete | None = None
    reconcile: Reconcile | None = None


# What a resumed run must share with the run it continues: the same rows by the same key, into
# the same index. (The query may be tuned between the two: the rows it returns are the user's.)
_RESUMED_WITH = frozenset(
    {"datasource", "target", "staging_prefix", "strategy", "pk_field", "tracking_column", "partitions"}
)


class IngestBody(_Strict):
    """The ``ingest`` object of ``PUT /_siren/connector/ingestion/<id>`` (SPEC §5, §10)."""

    datasource: str = Field(min_length=1, max_length=128)
    query: str = Field(min_length=1)
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE)
    schedule: str | None = Field(None, max_length=256)
    enable_scheduler: bool | None = None
    enable_schedule: bool | None = None  # synonym used by some Siren examples
    timezone: str | None = None  # of the schedule; default UTC
    target: str = Field(min_length=1)
    staging_prefix: str | None = None
    strategy: Strategy = "REPLACE"
    pk_field: str | None = Field(None, min_length=1, max_length=256)
    mapping: dict[str, Any] | None = None
    pipeline: dict[str, Any] | None = None
    transforms: list[Transform] = Field(default_factory=list)
    ds_credentials: Credentials | None = None
    es_credentials: Credentials | None = None
    description: str | None = Field(None, max_length=4096)
    max_error_ratio: float | None = Field(None, ge=0, le=1)
    count_total: bool = False  # run an exact count(*) for progress instead of the planner estimate
    # Change sync (SPEC §10)
    tracking_column: str | None = Field(None, min_length=1, max_length=256)
    tracking_overlap: float | None = Field(None, ge=0, le=10**12)  # none: 0
    delete: Deletes | None = None
    on_mapping_conflict: Literal["fail", "rebuild"] | None = None  # none: fail
    # Scale (SPEC §15): one run over this many key ranges of pk_field, claimed by any workers.
    partitions: int | None = Field(None, ge=1, le=MAX_PARTITIONS)

    @field_validator("strategy", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str, info: ValidationInfo) -> str:
        if _context(info).get("stored"):  # rules of today are enforced again when a run starts
            return value
        return check_index_name(value, service_prefix=_context(info).get("index_prefix"))

    @field_validator("staging_prefix")
    @classmethod
    def _staging(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or _context(info).get("stored"):
            return value
        return check_index_name(value, service_prefix=_context(info).get("index_prefix"), prefix_only=True)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Checked without the time zone: that never makes an expression valid or not. A stored
        # schedule that a later version refuses still loads, and fires (parsed_schedule).
        if value is None or _stored(info):
            return value
        try:
            Schedule.parse(value)
        except CronError as ex:
            raise custom_error("cron", str(ex), field=ex.field, value=ex.value) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if value is None:
            return None
        properties = value.get("properties", {})
        if not isinstance(properties, dict) or not all(isinstance(v, dict) for v in properties.values()):
            raise ValueError('must be an Elasticsearch mapping: {"properties": {"field": {"type": ...}}}')
        if not _stored(info):
            _check_mapping_scripts(value, allow=bool(_context(info).get("allow_scripts")))
        return value

    @field_validator("pipeline")
    @classmethod
    def _pipeline(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if value is not None and not _context(info).get("stored"):
            try:
                check_pipeline(value, allow_scripts=bool(_context(info).get("allow_scripts")))
            except RuleBroken as ex:
                raise ValueError(f"{ex.path.lstrip('.')}: {ex}" if ex.path else str(ex)) from None
        return value

    @model_validator(mode="after")
    def _rules(self) -> IngestBody:
        if self.strategy == "INCREMENTAL" and not self.pk_field:
            raise ValueError("INCREMENTAL needs pk_field (documents are upserted by it)")
        if self.tracking_column and not self.pk_field:
            raise custom_error(
                "requires",
                "tracking_column needs pk_field: rows are read in (tracking_column, pk_field) order",
                within="tracking_column",
            )
        if self.tracking_column and self.tracking_column == self.pk_field:
            raise custom_error("distinct", "tracking_column must differ from pk_field", within="tracking_column")
        if self.partitions is not None and self.partitions > 1 and not self.pk_field:
            raise custom_error(
                "requires",
                "partitions needs pk_field: a run is split into ranges of its values",
                within="partitions",
            )
        if self.tracking_overlap and not self.tracking_column:
            raise custom_error("requires", "tracking_overlap needs tracking_column", within="tracking_overlap")
        if self.delete is not None and self.delete.reconcile is not None and self.strategy != "INCREMENTAL":
            raise custom_error(
                "strategy",
                "delete.reconcile needs strategy INCREMENTAL (REPLACE rebuilds the index on every run)",
                within="delete.reconcile",
            )
        if self.delete is not None and self.delete.soft is not None and self.delete.soft.column == self.pk_field:
            raise custom_error("distinct", "delete.soft.column must differ from pk_field", within="delete.soft.column")
        if (
            self.enable_scheduler is not None
            and self.enable_schedule is not None
            and self.enable_scheduler != self.enable_schedule
        ):
            raise ValueError("enable_scheduler and enable_schedule disagree; give one")
        if self.scheduler_enabled and not self.schedule:
            raise ValueError("enable_scheduler needs a schedule")
        outputs = [t.output for t in self.transforms]
        duplicates = sorted({o for o in outputs if outputs.count(o) > 1})
        if duplicates:
            raise ValueError(f"several transforms write the same output {duplicates}")
        return self

    def resume_digest(self) -> str:
        """Where a run reads from and writes to, and by which key: a resume must find them unchanged."""
        kept = self.model_dump(mode="json", include=set(_RESUMED_WITH))
        return hashlib.sha256(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]

    @property
    def partitioned(self) -> bool:
        """Whether a run is split into key ranges (``partitions`` above 1)."""
        return self.partitions is not None and self.partitions > 1

    @property
    def scheduler_enabled(self) -> bool:
        return bool(self.enable_scheduler if self.enable_scheduler is not None else self.enable_schedule)

    def parsed_schedule(self) -> Schedule | None:
        """The schedule in its time zone, as the scheduler reads it; None without one.

        Without the field-by-field check, which PUT made: a schedule stored before that check
        keeps the fire times it had. CronError if croniter cannot read it.
        """
        if not self.schedule:
            return None
        return _stored_schedule(self.schedule, self.timezone or "UTC")


@functools.lru_cache(maxsize=1024)
def _stored_schedule(expression: str, timezone: str) -> Schedule:
    """Parsed once per expression: every poll of every scheduler, every ingestion GET reads every schedule."""
    return Schedule.parse(expression, timezone=timezone, check_fields=False)


class PutIngestionBody(_Strict):
    ingest: IngestBody


@dataclass(frozen=True, slots=True)
class Ingestion:
    """A stored ingestion; passwords in ``definition`` are replaced by encrypted tokens."""

    id: str
    definition: IngestBody
    ds_password: str | None = None  # encrypted
    es_password: str | None = None  # encrypted
    # The datasource server ds_password was given for (Datasource.endpoint): it is sent nowhere else.
    ds_endpoint: tuple[str, ...] | None = None
    created_at: int = 0
    updated_at: int = 0

    def public_source(self) -> dict[str, Any]:
        """The definition as GET returns it: the request shape without passwords."""
        body = self._dump()
        if not body.get("transforms"):
            body.pop("transforms", None)
        return {"ingest": body}

    def to_document(self) -> dict[str, Any]:
        definition = self._dump()
        return {
            "id": self.id,
            "datasource": self.definition.datasource,
            "target": self.definition.target,
            "strategy": self.definition.strategy,
            "schedule": self.definition.schedule,
            "enable_scheduler": self.definition.scheduler_enabled,
            "definition": definition,
            "secrets": {
                "ds_password": self.ds_password,
                "es_password": self.es_password,
                "ds_endpoint": list(self.ds_endpoint) if self.ds_endpoint is not None else None,
            },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def _dump(self) -> dict[str, Any]:
        """The definition as JSON values, never with a password (those live encrypted beside it)."""
        body = self.definition.model_dump(exclude_none=True)
        for key in ("ds_credentials", "es_credentials"):
            if key in body:
                body[key].pop("password", None)
        return body

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Ingestion:
        secrets = doc.get("secrets") or {}
        return cls(
            id=doc["id"],
            # Stored definitions were validated when written; a rule added since must not hide them.
            definition=IngestBody.model_validate(doc["definition"], context={"stored": True}),
            ds_password=secrets.get("ds_password"),
            es_password=secrets.get("es_password"),
            ds_endpoint=tuple(secrets["ds_endpoint"]) if secrets.get("ds_endpoint") else None,
            created_at=doc.get("created_at", 0),
            updated_at=doc.get("updated_at", 0),
        )


def _check_mapping_scripts(mapping: Any, *, allow: bool, path: str = "") -> None:
    """Runtime fields and field scripts are Painless, like script processors: only when allowed (SPEC §14)."""
    if allow or not isinstance(mapping, dict):
        return
    for key, value in mapping.items():
        if key in ("runtime", "script"):
            raise ValueError(
                f"{path}{key}: runtime fields and scripts are Painless; they need ingestion.allow_script_processors"
            )
        _check_mapping_scripts(value, allow=allow, path=f"{path}{key}.")


def _stored(info: ValidationInfo) -> bool:
    """Whether a stored definition is being read (validated when it was written)."""
    return bool(_context(info).get("stored"))
