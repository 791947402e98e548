"""Own the per-row transforms of an ingestion (SPEC §5 ``transforms``).

Each transform reads its inputs (columns or constants) and writes ``output``;
inputs are kept (a transform copies, it does not move). Functions:

- none: copy, cast by ``mapping.type`` when given;
- ``geo_point`` (lat, lon) → ``{"lat", "lon"}``;
- ``concat`` (inputs...) → text joined by ``params.separator`` (default "");
- ``split`` (text) → list split on ``params.separator`` (default ","), trimmed;
- ``date`` (text) → ISO 8601, parsed with ``params.format`` (Java pattern such as
  ``yyyy-MM-dd HH:mm:ss``, read as Java reads it: ``connector/date_pattern.py``;
  or a strptime pattern with ``%``), read in the datasource time zone when the
  text has none;
- ``cast`` → ``params.type`` (or ``mapping.type``).

A value a transform cannot handle rejects the row with the output as field.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import math
import operator
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.date_pattern import DatePatternError, check_format, compile_pattern
from connector.ingestion_def import Transform
from ingestion.source.values import UTC_ZONES

Row = dict[str, Any]

_INTEGER_TYPES = ("long", "integer", "short", "byte")


class TransformError(ValueError):
    """A row's value cannot be transformed; the row is rejected."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def date_parser(date_format: str) -> Callable[[str], dt.datetime]:
    """The parser of a ``date`` format: strptime if it has a ``%``, else a Java pattern (``date_pattern.py``).

    DatePatternError if the format cannot be used. For ISO-shaped formats, a text of the exact
    shape is read by ``datetime.fromisoformat`` (~10x faster; the same result for such a text).
    """
    general: Callable[[str], dt.datetime]
    if "%" in date_format:
        check_format(date_format)
        general = functools.partial(_strptime, date_format=date_format)
    else:
        general = compile_pattern(date_format).parse
    key = _iso_key(date_format)
    if key is None:
        return general
    length, chars_at, chars, _ = _ISO_SHAPES[key]
    iso = dt.datetime.fromisoformat

    def parse(text: str) -> dt.datetime:
        if len(text) == length and chars_at(text) == chars and text.isascii():
            try:
                return iso(text)
            except ValueError:
                pass  # the general parser says why
        return general(text)

    return parse


def _strptime(text: str, *, date_format: str) -> dt.datetime:
    return dt.datetime.strptime(text, date_format)


@dataclass(frozen=True, slots=True)
class CompiledTransform:
    output: str
    apply: Callable[[Any], Any]  # a row dict, or a row tuple when compiled with positions


def compile_transforms(
    transforms: list[Transform], *, timezone: str, positions: dict[str, int] | None = None
) -> list[CompiledTransform]:
    """Prepare the transforms once per run.

    By default ``apply`` reads a row dict by column name; with ``positions``
    it reads a row tuple by index instead (the rendered path: no dict per row).
    """
    zone = zoneinfo.ZoneInfo(timezone)
    return [CompiledTransform(t.output, _compile(t, zone, positions)) for t in transforms]


def apply_transforms(row: Row, transforms: list[CompiledTransform]) -> None:
    """Add each transform's output to ``row``; TransformError rejects the row."""
    for transform in transforms:
        row[transform.output] = transform.apply(row)


def _getter(transform: Transform, positions: dict[str, int] | None) -> Callable[[Any], list[Any]]:
    sources = [(i.source, i.value) for i in transform.input]
    if positions is None:
        return lambda row: [row.get(s) if s is not None else v for s, v in sources]
    if all(s is not None for s, _ in sources):
        at = [positions[s] for s, _ in sources if s is not None]
        return lambda row: [row[i] for i in at]
    indexed = [(positions[s] if s is not None else None, v) for s, v in sources]
    return lambda row: [row[i] if i is not None else v for i, v in indexed]


def _first(transform: Transform, positions: dict[str, int] | None) -> Callable[[Any], Any]:
    """The value of the first input, without building a list (per row, for one-input transforms)."""
    source, constant = transform.input[0].source, transform.input[0].value
    if source is None:
        return lambda row: constant
    if positions is None:
        return lambda row: row.get(source)
    return operator.itemgetter(positions[source])


