"""Own server-side rendering: PostgreSQL writes each row's bulk lines itself.

When every column of a result has a type PostgreSQL can render exactly as
the Python path does (``values.py``), the runner asks it, per row, for the
``index`` action line and the document as JSON text, plus the key and the
inputs of transforms as values. The per-row Python work shrinks to encoding
two strings, and the JSON work runs in the database backend, a process of
its own: the two cores work in parallel.

Renderings, matching ``values.py``: numbers, text, booleans, UUIDs, dates,
times, arrays of those and JSON as PostgreSQL's ``to_json`` writes them;
float and numeric NaN/±Infinity as null; ``timestamp`` read in the
datasource time zone (``AT TIME ZONE``) and every timestamp written with
its offset (session ``TimeZone`` = the datasource time zone); intervals in
ISO 8601 (session ``IntervalStyle = iso_8601``); ``bytea`` as base64. Any
other column type (ranges, network types, money, user types), a key type
without a canonical text here, or a non-PostgreSQL database: the Python path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from connector.ingestion_def import Transform
from ingestion.source.query_template import RenderedQuery
from ingestion.source.read_order import ReadOrder
from ingestion.source.sql_lexer import POSTGRESQL

_AS_IS = frozenset(
    {
        "int2",
        "int4",
        "int8",
        "oid",
        "bool",
        "text",
        "varchar",
        "bpchar",
        "name",
        "citext",
        "uuid",
        "json",
        "jsonb",
        "date",
        "time",
    }
)
_ARRAY_ELEMENTS = frozenset({"int2", "int4", "int8", "bool", "text", "varchar", "bpchar", "uuid"})
_FLOATS = frozenset({"float4", "float8"})
# Canonical document id text of a key type (documents.encode_id): int -> str, numeric -> normalized.
_KEY_TEXT = {
    "int2": "{c}::text",
    "int4": "{c}::text",
    "int8": "{c}::text",
    "text": "{c}",
    "varchar": "{c}",
    "uuid": "{c}::text",
    "numeric": "CASE WHEN {c} = 0 THEN '0' ELSE trim_scale({c})::text END",
}


@dataclass(frozen=True, slots=True)
class RenderedSql:
    """The rendering query; its columns: action, document, key value, key text, then the inputs.

    ``python_transforms`` are the indices of the transforms left to Python
    (their ``inputs`` are fetched as values); the others are rendered in SQL.
    ``inputs`` also holds the query's columns that a transform output
    replaces in the document, so that a row's values can be read back in
    the query's column order (``columns``: ``last_record``, mapping samples).
    """

    query: RenderedQuery
    inputs: tuple[str, ...]
    doc_columns: tuple[str, ...]
    python_transforms: tuple[int, ...]
    columns: tuple[str, ...] = ()


_NUMBERS = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric"})
# Aliases of the user's query and of the document row: names no user column is likely to have,
# since an unqualified column of the same name would be ambiguous (row_to_json(x) with a column x).
_QUERY = "connector_query"
_DOC = "connector_document"


def transform_expression(
    transform: Transform, types: dict[str, tuple[str | None, bool]], quote: Callable[[str], str]
) -> str | None:
    """SQL for a transform PostgreSQL computes exactly like ``transforms.py``, or None (Python does it).

    Only geo_point of two numeric columns: the same object, null when a
    coordinate is null or not finite; a point out of range is refused by
    Elasticsearch's geo_point mapping, so that row is still rejected (by the
    bulk response). Measured on the benchmark (geo_point alone, 2026-11-22):
    117k rows/s with it in SQL as below, 100k with json_build_object, 115k in
    Python at twice the worker's CPU. Dates stay in Python: each member added
    to ``row_to_json`` costs PostgreSQL about 1 µs a row (PostgreSQL 15 looks
    up the type of every member of every row), so even a date that SQL only
    rearranges (checked in Python) ran slower (100k) than the Python path,
    where a batch of ISO-shaped dates is checked at once (``transforms.py``).
    """
    sources = transform.sources
    if transform.transform != "geo_point" or len(sources) != 2 or len(transform.input) != 2:
        return None
    if not all(types.get(s, (None, True))[0] in _NUMBERS and not types[s][1] for s in sources):
        return None
    lat, lon = (_as_float8(f"{_QUERY}.{quote(source)}", types[source][0]) for source in sources)
    # x - x = 0 only for a finite x (NULL, NaN and ±Infinity give NULL or NaN). The object is
    # written as text (float8's text is what to_json writes): json_build_object costs more.
    point = f"""('{{"lat":' || {lat} || ',"lon":' || {lon} || '}}')::json"""
    return f"CASE WHEN {lat} - {lat} = 0 AND {lon} - {lon} = 0 THEN {point} END"


def _as_float8(column: str, pg_type: str | None) -> str:
    """``column`` as the float8 Python reads (psycopg: the column's text), never failing the query."""
    if pg_type == "float4":
        return f"{column}::text::float8"  # 0.1, not the widened 0.10000000149011612
    if pg_type == "numeric":  # beyond float8's range the cast fails: null, as Python's float() gives inf
        return f"(CASE WHEN abs({column}) <= 1.7976931348623157e308 THEN {column}::float8 END)"
    return f"{column}::float8"


def column_expression(column: str, pg_type: str | None, is_array: bool) -> str | None:
    """SQL rendering one column like the Python path does, or None if only Python can."""
    if pg_type is None:
        return None
    if is_array:
        return column if pg_type in _ARRAY_ELEMENTS else None
    if pg_type in _AS_IS:
        return column
    if pg_type in _FLOATS:
        return f"CASE WHEN {column} IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE {column} END"  # float4 as float4
    if pg_type == "numeric":
        return f"CASE WHEN {column}::text IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE {column} END"
    if pg_type == "timestamptz":
        return column
    if pg_type == "timestamp":
        return f"({column} AT TIME ZONE :connector_tz)"
    if pg_type == "interval":
        return column
    if pg_type == "bytea":
        return f"replace(encode({column}, 'base64'), E'\\n', '')"
    return None


def render_sql(
    conn: Connection,
    query: RenderedQuery,
    columns: Sequence[str],
    pg_types: Sequence[tuple[str | None, bool]],
    *,
    order: ReadOrder | None,
    transforms: Sequence[Transform],
    timezone: str,
    soft_column: str | None = None,
) -> RenderedSql | None:
    """The rendering query for this result, or None when a column needs the Python path.

    The soft-delete column is read as a value and left out of the document;
    the order's columns other than the key (the tracking column) are read as
    values too, for the checkpoint.
    """
    if conn.dialect.name != "postgresql" or len(columns) != len(pg_types):
        return None
    quote = conn.dialect.identifier_preparer.quote
    pk_field = order.key if order is not None else None
    excluded = {t.output for t in transforms}  # a transform output replaces a column of that name
    if soft_column is not None:
        excluded.add(soft_column)
    doc_parts = []
    for name, (pg_type, is_array) in zip(columns, pg_types, strict=True):
        if name in excluded:
            continue
        expression = column_expression(f"{_QUERY}.{quote(name)}", pg_type, is_array)
        if expression is None:
            return None
        doc_parts.append(f"{expression} AS {quote(name)}")
    types = dict(zip(columns, pg_types, strict=True))
    python_transforms = []
    for index, transform in enumerate(transforms):
        expression = transform_expression(transform, types, quote)
        if expression is None:
            python_transforms.append(index)
        else:
            doc_parts.append(f"{expression} AS {quote(transform.output)}")
    replaced = [c for c in columns if c in excluded]
    tracking = list(order.columns[:-1]) if order is not None else []
    sources = (s for i in python_transforms for s in transforms[i].sources)
    inputs = list(dict.fromkeys([*sources, *replaced, *tracking]))
    if pk_field is not None:
        key_type, key_is_array = types[pk_field]
        key_template = _KEY_TEXT.get(key_type or "") if not key_is_array else None
        if key_template is None:
            return None
        key = f"{_QUERY}.{quote(pk_field)}"
        key_text = key_template.format(c=key)
    else:
        key = key_text = "NULL"
    params = dict(query.params)
    if any(":connector_tz" in part for part in doc_parts):
        params["connector_tz"] = timezone
    where = order_by = ""
    if order is not None:
        where, order_by, order_params = order.clause(_QUERY, quote, POSTGRESQL)
        params.update(order_params)
    document = f"row_to_json({_DOC})::text" if doc_parts else "'{}'"
    lateral = f", LATERAL (SELECT {', '.join(doc_parts)}) AS {_DOC}" if doc_parts else ""
    action = f"""'{{"index":{{"_id":' || to_json({key_text})::text || '}}}}'""" if pk_field else "NULL"
    selected = [
        f"{action} AS connector_action",
        f"{document} AS connector_doc",
        f"{key} AS connector_key",
        f"{key_text} AS connector_key_text",
    ]
    selected += [f"{_QUERY}.{quote(name)} AS {quote(f'connector_in_{i}')}" for i, name in enumerate(inputs)]
    sql = f"SELECT {', '.join(selected)} FROM ({query.inner}) AS {_QUERY}{lateral}{where}{order_by}"
    doc_columns = tuple(c for c in columns if c not in excluded)
    return RenderedSql(RenderedQuery(sql, params), tuple(inputs), doc_columns, tuple(python_transforms), tuple(columns))


def prepare_session(conn: Connection) -> None:
    """Session settings the renderings rely on, for this transaction (TimeZone is set by the session)."""
    conn.exec_driver_sql("SET LOCAL IntervalStyle = 'iso_8601'")
