"""Own the conversion of database values to JSON.

orjson serializes the common types (int, float, str, bool, None, UUID,
datetime, date, time, list, dict) natively; :func:`json_default` handles the
rest. The conventions, also documented in README:

- ``Decimal`` keeps its exact digits as a JSON number; NaN/±Infinity → null.
- ``float`` NaN/±Infinity → null (JSON has no such numbers).
- timestamps without time zone are read in the datasource ``timezone`` and
  written in ISO 8601 with the offset; with a time zone, as given.
- ``date`` → ``YYYY-MM-DD``; ``time`` → ``HH:MM:SS[.ffffff]``.
- intervals (``timedelta``) → ISO 8601 durations (``P1DT2H3M4.5S``).
- bytes → base64; ``ipaddress`` values and other scalars → their text.
- PostgreSQL ranges → ``{"gte": ..., "lt": ...}`` (Elasticsearch range fields).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import math
import uuid
import zoneinfo
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

_NULL = orjson.Fragment(b"null")
_TEXT_SCALARS = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    uuid.UUID,
)


def iso_duration(value: dt.timedelta) -> str:
    """Render a timedelta as an ISO 8601 duration (``-P1DT2S`` for negative ones)."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    days = value.days
    seconds = value.seconds + value.microseconds / 1_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{sign}P{days}D" if days else f"{sign}P"
    time_part = ""
    if hours:
        time_part += f"{int(hours)}H"
    if minutes:
        time_part += f"{int(minutes)}M"
    if secs or not (days or hours or minutes):
        time_part += f"{secs:.6f}".rstrip("0").rstrip(".") + "S"
    return out + ("T" + time_part if time_part else "")


