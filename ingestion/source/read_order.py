"""Own the order a run reads rows in and where the read starts: keyset checkpoints and watermarks.

A run with ``pk_field`` reads ``(<query>)`` ordered by the key; with
``tracking_column`` (SPEC §10) by ``(tracking_column, pk_field)``. Every
batch ends at a *position*: the order columns' values of its last row. A
resumed run reads strictly after its checkpoint's position; the next run of
an ingestion with a tracking column reads strictly after the last successful
run's *watermark* (ties on the tracking value are broken by the key, so rows
with equal timestamps across a batch boundary are neither skipped nor read
forever), or from ``watermark - tracking_overlap`` inclusive to catch
transactions that committed late with an older value.

Rows whose tracking value is NULL sort first and are read by a run without
a watermark only: a NULL is never "after" a watermark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ingestion.source.sql_lexer import GENERIC, POSTGRESQL

Quote = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class KeyRange:
    """A partition's keys: ``low <= key < high`` (None: unbounded); the first range also takes NULL keys,
    which no comparison matches, so that they are still read (and rejected as invalid keys)."""

    low: Any = None
    high: Any = None
    nulls: bool = False


@dataclass(frozen=True, slots=True)
class ReadOrder:
    """``ORDER BY columns``, from strictly ``after`` a position or from ``first_column >= from_value``,
    within a key range when the run is partitioned."""

    columns: tuple[str, ...]
    after: tuple[Any, ...] | None = None
    from_value: Any = None
    keys: KeyRange | None = None

    @property
    def key(self) -> str:
        """The primary key: the last order column."""
        return self.columns[-1]

    def clause(self, qualifier: str, quote: Quote, family: str) -> tuple[str, str, dict[str, Any]]:
        """``(where, order by, params)`` over ``<qualifier>.<column>``; where is "" or starts with " WHERE"."""
        names = [f"{qualifier}.{quote(c)}" for c in self.columns]
        params: dict[str, Any] = {}
        conditions = []
        if self.after is not None:
            bounds = [f":connector_after{i}" for i in range(len(names))]
            params = {f"connector_after{i}": value for i, value in enumerate(self.after)}
            conditions.append(_after(names, bounds, self.after, family))
        elif self.from_value is not None:
            params = {"connector_from": self.from_value}
            conditions.append(f"{names[0]} >= :connector_from")
        if self.keys is not None:
            conditions += _in_range(names[-1], self.keys, params)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # NULL tracking values first everywhere (PostgreSQL sorts them last unless told).
        nulls = " NULLS FIRST" if family == POSTGRESQL and len(names) > 1 else ""
        order = ", ".join([f"{names[0]}{nulls}", *names[1:]])
        return where, f" ORDER BY {order}", params


def _in_range(key: str, keys: KeyRange, params: dict[str, Any]) -> list[str]:
    bounds = []
    if keys.low is not None:
        params["connector_low"] = keys.low
        bounds.append(f"{key} >= :connector_low")
    if keys.high is not None:
        params["connector_high"] = keys.high
        bounds.append(f"{key} < :connector_high")
    if not bounds:
        return []
    inside = " AND ".join(bounds)
    return [f"(({inside}) OR {key} IS NULL)" if keys.nulls else f"({inside})"]


def _after(names: list[str], bounds: list[str], values: tuple[Any, ...], family: str) -> str:
    if len(names) == 1:
        return f"{names[0]} > {bounds[0]}"
    (tracking, key), (tracking_bound, key_bound) = names, bounds
    if values[0] is None:  # still among the NULL tracking values, which sort first
        return f"(({tracking} IS NULL AND {key} > {key_bound}) OR {tracking} IS NOT NULL)"
    if family == GENERIC:  # row values are not everywhere (SQL Server)
        return f"({tracking} > {tracking_bound} OR ({tracking} = {tracking_bound} AND {key} > {key_bound}))"
    return f"({tracking}, {key}) > ({tracking_bound}, {key_bound})"


def lowered(value: Any, overlap: float) -> Any:
    """``value`` moved ``overlap`` back: seconds for times and dates, the column's own units for numbers.

    Text that reads as an ISO 8601 date or time (SQLite keeps them as text) is
    moved as a time and written back in the same shape.
    """
    if not overlap or value is None:
        return value
    if isinstance(value, dt.datetime):
        return value - dt.timedelta(seconds=overlap)
    if isinstance(value, dt.date):
        return (dt.datetime.combine(value, dt.time()) - dt.timedelta(seconds=overlap)).date()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value - int(overlap) if float(overlap).is_integer() else value - overlap
    if isinstance(value, float):
        return value - overlap
    if isinstance(value, Decimal):
        return value - Decimal(str(overlap))
    if isinstance(value, str):
        return _lowered_text(value, overlap)
    return value


def _lowered_text(text: str, overlap: float) -> str:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text  # not a time: no window can be computed; the keyset alone applies
    earlier = moment - dt.timedelta(seconds=overlap)
    if len(text) == 10:  # a date
        return earlier.date().isoformat()
    separator = "T" if "T" in text else " "
    written = earlier.isoformat(sep=separator)
    if "." not in text:
        written = earlier.replace(microsecond=0).isoformat(sep=separator)
    return written


def later(position: Sequence[Any] | None, than: Sequence[Any] | None) -> bool:
    """Whether ``position`` comes after ``than`` in the read order (unknown: assume it does)."""
    if than is None or position is None:
        return position is not None
    try:
        return tuple(_comparable(v) for v in position) > tuple(_comparable(v) for v in than)
    except TypeError:
        return True


def _comparable(value: Any) -> Any:
    if value is None:
        return (0, 0)  # NULLs sort first
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return (1, value.astimezone(dt.UTC).replace(tzinfo=None))
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    if isinstance(value, str | dt.date | dt.datetime):
        return (1, value)
    return (1, str(value))
