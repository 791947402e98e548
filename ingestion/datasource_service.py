"""Own the datasource use cases: define, read, delete, validate, inspect, sample."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import SQLAlchemyError

from connector.crypto import SecretBox
from connector.datasource import Datasource, DatasourceBody
from connector.datasource_store import DatasourceStore
from connector.doc_store import VersionConflict
from connector.driver_options import policy_of
from connector.errors import Conflict, InvalidDefinition, QueryFailed
from connector.redaction import scrub_for_caller
from connector.settings import SqlSettings
from connector.validation import check_id, parse_model
from ingestion.source import dialects
from ingestion.source.query_template import ParamValue, render
from ingestion.source.sql_lexer import family
from ingestion.source.sql_source import (
    check_unique_columns,
    column_db_types,
    create_sql_engine,
    read_only_session,
    stream_query,
)
from ingestion.source.type_mapping import field_for_db_type, field_for_sqlalchemy_type, infer_properties
from ingestion.source.values import JsonEncoder

WriteResult = Literal["created", "updated"]


class SampleBody(BaseModel):
    """Body of ``POST /datasource/<id>/_sample``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1)
    size: int | None = Field(None, ge=1)
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=100)


@dataclass(frozen=True, slots=True)
class SampleResult:
    columns: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    mapping: dict[str, Any]


