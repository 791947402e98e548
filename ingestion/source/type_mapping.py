"""Own the inference of Elasticsearch field mappings from SQL result columns.

The database's type name decides when the driver reports it (PostgreSQL,
MySQL/MariaDB numeric and temporal types); otherwise the first non-null value
of the column does. A column with neither is left to dynamic mapping.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import types

STRING_FIELD: dict[str, Any] = {
    "type": "text",
    "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
}
_DATE = {"type": "date"}

_BY_DB_TYPE: dict[str, dict[str, Any]] = {
    # PostgreSQL (array types report their element type)
    "int2": {"type": "short"},
    "int4": {"type": "integer"},
    "int8": {"type": "long"},
    "oid": {"type": "long"},
    "float4": {"type": "float"},
    "float8": {"type": "double"},
    "numeric": {"type": "double"},
    "money": {"type": "keyword"},
    "bool": {"type": "boolean"},
    "text": STRING_FIELD,
    "varchar": STRING_FIELD,
    "bpchar": STRING_FIELD,
    "name": STRING_FIELD,
    "citext": STRING_FIELD,
    "xml": {"type": "text"},
    "uuid": {"type": "keyword"},
    "date": _DATE,
    "timestamp": _DATE,
    "timestamptz": _DATE,
    "time": {"type": "keyword"},
    "timetz": {"type": "keyword"},
    "interval": {"type": "keyword"},
    "bytea": {"type": "binary"},
    "inet": {"type": "ip"},
    "cidr": {"type": "keyword"},
    "macaddr": {"type": "keyword"},
    "int4range": {"type": "integer_range"},
    "int8range": {"type": "long_range"},
    "numrange": {"type": "double_range"},
    "tsrange": {"type": "date_range"},
    "tstzrange": {"type": "date_range"},
    "daterange": {"type": "date_range"},
    # MySQL/MariaDB (PyMySQL FIELD_TYPE names); strings and blobs share codes: values decide.
    "mysql:TINY": {"type": "short"},
    "mysql:SHORT": {"type": "integer"},
    "mysql:INT24": {"type": "integer"},
    "mysql:LONG": {"type": "long"},
    "mysql:LONGLONG": {"type": "long"},
    "mysql:YEAR": {"type": "short"},
    "mysql:FLOAT": {"type": "float"},
    "mysql:DOUBLE": {"type": "double"},
    "mysql:DECIMAL": {"type": "double"},
    "mysql:NEWDECIMAL": {"type": "double"},
    "mysql:DATE": _DATE,
    "mysql:NEWDATE": _DATE,
    "mysql:DATETIME": _DATE,
    "mysql:TIMESTAMP": _DATE,
    "mysql:TIME": {"type": "keyword"},
    "mysql:ENUM": {"type": "keyword"},
    "mysql:SET": {"type": "keyword"},
}
# DuckDB (duckdb:<TYPE>, arrays duckdb:<TYPE>[] like PostgreSQL's report their element type).
_DUCKDB_TYPES: dict[str, dict[str, Any]] = {
    "TINYINT": {"type": "short"},
    "SMALLINT": {"type": "short"},
    "UTINYINT": {"type": "short"},
    "USMALLINT": {"type": "integer"},
    "INTEGER": {"type": "integer"},
    "UINTEGER": {"type": "long"},
    "BIGINT": {"type": "long"},
    "UBIGINT": {"type": "double"},  # beyond a long: exact in _source, approximate in the index
    "HUGEINT": {"type": "double"},
    "UHUGEINT": {"type": "double"},
    "FLOAT": {"type": "float"},
    "DOUBLE": {"type": "double"},
    "DECIMAL": {"type": "double"},
    "BOOLEAN": {"type": "boolean"},
    "VARCHAR": STRING_FIELD,
    "DATE": _DATE,
    "TIMESTAMP": _DATE,
    "TIMESTAMP_S": _DATE,
    "TIMESTAMP_MS": _DATE,
    "TIMESTAMP_NS": _DATE,
    "TIMESTAMP WITH TIME ZONE": _DATE,
    "TIME": {"type": "keyword"},
    "TIME WITH TIME ZONE": {"type": "keyword"},
    "INTERVAL": {"type": "keyword"},
    "UUID": {"type": "keyword"},
    "ENUM": {"type": "keyword"},
    "BIT": {"type": "keyword"},
    "BLOB": {"type": "binary"},
    "STRUCT": {"type": "object"},
    "MAP": {"type": "object"},
    "JSON": {"type": "object"},
}
_BY_DB_TYPE.update({f"duckdb:{name}{array}": field for name, field in _DUCKDB_TYPES.items() for array in ("", "[]")})


def field_for_value(value: Any) -> dict[str, Any] | None:
    """Map one Python value (as the driver returns it) to a field mapping."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float | Decimal):
        return {"type": "double"}
    if isinstance(value, str):
        return STRING_FIELD
    if isinstance(value, dt.datetime | dt.date):
        return _DATE
    if isinstance(value, dt.time | dt.timedelta | uuid.UUID):
        return {"type": "keyword"}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "binary"}
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return {"type": "ip"}
    if isinstance(value, list | tuple):
        for item in value:
            if item is not None:
                return field_for_value(item)
        return None
    if isinstance(value, dict):
        return {"type": "object"}
    return None


def field_for_db_type(db_type: str) -> dict[str, Any] | None:
    """The field mapping of a database type name as ``column_db_types`` reports it, if known."""
    field = _BY_DB_TYPE.get(db_type)
    return dict(field) if field is not None else None


def infer_properties(
    columns: Sequence[str], db_types: Sequence[str | None], rows: Sequence[Sequence[Any]]
) -> dict[str, dict[str, Any]]:
    """Infer ``properties`` for the columns from their database types and sample rows."""
    properties: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(columns):
        db_type = db_types[index] if index < len(db_types) else None
        field = _BY_DB_TYPE.get(db_type) if db_type else None
        if field is None:
            for row in rows:
                if row[index] is not None:
                    field = field_for_value(row[index])
                    break
        if field is not None:
            properties[name] = dict(field)
    return properties


def field_for_sqlalchemy_type(sa_type: Any) -> dict[str, Any] | None:
    """Map a reflected SQLAlchemy column type (``_metadata``) to a field mapping."""
    checks: list[tuple[type[Any], dict[str, Any]]] = [
        (types.Boolean, {"type": "boolean"}),
        (types.SmallInteger, {"type": "short"}),
        (types.BigInteger, {"type": "long"}),
        (types.Integer, {"type": "integer"}),
        (types.Float, {"type": "double"}),
        (types.Numeric, {"type": "double"}),
        (types.DateTime, _DATE),
        (types.Date, _DATE),
        (types.Time, {"type": "keyword"}),
        (types.Interval, {"type": "keyword"}),
        (types.Uuid, {"type": "keyword"}),
        (types.Enum, {"type": "keyword"}),
        (types.LargeBinary, {"type": "binary"}),
        (types.JSON, {"type": "object"}),
        (types.String, STRING_FIELD),
    ]
    if isinstance(sa_type, types.ARRAY):
        return field_for_sqlalchemy_type(sa_type.item_type)
    for cls, field in checks:
        if isinstance(sa_type, cls):
            return dict(field)
    return None
