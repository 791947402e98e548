"""Own MariaDB's server-side rendering: each row arrives as its bulk item, already JSON.

The PostgreSQL counterpart is ``sql_json.py``. When every column of a result
has a type MariaDB can write exactly as the Python path writes the value
PyMySQL returns (``values.py``, byte for byte), the rendering query returns
per row one binary string: the ``index`` action line, a newline and the
document. PyMySQL then parses one field per row instead of converting every
column (its per-field work is what limits the Python path), and the JSON
work runs in the database server, a process of its own.

Renderings, matching the Python path: integers and YEAR as numbers; DECIMAL
as its text (``str(Decimal)``'s exponent form below 1e-6 when the scale is
above 6); DOUBLE and FLOAT as orjson writes the double PyMySQL parses
(decimal notation from 1e-5 to 1e16 with ``.0`` when integral, else
``1e+16``/``1.5e-7``); DATE as its text; DATETIME and TIMESTAMP as ISO 8601
with the datasource offset (only for zones with one fixed offset: others
take the Python path), the ones Python cannot read (zero dates) as their
text; TIME as ``[-]HH:MM:SS[.ffffff]``; text as a JSON string
(``JSON_QUOTE``, whose upper-case ``\\u001F`` escapes the builder writes in
lower case); binary strings and BIT in base64; NULL as null. Anything else
(JSON and GEOMETRY types, MySQL rather than MariaDB, a connection charset
other than utf8mb4, a key that is neither an integer nor text): the Python
path.

Each row's line is one of: the bulk item; when the key cannot be an id, a
marker line and the document, ``\\0N\\n{...}`` (NULL key) or
``\\0K"key"\\n{...}`` (empty or too long, JSON-quoted), so that the row is
rejected as the Python path rejects it and its values still count for the
mapping; or NULL when the item is larger than ``max_allowed_packet``
(MariaDB returns NULL for such a CONCAT), which stops the run with a
message naming the switch to the Python path.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pymysql.constants import FIELD_TYPE
from sqlalchemy import Connection

from connector.ingestion_def import Transform
from ingestion.sink.documents import MAX_ID_BYTES
from ingestion.source.query_template import RenderedQuery
from ingestion.source.read_order import ReadOrder
from ingestion.source.sql_lexer import family
from ingestion.source.values import UTC_ZONES

BINARY_CHARSET = 63  # the charset number MySQL gives binary strings, BLOBs and BIT
FIELD_NAMES: dict[int, str] = {v: k for k, v in vars(FIELD_TYPE).items() if isinstance(v, int)}  # as db_types name them


def mysql_type_name(code: Any) -> str:
    """A MySQL column type as db_types name it: ``mysql:VARCHAR``."""
    return f"mysql:{FIELD_NAMES.get(code, '?')}"


INTEGER_TYPES = frozenset({FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG})
STRING_TYPES = frozenset(
    {
        FIELD_TYPE.VARCHAR,
        FIELD_TYPE.VAR_STRING,
        FIELD_TYPE.STRING,
        FIELD_TYPE.TINY_BLOB,
        FIELD_TYPE.MEDIUM_BLOB,
        FIELD_TYPE.LONG_BLOB,
        FIELD_TYPE.BLOB,
        FIELD_TYPE.ENUM,
        FIELD_TYPE.SET,
    }
)


def _lit(text: str | bytes) -> str:
    """A binary string literal: no quoting, escaping or colon for SQLAlchemy to read."""
    data = text.encode() if isinstance(text, str) else text
    return f"X'{binascii.hexlify(data).decode()}'"


# str(Decimal) switches to exponent form below 1e-6, which only a scale above 6 can reach.
_DECIMAL_PLAIN_SCALE = 6
_QUERY = "connector_query"
PLACEHOLDER = "X'00'"
_INT_ACTION_HEAD = _lit('{"index":{"_id":"')
_INT_ACTION_TAIL = _lit('"}}\n')
_TEXT_ACTION_HEAD = _lit('{"index":{"_id":')
_TEXT_ACTION_TAIL = _lit("}}\n")
_NULL_KEY = _lit("\0N\n")  # markers: a line the builder rejects (line_builder)
_BAD_KEY = _lit("\0K")


@dataclass(frozen=True, slots=True)
class MysqlField:
    """What the rendering needs to know of a result column (PyMySQL's field descriptor)."""

    name: str
    type_code: int
    charsetnr: int
    flags: int
    scale: int

    @property
    def binary(self) -> bool:
        return self.charsetnr == BINARY_CHARSET


@dataclass(frozen=True, slots=True)
class RenderedLines:
    """The rendering query; its columns: the line, then the raw values of ``inputs``.

    ``inputs`` are the sources of the transforms (all run in Python), the
    query columns a transform output replaces in the document (``replaced``,
    each a NUL placeholder in the line), so that a row's values can be read
    back in the query's column order, and the tracking column of ``order``. ``key_is_int`` says how the checkpoint
    is read back from the id. ``binary`` are the document columns written in
    base64 (bytes on the Python path).
    """

    query: RenderedQuery
    columns: tuple[str, ...]
    doc_columns: tuple[str, ...]
    replaced: tuple[str, ...]
    inputs: tuple[str, ...]
    input_types: tuple[str, ...]
    binary: frozenset[str]
    keyed: bool
    key_is_int: bool
    order: tuple[str, ...] = ()  # the read order's columns: the key last


def fields_of(cursor: Any) -> list[MysqlField] | None:
    """The field descriptors of an executed PyMySQL cursor, or None if it does not show them."""
    fields = getattr(getattr(cursor, "_result", None), "fields", None)
    if not fields:
        return None
    return [MysqlField(f.name, f.type_code, f.charsetnr, f.flags, f.scale) for f in fields]


def fixed_offset(timezone: str) -> str | None:
    """The ``+HH:MM`` of a zone whose offset never changes, or None (its DATETIMEs take the Python path)."""
    if timezone in UTC_ZONES:
        return "+00:00"
    hours = timezone.removeprefix("Etc/GMT")
    if hours != timezone and hours[:1] in ("+", "-") and hours[1:].isdigit():
        offset = -int(hours)  # POSIX style: Etc/GMT-2 is two hours ahead of UTC
        return f"{'+' if offset >= 0 else '-'}{abs(offset):02d}:00"
    return None


def double_json(v: str) -> str:
    """SQL writing the JSON number orjson writes for the double MariaDB sends as text for ``v`` (not NULL).

    Both write the shortest digits that read back as the double; they differ
    in notation. orjson: decimal from 1e-5 to below 1e16, ``.0`` when
    integral, else ``d[.ddd]e+x``/``e-x``. MariaDB: decimal down to about
    1e-7, ``1e15``-style from about 1e15 up. The first branch is the common
    case; the others rewrite MariaDB's text (checked on thousands of doubles
    against orjson in ``tests/integration/test_mysql_rendering.py``).
    """
    t = f"CAST({v} AS CHAR)"
    a = f"ABS({v})"
    sign = f"IF({v} < 0, '-', '')"
    mantissa = f"SUBSTRING_INDEX({t}, 'e', 1)"
    exponent = f"CAST(SUBSTRING_INDEX({t}, 'e', -1) AS SIGNED)"
    digits = f"REPLACE(REPLACE({mantissa}, '-', ''), '.', '')"
    # "1.5e15" -> "1500000000000000.0", "1.2345678901234568e15" -> "1234567890123456.8"
    widened = (
        f"CONCAT({sign}, IF(LENGTH({digits}) <= {exponent} + 1, CONCAT(RPAD({digits}, {exponent} + 1, '0'), '.0'),"
        f" CONCAT(LEFT({digits}, {exponent} + 1), '.', SUBSTRING({digits}, {exponent} + 2))))"
    )
    # "0.0000015" -> "1.5e-6"
    fraction = f"SUBSTRING_INDEX({t}, '.', -1)"
    significant = f"TRIM(LEADING '0' FROM {fraction})"
    narrowed = (
        f"CONCAT({sign}, LEFT({significant}, 1),"
        f" IF(LENGTH({significant}) > 1, CONCAT('.', SUBSTRING({significant}, 2)), ''),"
        f" 'e-', LENGTH({fraction}) - LENGTH({significant}) + 1)"
    )
    return (
        f"CASE WHEN {a} >= 1e-5 AND {a} < 1e15 THEN IF({v} = FLOOR({v}), CONCAT({v}, '.0'), {v})"
        f" WHEN {v} = 0 THEN IF(LEFT({t}, 1) = '-', '-0.0', '0.0')"
        f" WHEN LOCATE('e', {t}) = 0 THEN IF({a} < 1e-5, {narrowed}, IF(LOCATE('.', {t}), {t}, CONCAT({t}, '.0')))"
        f" WHEN {a} >= 1e16 THEN CONCAT({mantissa}, 'e', IF({exponent} > 0, '+', ''), {exponent})"
        f" WHEN {a} >= 1e-5 THEN {widened}"
        f" ELSE {t} END"
    )


def decimal_json(v: str, scale: int) -> str:
    """SQL writing ``str(Decimal(text))`` for a DECIMAL of ``scale`` (the text PyMySQL reads)."""
    if scale <= _DECIMAL_PLAIN_SCALE:
        return v
    digits = f"TRIM(LEADING '0' FROM SUBSTRING(CAST(ABS({v}) AS CHAR), 3))"  # after "0."
    exponent = f"LENGTH({digits}) - 1 - {scale}"
    tiny = (
        f"CONCAT(IF({v} < 0, '-', ''), LEFT({digits}, 1),"
        f" IF(LENGTH({digits}) > 1, CONCAT('.', SUBSTRING({digits}, 2)), ''), 'E', {exponent})"
    )
    return f"CASE WHEN ABS({v}) >= 0.000001 THEN {v} WHEN {v} = 0 THEN '0E-{scale}' ELSE {tiny} END"


def _quoted(expression: str) -> str:
    return f"CONCAT('\"', {expression}, '\"')"


def _moment(v: str, scale: int, offset: str) -> str:
    """DATETIME/TIMESTAMP as ``isoformat()`` of the naive datetime in a fixed-offset zone; zero dates as text."""
    text = f"CAST({v} AS CHAR)"
    iso = f"REPLACE({text}, ' ', 'T')" if scale == 0 else f"REPLACE(LEFT({text}, 19), ' ', 'T')"
    if scale:
        iso = f"CONCAT({iso}, IF(MICROSECOND({v}) = 0, '', CONCAT('.', LPAD(MICROSECOND({v}), 6, '0'))))"
    # PyMySQL returns what datetime() refuses as the text (year 0, month 0, day 0, 30 February).
    invalid = f"{v} < '0001-01-01' OR {v} + INTERVAL 0 SECOND IS NULL"
    return f"IF({invalid}, {_quoted(text)}, CONCAT('\"', {iso}, {_lit(offset + chr(34))}))"


def _clock(v: str, scale: int) -> str:
    """TIME as ``values.mysql_time``: ``[-]HH:MM:SS`` and ``.ffffff`` when there is a fraction."""
    text = f"CAST({v} AS CHAR)"
    if scale == 0:
        return _quoted(text)
    whole = f"SUBSTRING_INDEX({text}, '.', 1)"
    return _quoted(f"{whole}, IF(MICROSECOND({v}) = 0, '', CONCAT('.', LPAD(MICROSECOND({v}), 6, '0')))")


def value_json(v: str, field: MysqlField, *, offset: str | None) -> str | None:
    """SQL writing a non-NULL value of ``field`` as the Python path writes it, or None if only Python can."""
    code = field.type_code
    if code in INTEGER_TYPES:
        return v
    if code == FIELD_TYPE.YEAR:
        return f"({v} + 0)"  # YEAR 0 is "0000" as text
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        return decimal_json(v, field.scale)
    if code == FIELD_TYPE.DOUBLE:
        return double_json(v)
    if code == FIELD_TYPE.FLOAT:
        return double_json(f"CAST(CAST({v} AS CHAR) AS DOUBLE)")  # the text PyMySQL reads, not the widened value
    if code in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
        return _quoted(f"CAST({v} AS CHAR)")
    if code in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP):
        return _moment(v, field.scale, offset) if offset is not None else None
    if code == FIELD_TYPE.TIME:
        return _clock(v, field.scale)
    if code == FIELD_TYPE.BIT or (code in STRING_TYPES and field.binary):
        return _quoted(f"REPLACE(TO_BASE64({v}), CHAR(10), '')")  # TO_BASE64 breaks lines every 76 characters
    if code in STRING_TYPES:
        return f"JSON_QUOTE(CONVERT({v} USING utf8mb4))"
    if code == FIELD_TYPE.NULL:
        return "'null'"
    return None