def _compile(transform: Transform, zone: zoneinfo.ZoneInfo, positions: dict[str, int] | None) -> Callable[[Any], Any]:
    values = _getter(transform, positions)
    first = _first(transform, positions)
    out = transform.output
    name = transform.transform
    params = transform.params
    mapping_type = (transform.mapping or {}).get("type")
    if name == "geo_point":
        return lambda row: _geo_point(out, *values(row))
    if name == "concat":
        separator = str(params.get("separator", ""))
        return lambda row: separator.join(_text(v) for v in values(row) if v is not None)
    if name == "split":
        separator = str(params.get("separator", ","))
        return lambda row: _split(first(row), separator)
    if name == "date":
        date_format = str(params["format"]) if "format" in params else None
        try:
            parse = date_parser(date_format) if date_format is not None else None
        except DatePatternError as ex:  # stored before the format was checked: every value is refused
            reason = f"cannot use the date format {date_format!r}: {ex.reason}"
            return lambda row: _refuse(out, first(row), reason)
        naive_in = _naive_zone(zone)
        key = _iso_key(date_format) if date_format is not None else None
        if naive_in is None and key is not None and parse is not None:
            return _iso_in_utc(out, first, key, parse)
        return lambda row: _date(out, first(row), parse, naive_in)
    if name == "cast":
        target = str(params.get("type") or mapping_type)
        return lambda row: _cast(out, first(row), target, zone)
    if isinstance(mapping_type, str) and mapping_type in (*_INTEGER_TYPES, "double", "float", "boolean", "keyword"):
        return lambda row: _cast(out, first(row), mapping_type, zone)
    return first


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON and Elasticsearch spell them
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _geo_point(field: str, lat: Any, lon: Any) -> dict[str, float] | None:
    if lat is None or lon is None:
        return None
    try:
        point = {"lat": float(lat), "lon": float(lon)}
    except (TypeError, ValueError):
        raise TransformError(field, f"geo_point needs numbers, got {lat!r}, {lon!r}") from None
    if not (math.isfinite(point["lat"]) and math.isfinite(point["lon"])):
        return None  # NaN and infinities are missing values, as everywhere else (values.py)
    if not (-90 <= point["lat"] <= 90 and -180 <= point["lon"] <= 180):
        raise TransformError(field, f"geo_point out of range: lat {lat}, lon {lon}")
    return point


def _split(value: Any, separator: str) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in str(value).split(separator) if part.strip()]


# strptime patterns that datetime.fromisoformat reads ~10x faster, with the text's exact shape:
# length and the characters at fixed positions (fromisoformat alone would accept more forms),
# and what a naive UTC value of that shape gets after its first 10 characters + "T" + the rest.
_ISO_SHAPES: dict[str, tuple[int, Callable[[str], tuple[str, ...]], tuple[str, ...], str]] = {
    pattern: (length, operator.itemgetter(*positions), chars, tail)
    for pattern, length, positions, chars, tail in (
        ("%Y-%m-%d %H:%M:%S", 19, (4, 7, 10, 13, 16), ("-", "-", " ", ":", ":"), "+00:00"),
        ("%Y-%m-%dT%H:%M:%S", 19, (4, 7, 10, 13, 16), ("-", "-", "T", ":", ":"), "+00:00"),
        ("%Y-%m-%d %H:%M", 16, (4, 7, 10, 13), ("-", "-", " ", ":"), ":00+00:00"),
        ("%Y-%m-%d", 10, (4, 7), ("-", "-"), "00:00:00+00:00"),
    )
}


# The same shapes as Java patterns: yyyy-MM-dd HH:mm:ss is %Y-%m-%d %H:%M:%S.
_JAVA_LETTERS = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss"}
_ISO_KEYS = {
    tuple(_JAVA_LETTERS.get(part, "'" + part) for part in re.split(r"(%[YmdHMS])", pattern) if part): pattern
    for pattern in _ISO_SHAPES
}


def _iso_key(date_format: str) -> str | None:
    """The ``_ISO_SHAPES`` key of a format with one of those shapes, else None."""
    if "%" in date_format:
        return date_format if date_format in _ISO_SHAPES else None
    try:
        return _ISO_KEYS.get(compile_pattern(date_format).tokens)
    except DatePatternError:
        return None


def _refuse(field: str, value: Any, reason: str) -> None:
    if value is not None:
        raise TransformError(field, reason)


def _iso_in_utc(
    field: str, first: Callable[[Any], Any], key: str, parse: Callable[[str], dt.datetime]
) -> Callable[[Any], str | None]:
    """``date`` of an ISO-shaped pattern read in UTC: the text, validated, rearranged.

    The same result as :func:`_date` (``isoformat()`` of the parsed value plus
    ``+00:00``), without formatting a datetime: that costs more than the parse
    here (1.3 µs a row). ``fromisoformat`` still checks the calendar and clock.
    """
    length, chars_at, chars, tail = _ISO_SHAPES[key]
    iso = dt.datetime.fromisoformat

    def apply(row: Any) -> str | None:
        value = first(row)
        if type(value) is str and len(value) == length and chars_at(value) == chars and value.isascii():
            try:
                iso(value)
            except ValueError:
                pass  # _date below says why
            else:
                return value[:10] + "T" + value[11:] + tail
        return _date(field, value, parse, None)

    return apply


