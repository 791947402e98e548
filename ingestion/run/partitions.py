"""Own how a partitioned run splits its keys: N ranges of about as many rows each (SPEC §15).

Cut points are quantiles of ``pk_field`` over the query's rows, not an even
split of ``[min, max]``, so uneven keys (a few huge gaps, a dense tail) do not
leave one worker with most of the rows. PostgreSQL computes them in one pass
(``percentile_disc``); elsewhere each is the key at an offset of the ordered
keys (an index-only scan with a primary key). Equal cut points merge: a
table with fewer distinct keys than partitions gets fewer ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ingestion.source.query_template import RenderedQuery
from ingestion.source.read_order import KeyRange
from ingestion.source.sql_source import execute_single

# Types a key range cannot be cut from: no order (json, geometry), or none that means anything.
_UNORDERED = frozenset(
    {
        "json", "jsonb", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle", "geometry",
        "geography", "tsvector", "tsquery", "hstore", "mysql:JSON", "mysql:GEOMETRY", "mysql:SET", "STRUCT", "MAP",
        "LIST",
    }
)  # fmt: skip


def orderable(db_type: str | None) -> bool:
    """Whether a key of this database type can be split into ranges (unknown types: assumed so)."""
    return db_type is None or (db_type not in _UNORDERED and not db_type.startswith(("STRUCT", "MAP")))


@dataclass(frozen=True, slots=True)
class Split:
    """The key ranges of a run, the rows in each when they were counted, and all rows."""

    ranges: list[KeyRange]
    rows: list[int]
    total: int


def key_ranges(conn: Connection, query: RenderedQuery, key: str, n: int) -> Split:
    """``n`` (or fewer) consecutive key ranges covering the query's rows, with the rows of each."""
    column = conn.dialect.identifier_preparer.quote(key)
    keys = f"SELECT {column} AS k FROM ({query.inner}) AS connector_query"
    source = f"({keys}) AS connector_keys"
    (total,) = execute_single(conn, f"SELECT count(*) FROM {source}", query.params)[0]
    total = int(total)
    keyed = f"({keys} WHERE {column} IS NOT NULL) AS connector_keys"
    cuts: list[Any] = []
    if n > 1 and total > 1:
        fractions = [i / n for i in range(1, n)]
        if conn.dialect.name == "postgresql":
            percentiles = "percentile_disc(CAST(:connector_fractions AS float8[])) WITHIN GROUP (ORDER BY k)"
            sql = f"SELECT {percentiles} FROM {keyed}"
            cuts = list(execute_single(conn, sql, {**query.params, "connector_fractions": fractions})[0][0] or [])
        else:
            for fraction in fractions:
                offset = min(total - 1, int(fraction * total))
                sql = f"SELECT k FROM {keyed} ORDER BY k LIMIT 1 OFFSET {offset}"
                found = execute_single(conn, sql, query.params)
                cuts.append(found[0][0] if found else None)
    distinct: list[Any] = []
    for cut in cuts:
        if cut is not None and (not distinct or cut != distinct[-1]):
            distinct.append(cut)
    bounds = [None, *distinct, None]
    ranges = [KeyRange(bounds[i], bounds[i + 1], nulls=i == 0) for i in range(len(bounds) - 1)]
    return Split(ranges, _rows_per_range(conn, source, query, distinct, total), total)


def _rows_per_range(conn: Connection, source: str, query: RenderedQuery, cuts: list[Any], total: int) -> list[int]:
    """The rows below the first cut, between each two, above the last (NULL keys in the first range)."""
    if not cuts:
        return [total]
    params = {**query.params, **{f"connector_cut{i}": cut for i, cut in enumerate(cuts)}}
    below = [f"SUM(CASE WHEN k < :connector_cut{i} OR k IS NULL THEN 1 ELSE 0 END)" for i in range(len(cuts))]
    (counts,) = execute_single(conn, f"SELECT {', '.join(below)} FROM {source}", params)
    cumulative = [int(c or 0) for c in counts] + [total]
    return [cumulative[0]] + [cumulative[i] - cumulative[i - 1] for i in range(1, len(cumulative))]