def mysql_time(value: dt.timedelta) -> str:
    """MySQL TIME values arrive as timedelta; render them as the clock text MySQL shows."""
    sign = "-" if value < dt.timedelta(0) else ""
    total = abs(value)
    hours, rest = divmod(total.days * 86400 + total.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{total.microseconds:06d}" if total.microseconds else text


def _each(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` applied to every element of a list value (array columns)."""
    return lambda v: [convert(item) for item in v] if isinstance(v, list) else v


def _beyond_64_bits(value: Any) -> Any:
    # orjson writes integers of 64 bits (signed or not); DuckDB's HUGEINT goes to 128 bits.
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return Decimal(value)
    return value


def _json_text(value: Any) -> Any:
    # DuckDB returns JSON columns as their text; PostgreSQL's json/jsonb arrive parsed.
    return load_json(value) if isinstance(value, str) else value


COLUMN_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "mysql:TIME": lambda v: mysql_time(v) if isinstance(v, dt.timedelta) else v,
    "duckdb:JSON": _json_text,
    "duckdb:JSON[]": _each(_json_text),
    **{f"duckdb:{name}": _beyond_64_bits for name in ("HUGEINT", "UHUGEINT")},
    **{f"duckdb:{name}[]": _each(_beyond_64_bits) for name in ("HUGEINT", "UHUGEINT")},
}


def _decimal(value: Decimal) -> Any:
    # str() of a finite Decimal is always a valid JSON number ("1.50", "1E+3", "-0").
    return orjson.Fragment(str(value).encode()) if value.is_finite() else _NULL


def make_json_default(timezone: str = "UTC") -> Callable[[Any], Any]:
    """Return an orjson ``default`` hook; naive datetimes are read in ``timezone``."""
    zone = zoneinfo.ZoneInfo(timezone)

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return _decimal(value)
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).isoformat()
        if isinstance(value, dt.date | dt.time):
            return value.isoformat()
        if isinstance(value, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, dt.timedelta):
            return iso_duration(value)
        if isinstance(value, set | frozenset | tuple):
            return list(value)
        if isinstance(value, _TEXT_SCALARS):
            return str(value)
        bounds = getattr(value, "lower_inc", None)
        if bounds is not None and hasattr(value, "upper"):  # a psycopg Range
            return _range(value)
        return str(value)

    return default


def _range(value: Any) -> dict[str, Any] | None:
    if getattr(value, "isempty", False):
        return None
    out: dict[str, Any] = {}
    if value.lower is not None:
        out["gte" if value.lower_inc else "gt"] = value.lower
    if value.upper is not None:
        out["lte" if value.upper_inc else "lt"] = value.upper
    return out


# Zone names that are UTC under another name: naive values in them get +00:00 without a zone lookup.
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal"})


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS  # every date and time to the hook


def orjson_options(timezone: str) -> int:
    """orjson options matching :func:`make_json_default` for ``timezone``."""
    if timezone in UTC_ZONES:
        # Fast path: orjson writes naive datetimes itself, as UTC.
        return orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS
    return _PASSTHROUGH


class JsonEncoder:
    """Encode documents for one datasource time zone."""

    def __init__(self, timezone: str = "UTC") -> None:
        self.timezone = timezone
        self.default = make_json_default(timezone)
        self.options = orjson_options(timezone)

    def dumps(self, value: Any) -> bytes:
        try:
            return orjson.dumps(value, default=self.default, option=self.options)
        except TypeError:
            if self.options == _PASSTHROUGH:
                raise
            # orjson refuses what its fast path cannot write (a time with a zone, as in timetz): the hook can.
            return orjson.dumps(value, default=self.default, option=_PASSTHROUGH)

    def plain(self, value: Any) -> Any:
        """Return ``value`` as plain JSON types (for API responses and transforms)."""
        return load_json(self.dumps(value))


def load_json(data: bytes | str) -> Any:
    """Parse JSON; a number beyond a double's range (numeric 1e400) becomes its text instead of failing."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data, parse_float=_finite_or_text)


def _finite_or_text(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


# ---------------------------------------------------------------- JSON values back to bindable ones

_NAIVE_TIMESTAMPS = frozenset({"timestamp", "duckdb:TIMESTAMP"})  # compared as local times on the server
_TIMESTAMPS = _NAIVE_TIMESTAMPS | {
    "timestamptz",
    "mysql:DATETIME",
    "mysql:TIMESTAMP",
    "duckdb:TIMESTAMP WITH TIME ZONE",
}
_DATES = frozenset({"date", "mysql:DATE", "mysql:NEWDATE", "duckdb:DATE"})
_DECIMALS = frozenset({"numeric", "mysql:DECIMAL", "mysql:NEWDECIMAL", "duckdb:DECIMAL"})


def moment_for(value: dt.datetime, *, server_binds: bool, timezone: str) -> dt.datetime:
    """A moment as a database compares it: aware where the server binds typed parameters
    (PostgreSQL: ``timestamptz``), else naive in the datasource time zone (MySQL DATETIME, SQLite text)."""
    if server_binds or value.tzinfo is None:
        return value
    return value.astimezone(zoneinfo.ZoneInfo(timezone)).replace(tzinfo=None)


def bindable(value: Any, db_type: str | None, *, server_binds: bool, timezone: str) -> Any:
    """A value of ``last_record`` (as JSON stored it) back in its database type, to bind in a template.

    Timestamps and dates were written as ISO 8601 text and numerics as JSON
    numbers; without this, ``WHERE updated_at > {{last_record.1}}`` would
    compare a timestamp with text.
    """
    if value is None or db_type is None:
        return value
    try:
        if db_type in _TIMESTAMPS and isinstance(value, str):
            moment = dt.datetime.fromisoformat(value)
            if db_type in _NAIVE_TIMESTAMPS and moment.tzinfo is not None:  # naive in the datasource zone
                return moment.astimezone(zoneinfo.ZoneInfo(timezone)).replace(tzinfo=None)
            return moment_for(moment, server_binds=server_binds, timezone=timezone)
        if db_type in _DATES and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if db_type in _DECIMALS and isinstance(value, int | float) and not isinstance(value, bool):
            return Decimal(str(value))
    except ValueError:
        return value
    return value


# ---------------------------------------------------------------- positions: JSON that gives values back exactly

# A position (checkpoint, watermark, a partition's bounds) is compared by the database with
# the rows it reads after it: it must come back as the very value that was read. Plain JSON
# loses some (bytes become base64 text, NaN becomes null, a numeric beyond a double is
# rounded, a naive time is moved to a zone); those are written as {"~kind": text}.
_EXACT_INT = 2**53


def exact_json(values: Sequence[Any], encoder: JsonEncoder) -> list[Any]:
    """``values`` as JSON that :func:`exact_values` turns back into the same values."""
    return [_exact(value, encoder) for value in values]


def _exact(value: Any, encoder: JsonEncoder) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_EXACT_INT <= value <= _EXACT_INT else {"~int": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"~float": str(value)}
    if isinstance(value, Decimal):
        return {"~decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"~datetime": value.isoformat()}  # naive stays naive: no zone, no gap, no fold
    if isinstance(value, dt.date):
        return {"~date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"~time": value.isoformat()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"~bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return {"~uuid": str(value)}
    return encoder.plain(value)


_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "~int": int,
    "~float": float,
    "~decimal": Decimal,
    "~datetime": dt.datetime.fromisoformat,
    "~date": dt.date.fromisoformat,
    "~time": dt.time.fromisoformat,
    "~bytes": base64.b64decode,
    "~uuid": uuid.UUID,
}


def exact_values(
    values: Sequence[Any], types: Sequence[str | None] | None, *, server_binds: bool, timezone: str
) -> tuple[Any, ...]:
    """Values written by :func:`exact_json` (or, before it, as plain JSON) back as the database compares them."""
    kinds = (list(types or []) + [None] * len(values))[: len(values)]
    return tuple(
        _value(value, kind, server_binds=server_binds, timezone=timezone)
        for value, kind in zip(values, kinds, strict=True)
    )


def _value(value: Any, db_type: str | None, *, server_binds: bool, timezone: str) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        parse = _FROM_TEXT.get(tag)
        if parse is not None and isinstance(text, str):
            parsed = parse(text)
            if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None:
                return moment_for(parsed, server_binds=server_binds, timezone=timezone)
            return parsed
    return bindable(value, db_type, server_binds=server_binds, timezone=timezone)  # plain JSON


def shown(value: Any) -> Any:
    """A position value as a status shows it (plain JSON: text for what JSON cannot hold exactly)."""
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag == "~int" and isinstance(text, str):
            return int(text)
        if tag in _FROM_TEXT and isinstance(text, str):
            return text
    return value
