"""Own how a partitioned run splits its keys: N ranges of about as many rows each (SPEC §15).

Cut points are quantiles of ``pk_field`` over the query's rows, not an even
split of ``[min, max]``, so uneven keys (a few huge gaps, a dense tail) do not
leave one worker with most of the rows. PostgreSQL computes them in one pass
(``percentile_disc``); elsewhere each is the key at an offset of the ordered
keys (an index-only scan with a primary key). Equal cut points merge: a
table with fewer distinct keys than partitions gets fewer ranges.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ingestion.query_template import RenderedQuery
from ingestion.read_order import KeyRange
from ingestion.sql_source import execute_single


def key_ranges(conn: Connection, query: RenderedQuery, key: str, n: int) -> tuple[list[KeyRange], int]:
    """``n`` (or fewer) consecutive key ranges covering the query's rows, and how many rows there are."""
    column = conn.dialect.identifier_preparer.quote(key)
    source = (
        f"(SELECT {column} AS k FROM ({query.inner}) AS connector_query WHERE {column} IS NOT NULL) AS connector_keys"
    )
    (total,) = execute_single(conn, f"SELECT count(*) FROM {source}", query.params)[0]
    total = int(total)
    cuts: list[Any] = []
    if n > 1 and total > 1:
        fractions = [i / n for i in range(1, n)]
        if conn.dialect.name == "postgresql":
            percentiles = "percentile_disc(CAST(:connector_fractions AS float8[])) WITHIN GROUP (ORDER BY k)"
            sql = f"SELECT {percentiles} FROM {source}"
            cuts = list(execute_single(conn, sql, {**query.params, "connector_fractions": fractions})[0][0] or [])
        else:
            for fraction in fractions:
                offset = min(total - 1, int(fraction * total))
                sql = f"SELECT k FROM {source} ORDER BY k LIMIT 1 OFFSET {offset}"
                cuts.append(execute_single(conn, sql, query.params)[0][0])
    distinct: list[Any] = []
    for cut in cuts:
        if cut is not None and (not distinct or cut != distinct[-1]):
            distinct.append(cut)
    bounds = [None, *distinct, None]
    ranges = [KeyRange(bounds[i], bounds[i + 1], nulls=i == 0) for i in range(len(bounds) - 1)]
    return ranges, total