@dataclass(frozen=True, slots=True)
class IsoRearrangement:
    """A ``date`` transform that only rearranges its text: ISO-shaped pattern, read in UTC.

    For a text of the exact shape that is a real moment, the output is
    ``text[:10] + "T" + text[11:] + tail``: :meth:`check` tells, for a whole
    batch at once, whether every value is such a text (or None), so that the
    builder writes the outputs without a call per row (``documents.py``).
    """

    tail: str
    shape: re.Pattern[str]  # one or more values of the shape, each followed by a newline

    def check(self, values: list[Any]) -> bool:
        """Whether the rearrangement of every value is its ``date`` transform (None: null, as well)."""
        texts = [v for v in values if v is not None]
        if not texts:
            return True
        if not all(type(v) is str for v in texts):
            return False
        if self.shape.fullmatch("\n".join(texts) + "\n") is None:
            return False
        try:
            collections.deque(map(dt.datetime.fromisoformat, texts), maxlen=0)  # the calendar and the clock
        except ValueError:
            return False
        return True


def iso_rearrangement(transform: Transform, timezone: str) -> IsoRearrangement | None:
    """The rearrangement equal to ``transform``, or None when it needs a parser."""
    if transform.transform != "date" or len(transform.input) != 1 or transform.input[0].source is None:
        return None
    if "format" not in transform.params or timezone not in UTC_ZONES:
        return None
    pattern = _iso_key(str(transform.params["format"]))
    if pattern is None:
        return None
    tail = _ISO_SHAPES[pattern][3]
    shape = re.sub(r"%Y|%[mdHMS]|.", lambda m: _SHAPE_PARTS.get(m.group(0)) or re.escape(m.group(0)), pattern)
    return IsoRearrangement(tail, re.compile(f"(?:{shape}\n)+"))


_SHAPE_PARTS = {"%Y": "[0-9]{4}", **{f"%{letter}": "[0-9]{2}" for letter in "mdHMS"}}


def _naive_zone(zone: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo | None:
    """The zone :func:`_date` reads naive values in; None for UTC (the fast path)."""
    return None if zone.key in UTC_ZONES else zone


def _date(
    field: str, value: Any, parse: Callable[[str], dt.datetime] | None, zone: zoneinfo.ZoneInfo | None
) -> str | None:
    """``value`` as ISO 8601 with an offset; a naive one is read in ``zone`` (None: UTC).

    ``parse`` reads a text (None: ISO 8601, ``datetime.fromisoformat``).
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        return value.isoformat()
    else:
        text = str(value).strip()
        try:
            parsed = parse(text) if parse is not None else dt.datetime.fromisoformat(text)
        except ValueError as ex:
            raise TransformError(field, f"cannot parse date {text!r}: {ex}") from None
    if parsed.tzinfo is None:
        if zone is None:  # UTC, the common case, without the tz-aware formatting cost
            return parsed.isoformat() + "+00:00"
        parsed = parsed.replace(tzinfo=zone)
    return parsed.isoformat()


def _cast(field: str, value: Any, target: str, zone: zoneinfo.ZoneInfo) -> Any:
    if value is None:
        return None
    try:
        if target in ("keyword", "text"):
            return _text(value)
        if target in _INTEGER_TYPES:
            if isinstance(value, bool):
                return int(value)
            number = Decimal(str(value).strip())
            if number != number.to_integral_value():
                raise ValueError(f"{value!r} is not a whole number")
            return int(number)
        if target in ("double", "float"):
            if isinstance(value, bool | float):
                return float(value)
            return float(Decimal(str(value).strip()))
        if target == "boolean":
            return _boolean(value)
        if target == "date":
            return _date(field, value, None, _naive_zone(zone))
    except (InvalidOperation, ValueError, OverflowError) as ex:  # OverflowError: int(Infinity)
        raise TransformError(field, f"cannot cast {value!r} to {target}: {ex}") from None
    raise TransformError(field, f"unknown cast type {target}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    text = str(value).strip().lower()
    if text in ("true", "t", "yes", "y", "1"):
        return True
    if text in ("false", "f", "no", "n", "0"):
        return False
    raise ValueError(f"{value!r} is not a boolean")