def _member(v: str, field: MysqlField, offset: str | None) -> str | None:
    value = value_json(v, field, offset=offset)
    if value is None or field.type_code == FIELD_TYPE.NULL:
        return value
    # Even for a NOT NULL column: one NULL would make the whole CONCAT NULL, which means "too large".
    return f"IFNULL({value}, 'null')"


def render_lines(
    conn: Connection,
    query: RenderedQuery,
    fields: Sequence[MysqlField],
    *,
    order: ReadOrder | None,
    transforms: Sequence[Transform],
    timezone: str,
    soft_column: str | None = None,
) -> RenderedLines | None:
    """The rendering query for this result, or None when a column or the session needs the Python path.

    ``order`` (``read_order``) is the key, or the tracking column and the key;
    the tracking column's value comes raw after the line (the batch's last
    position is a checkpoint). A soft-delete rule takes the Python path.
    """
    raw: Any = conn.connection.dbapi_connection
    if not getattr(conn.dialect, "is_mariadb", False) or getattr(raw, "charset", None) != "utf8mb4":
        return None
    if soft_column is not None:
        return None
    pk_field = order.key if order is not None else None
    tracking = order.columns[:-1] if order is not None else ()
    outputs = {t.output for t in transforms}
    if any(
        source in {t.output for t in transforms[:i]} for i, later in enumerate(transforms) for source in later.sources
    ):
        return None  # a transform reading an earlier one's output: the Python path applies them in order
    quote: Callable[[str], str] = conn.dialect.identifier_preparer.quote
    offset = fixed_offset(timezone)
    columns = [f.name for f in fields]
    by_name = {f.name: f for f in fields}
    if len(by_name) != len(fields) or any(c not in by_name for c in (order.columns if order is not None else ())):
        return None  # refused with the Python path's own error (check_columns, the keyset query)
    if any(source not in by_name for t in transforms for source in t.sources):
        return None
    members: list[str] = []
    first = True
    for field in fields:
        # A column a transform output replaces keeps its place (a dict key's, on the Python path): a NUL
        # there, which JSON text never holds raw, marks where the builder writes the output.
        value = PLACEHOLDER if field.name in outputs else _member(f"{_QUERY}.{quote(field.name)}", field, offset)
        if value is None:
            return None
        members.append(_lit(("{" if first else ",") + orjson.dumps(field.name).decode() + ":"))
        members.append(value)
        first = False
    members.append(_lit("}" if not first else "{}"))
    document = f"CONCAT({', '.join(members)})"
    params = dict(query.params)
    where = ordering = ""
    key_is_int = False
    if pk_field is not None:
        key_field = by_name[pk_field]
        key = f"{_QUERY}.{quote(pk_field)}"
        if key_field.type_code in INTEGER_TYPES:
            key_is_int = True
            head = f"IF({key} IS NULL, {_NULL_KEY}, CONCAT({_INT_ACTION_HEAD}, {key}, {_INT_ACTION_TAIL}))"
            line = f"CONCAT({head}, {document})"
        elif key_field.type_code in STRING_TYPES and not key_field.binary:
            text = f"CONVERT({key} USING utf8mb4)"
            action = f"{_TEXT_ACTION_HEAD}, JSON_QUOTE({text}), {_TEXT_ACTION_TAIL}"
            head = (
                f"CASE WHEN {key} IS NULL THEN {_NULL_KEY} WHEN LENGTH({text}) = 0 OR LENGTH({text}) > {MAX_ID_BYTES}"
                f" THEN CONCAT({_BAD_KEY}, JSON_QUOTE({text}), X'0a') ELSE CONCAT({action}) END"
            )
            line = f"CONCAT({head}, {document})"
        else:
            return None
    else:
        line = document
    if order is not None:
        where, ordering, bounds = order.clause(_QUERY, quote, family(conn.dialect.name))
        params.update(bounds)
    replaced = [c for c in columns if c in outputs]
    inputs = list(dict.fromkeys([*(s for t in transforms for s in t.sources), *replaced, *tracking]))
    selected = [f"CAST({line} AS BINARY) AS connector_line"]
    selected += [f"{_QUERY}.{quote(name)} AS {quote(f'connector_in_{i}')}" for i, name in enumerate(inputs)]
    sql = f"SELECT {', '.join(selected)} FROM ({query.inner}) AS {_QUERY}{where}{ordering}"
    return RenderedLines(
        query=RenderedQuery(sql, params),
        columns=tuple(columns),
        doc_columns=tuple(c for c in columns if c not in outputs),
        replaced=tuple(replaced),
        inputs=tuple(inputs),
        input_types=tuple(mysql_type_name(by_name[n].type_code) for n in inputs),
        binary=frozenset(f.name for f in fields if f.binary and f.type_code in (*STRING_TYPES, FIELD_TYPE.BIT)),
        keyed=pk_field is not None,
        key_is_int=key_is_int,
        order=order.columns if order is not None else (),
    )
