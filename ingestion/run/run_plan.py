"""Own what a run (or a dry run) decides before reading rows.

The datasource connection, the rendered query with its template variables,
the checks of the result columns against the definition, and the mapping of
the target.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from elasticsearch import Elasticsearch

from connector.crypto import SecretBox
from connector.datasource import ConnectionTarget, Datasource
from connector.datasource_store import DatasourceStore
from connector.driver_options import DriverPolicy
from connector.errors import InvalidDefinition
from connector.ingestion_def import IngestBody, Ingestion
from connector.job_state import RunStatus
from ingestion.sink.targets import index_created, max_value, resolve
from ingestion.source.query_template import BUILT_IN_VARIABLES, RenderedQuery, render, variables_used
from ingestion.source.sql_lexer import POSTGRESQL, family
from ingestion.source.sql_source import check_unique_columns
from ingestion.source.type_mapping import infer_properties
from ingestion.source.values import bindable, moment_for

log = logging.getLogger(__name__)


def datasource_connection(
    ingestion: Ingestion, datasources: DatasourceStore, box: SecretBox, policy: DriverPolicy
) -> ConnectionTarget:
    """The datasource's connection, with the ingestion's own credentials when it has them.

    The ingestion's password is only used while the datasource still names
    the server it was given for; otherwise InvalidDefinition asks for it again.
    """
    datasource = datasources.get(ingestion.definition.datasource)
    credentials = ingestion.definition.ds_credentials
    override = None
    if credentials and credentials.username:
        password = None
        if ingestion.ds_password:
            if ingestion.ds_endpoint != datasource_endpoint(datasource, policy):
                raise InvalidDefinition.single(
                    "$.ingest.ds_credentials.password",
                    "endpoint",
                    f"datasource [{datasource.id}] now names another server than the one ds_credentials.password "
                    "was given for; give the password again (PUT the ingestion)",
                )
            password = box.decrypt(ingestion.ds_password)
        override = (credentials.username, password)
    return datasource.connection_target(box, policy, credentials=override)


def datasource_endpoint(datasource: Datasource, policy: DriverPolicy) -> tuple[str, ...]:
    """The server an ingestion's own datasource password is bound to (user aside: ds_credentials has its own)."""
    return datasource.endpoint(policy)[:-1]


def render_query(
    ingestion: Ingestion,
    connection: ConnectionTarget,
    *,
    es: Elasticsearch,
    params: dict[str, Any],
    last_success: RunStatus | None,
) -> RenderedQuery:
    """The ingestion's query with its variables bound (the last successful run's among them)."""
    dialect = family(connection.url.get_backend_name())
    variables = template_variables(
        ingestion.definition,
        es=es,
        params=params,
        last_success=last_success,
        server_binds=dialect == POSTGRESQL,
        timezone=connection.timezone,
    )
    return render(ingestion.definition.query, variables, dialect=dialect, entry="$.ingest.query")


def template_variables(
    definition: IngestBody,
    *,
    es: Elasticsearch,
    params: dict[str, Any],
    last_success: RunStatus | None,
    server_binds: bool = True,
    timezone: str = "UTC",
) -> dict[str, Any]:
    """The values a query template may use, in their database types; only what it refers to is computed.

    ``last_record_timestamp`` is a moment (``timestamptz`` on PostgreSQL, the
    datasource's local time elsewhere); ``last_record.N`` is bound in the
    type of the query's N-th column (SPEC §6).
    """
    used = variables_used(definition.query)
    variables: dict[str, Any] = {k: v for k, v in params.items() if k not in BUILT_IN_VARIABLES}
    variables["params"] = dict(params)
    if "max_primary_key" in used and definition.pk_field:
        variables["max_primary_key"] = max_value(es, definition.target, definition.pk_field)
    if last_success is not None:
        if last_success.last_record_timestamp is not None:
            moment = dt.datetime.fromtimestamp(last_success.last_record_timestamp / 1000, tz=dt.UTC)
            variables["last_record_timestamp"] = moment_for(moment, server_binds=server_binds, timezone=timezone)
        if last_success.last_record is not None:
            types = list(last_success.last_record_types or [])
            types += [None] * (len(last_success.last_record) - len(types))
            variables["last_record"] = [
                bindable(value, db_type, server_binds=server_binds, timezone=timezone)
                for value, db_type in zip(last_success.last_record, types, strict=False)
            ]
    return variables


def check_columns(definition: IngestBody, columns: Sequence[str]) -> None:
    """Refuse a result that cannot feed the definition: duplicates, unknown pk or inputs."""
    check_unique_columns(columns, entry="$.ingest.query")
    available = set(columns)
    if definition.pk_field and definition.pk_field not in available:
        raise InvalidDefinition.single(
            "$.ingest.pk_field",
            "column",
            f"pk_field [{definition.pk_field}] is not a column of the query; columns: {list(columns)}",
        )
    named = [("$.ingest.tracking_column", definition.tracking_column, "tracking_column")]
    if definition.delete is not None and definition.delete.soft is not None:
        named.append(("$.ingest.delete.soft.column", definition.delete.soft.column, "delete.soft.column"))
    for entry, column, what in named:
        if column is not None and column not in available:
            raise InvalidDefinition.single(
                entry, "column", f"{what} [{column}] is not a column of the query; columns: {list(columns)}"
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
    if definition.pk_field and properties.get(definition.pk_field, {}).get("type") == "text":
        # A key is matched and sorted exactly (max_primary_key, reconcile): keyword, not analysed text.
        properties[definition.pk_field] = {"type": "keyword"}
    explicit = definition.mapping or {}
    mapping = {k: v for k, v in explicit.items() if k != "properties"}
    mapping["properties"] = {**properties, **explicit.get("properties", {})}
    return mapping


def target_reloaded(es: Elasticsearch, definition: IngestBody, previous: RunStatus | None) -> bool:
    """Whether an INCREMENTAL target no longer holds what the last successful run left in it: it is gone,
    or its index was created after that run ended (deleted and created again, by hand or by a run that
    then failed). Then a run forgets that success — its watermark and template variables — and reads
    every row (a resume still continues from its own checkpoint)."""
    if definition.strategy != "INCREMENTAL" or previous is None or previous.end_time is None:
        return False
    kind, indices = resolve(es, definition.target)
    if kind == "missing":
        why = "does not exist"
    else:
        created = index_created(es, indices)
        if created is None or created <= previous.end_time:
            return False
        why = f"was created after the last successful run [{previous.run_id}] ended"
    log.warning(
        "ingestion %s: its target [%s] %s; reading every row, not only those after that run",
        previous.id,
        definition.target,
        why,
    )
    return True
