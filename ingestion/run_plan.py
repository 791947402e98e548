"""Own what a run (or a dry run) decides before reading rows.

Template variables, the checks of the result columns against the definition,
and the mapping of the target.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from elasticsearch import Elasticsearch

from connector.errors import InvalidDefinition
from connector.ingestion_def import IngestBody
from connector.job_state import RunStatus
from ingestion.query_template import variables_used
from ingestion.targets import max_value
from ingestion.type_mapping import infer_properties

BUILT_IN_VARIABLES = ("max_primary_key", "last_record_timestamp", "last_record", "params")


def template_variables(
    definition: IngestBody,
    *,
    es: Elasticsearch,
    params: dict[str, Any],
    last_success: RunStatus | None,
) -> dict[str, Any]:
    """The values a query template may use; only what it refers to is computed."""
    used = variables_used(definition.query)
    variables: dict[str, Any] = {k: v for k, v in params.items() if k not in BUILT_IN_VARIABLES}
    variables["params"] = dict(params)
    if "max_primary_key" in used and definition.pk_field:
        variables["max_primary_key"] = max_value(es, definition.target, definition.pk_field)
    if last_success is not None:
        if last_success.last_record_timestamp is not None:
            variables["last_record_timestamp"] = _iso_utc(last_success.last_record_timestamp)
        if last_success.last_record is not None:
            variables["last_record"] = list(last_success.last_record)
    return variables


def _iso_utc(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).isoformat()


def check_columns(definition: IngestBody, columns: Sequence[str]) -> None:
    """Refuse a result that cannot feed the definition: duplicates, unknown pk or inputs."""
    seen: set[str] = set()
    duplicates = sorted({c for c in columns if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if duplicates:
        raise InvalidDefinition.single(
            "$.ingest.query",
            "unique_columns",
            f"the query returns several columns named {duplicates}; give them aliases",
        )
    available = set(columns)
    if definition.pk_field and definition.pk_field not in available:
        raise InvalidDefinition.single(
            "$.ingest.pk_field",
            "column",
            f"pk_field [{definition.pk_field}] is not a column of the query; columns: {list(columns)}",
        )
    for index, transform in enumerate(definition.transforms):
        missing = [s for s in transform.sources if s not in available]
        if missing:
            raise InvalidDefinition.single(
                f"$.ingest.transforms[{index}].input",
                "column",
                f"{missing} not among the query's columns {list(columns)}",
            )


def target_mapping(
    definition: IngestBody, columns: Sequence[str], db_types: Sequence[str | None], rows: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    """The mapping for a new target: inferred, then transforms', then the explicit one wins."""
    properties = infer_properties(columns, db_types, rows)
    for transform in definition.transforms:
        if transform.mapping:
            properties[transform.output] = dict(transform.mapping)
        elif transform.transform == "geo_point":
            properties[transform.output] = {"type": "geo_point"}
        elif transform.transform == "date":
            properties[transform.output] = {"type": "date"}
    explicit = definition.mapping or {}
    mapping = {k: v for k, v in explicit.items() if k != "properties"}
    mapping["properties"] = {**properties, **explicit.get("properties", {})}
    return mapping