class DatasourceService:
    def __init__(
        self,
        store: DatasourceStore,
        box: SecretBox,
        settings: SqlSettings,
        *,
        ingestions_using: Callable[[str], list[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.box = box
        self.settings = settings
        self._ingestions_using = ingestions_using
        self.policy = policy_of(settings)
        self._clock = clock

    def put(self, ds_id: str, body: Any, *, overwrite: bool) -> WriteResult:
        """Create or (with ``overwrite``) replace a datasource definition.

        An update without a password keeps the stored one only while it names
        the same server, database and user: a stored password is never sent
        to a server it was not given for (SPEC §4, §14).
        """
        check_id(ds_id, what="datasource")
        parsed = parse_model(DatasourceBody, body)
        now = int(self._clock() * 1000)
        datasource = Datasource.from_body(ds_id, parsed, self.box, now_ms=now, policy=self.policy)
        existing = self.store.find(ds_id)
        try:
            if existing is None:
                self.store.create(datasource)
                return "created"
            if not overwrite:
                raise Conflict(
                    f"datasource [{ds_id}] already exists; use ?overwrite=true to replace it",
                    error_type="resource_already_exists_exception",
                )
            previous, version = existing
            if (
                datasource.password is None
                and previous.password is not None
                and self._same_endpoint(previous, datasource)
            ):
                datasource = replace(datasource, password=previous.password)
            self.store.replace(version, replace(datasource, created_at=previous.created_at))
            return "updated"
        except VersionConflict as ex:
            raise Conflict(f"datasource [{ds_id}] was changed concurrently; retry") from ex

    def _unsaved(self, ds_id: str, body: Any) -> Datasource:
        check_id(ds_id, what="datasource")
        parsed = parse_model(DatasourceBody, body)
        datasource = Datasource.from_body(ds_id, parsed, self.box, now_ms=0, policy=self.policy)
        existing = self.store.find(ds_id)
        stored = existing[0] if existing is not None else None
        # SPEC §4: the stored password only for the same server and user.
        keep = datasource.password is None and stored is not None and stored.password is not None
        if keep and stored is not None and self._same_endpoint(stored, datasource):
            datasource = replace(datasource, password=stored.password)
        return datasource

    def _same_endpoint(self, previous: Datasource, current: Datasource) -> bool:
        try:
            return previous.endpoint(self.policy) == current.endpoint(self.policy)
        except InvalidDefinition:  # the stored one no longer passes today's rules: nothing to keep
            return False

    def get(self, ds_id: str) -> Datasource:
        return self.store.get(ds_id)

    def page(self, *, from_: int, size: int) -> tuple[int, list[Datasource]]:
        return self.store.page(from_=from_, size=size)

    def delete(self, ds_id: str, *, force: bool) -> None:
        found = self.store.find(ds_id)
        if found is None:
            self.store.get(ds_id)  # raises NotFound
            return
        users = self._ingestions_using(ds_id)
        if users and not force:
            listed = ", ".join(f"[{user}]" for user in users)
            raise Conflict(f"datasource [{ds_id}] is used by ingestions {listed}; delete them first or use ?force=true")
        try:
            self.store.delete(found[1])
        except VersionConflict as ex:
            raise Conflict(f"datasource [{ds_id}] was changed concurrently; retry") from ex

    def validate(self, ds_id: str, body: Any = None) -> dict[str, Any]:
        """Connect, run a trivial query in a read-only session, and report.

        With a body (``{"jdbc": ...}`` or ``{"sql": ...}``, as a form about to be
        saved) that configuration is checked instead, without storing it; the
        id need not exist. A body without a password uses the stored one only
        for the same server and user (SPEC §4).
        """
        datasource = self.store.get(ds_id) if body is None else self._unsaved(ds_id, body)
        started = time.monotonic()
        engine, secrets, _ = self._engine(datasource)
        try:
            with self._session(engine, secrets) as conn:
                conn.execute(text(dialects.trivial_query(conn.dialect.name))).scalar_one()
                version = dialects.server_version(conn)
        finally:
            engine.dispose()
        return {
            "_id": ds_id,
            "valid": True,
            "dialect": engine.dialect.name,
            "server_version": version,
            "took": int((time.monotonic() - started) * 1000),
        }

    def metadata(self, ds_id: str, *, catalog: str | None, schema: str | None, table: str | None) -> dict[str, Any]:
        """List the connected catalog's schemas, or one schema's tables with their columns."""
        datasource = self.store.get(ds_id)
        engine, secrets, _ = self._engine(datasource)
        try:
            with self._session(engine, secrets) as conn:
                current = _current_catalog(conn)
                if catalog not in (None, "", current):
                    raise InvalidDefinition.single(
                        "catalog",
                        "connected_catalog",
                        f"this datasource is connected to catalog [{current}]; define a "
                        "datasource for another catalog to inspect it",
                        entry_type="query_parameter",
                    )
                inspector = sa_inspect(conn)
                schema_names = inspector.get_schema_names()
                if not schema:
                    schemas: list[dict[str, Any]] = [{"name": name} for name in schema_names]
                else:
                    if schema not in schema_names:
                        raise InvalidDefinition.single(
                            "schema",
                            "exists",
                            f"no schema [{schema}] in catalog [{current}]",
                            entry_type="query_parameter",
                        )
                    if conn.dialect.name == "duckdb":
                        found = _duckdb_tables(conn, schema, table)
                    else:
                        found = _tables(inspector, schema, table)
                    schemas = [{"name": schema, "tables": found}]
        except SQLAlchemyError as ex:
            raise QueryFailed(f"cannot read metadata: {scrub_for_caller(str(ex))}") from None
        finally:
            engine.dispose()
        return {
            "_id": ds_id,
            "dialect": engine.dialect.name,
            "catalogs": [{"name": current, "schemas": schemas}],
        }

    def sample(self, ds_id: str, body: Any) -> SampleResult:
        """Run a query read-only and return its first rows and the inferred mapping."""
        parsed = parse_model(SampleBody, body)
        size = parsed.size or self.settings.default_sample_size
        if size > self.settings.sample_max_rows:
            raise InvalidDefinition.single(
                "$.size",
                "maximum",
                f"must be at most {self.settings.sample_max_rows}",
                params=[self.settings.sample_max_rows],
            )
        if len(parsed.query.encode()) > self.settings.max_sql_bytes:
            raise InvalidDefinition.single(
                "$.query",
                "max_length",
                f"must be at most {self.settings.max_sql_bytes} bytes",
                params=[self.settings.max_sql_bytes],
            )
        datasource = self.store.get(ds_id)
        engine, secrets, timezone = self._engine(datasource)
        try:
            rendered = render(
                parsed.query, {**parsed.params, "params": parsed.params}, dialect=family(engine.dialect.name)
            )
            with self._session(engine, secrets) as conn:
                result = stream_query(conn, rendered.sql, rendered.params, batch_size=size)
                columns = list(result.keys())
                db_types = column_db_types(result)
                rows = [tuple(row) for row in result.fetchmany(size)]
                result.close()
        finally:
            engine.dispose()
        check_unique_columns(columns, entry="$.query")
        encoder = JsonEncoder(timezone)
        return SampleResult(
            columns=[
                {"name": c, "db_type": t} for c, t in zip(columns, db_types or [None] * len(columns), strict=True)
            ],
            rows=encoder.plain([dict(zip(columns, row, strict=True)) for row in rows]),
            mapping={"properties": infer_properties(columns, db_types, rows)},
        )

    def _session(self, engine: Engine, secrets: tuple[str, ...]) -> AbstractContextManager[Connection]:
        """A read-only session with the interactive statement timeout."""
        return read_only_session(engine, statement_timeout_s=self.settings.statement_timeout_s, secrets=secrets)

    def _engine(self, datasource: Datasource) -> tuple[Engine, tuple[str, ...], str]:
        """Return an engine, the secrets to scrub from its errors, and the time zone."""
        target = datasource.connection_target(self.box, self.policy)
        secrets = tuple(s for s in (target.url.password,) if s)
        engine = create_sql_engine(target, connect_timeout_s=self.settings.connect_timeout_s)
        return engine, secrets, target.timezone


def _current_catalog(conn: Any) -> str:
    return dialects.current_catalog(conn)


def _duckdb_tables(conn: Connection, schema: str, only: str | None) -> list[dict[str, Any]]:
    tables = [t for t in dialects.duckdb_tables(conn, schema) if not only or t["name"] == only]
    if only and not tables:
        raise InvalidDefinition.single(
            "table", "exists", f"no table or view [{only}] in schema [{schema}]", entry_type="query_parameter"
        )
    for table in tables:
        for column in table["columns"]:
            field = field_for_db_type(dialects.duckdb_type_name(column["type"]))
            column["es_type"] = field["type"] if field else None
    return sorted(tables, key=lambda t: str(t["name"]))


def _tables(inspector: Any, schema: str, only: str | None) -> list[dict[str, Any]]:
    names = [(n, "table") for n in inspector.get_table_names(schema=schema)]
    names += [(n, "view") for n in inspector.get_view_names(schema=schema)]
    if only:
        names = [(n, kind) for n, kind in names if n == only]
        if not names:
            raise InvalidDefinition.single(
                "table",
                "exists",
                f"no table or view [{only}] in schema [{schema}]",
                entry_type="query_parameter",
            )
    tables = []
    for name, kind in sorted(names):
        columns = []
        for column in inspector.get_columns(name, schema=schema):
            field = field_for_sqlalchemy_type(column["type"])
            columns.append(
                {
                    "name": column["name"],
                    "type": _type_name(column["type"]),
                    "nullable": bool(column.get("nullable", True)),
                    "es_type": field["type"] if field else None,
                }
            )
        pk = inspector.get_pk_constraint(name, schema=schema) if kind == "table" else {}
        tables.append(
            {
                "name": name,
                "type": kind,
                "columns": columns,
                "primary_key": list(pk.get("constrained_columns") or []),
            }
        )
    return tables


def _type_name(sa_type: Any) -> str:
    try:
        return str(sa_type)
    except SQLAlchemyError:  # types without a generic SQL rendering
        return type(sa_type).__name__
