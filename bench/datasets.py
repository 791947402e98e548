"""Generate benchmark tables in PostgreSQL with generate_series (reused when already there)."""

from __future__ import annotations

import sqlalchemy as sa

NARROW_COLUMNS = 8
WIDE_COLUMNS = 40


def _ensure(engine: sa.Engine, name: str, rows: int, select: str) -> str:
    with engine.begin() as conn:
        exists = conn.execute(sa.text(f"SELECT to_regclass('{name}') IS NOT NULL")).scalar()
        if exists and conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() == rows:
            return name
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE TABLE {name} AS {select} FROM generate_series(1, {rows}) AS g"))
        conn.execute(sa.text(f"ALTER TABLE {name} ADD PRIMARY KEY (id)"))
        conn.execute(sa.text(f"ANALYZE {name}"))
    return name


def narrow_table(engine: sa.Engine, rows: int) -> str:
    """8 columns: bigint, text, numeric, timestamptz, boolean, two doubles (a position), date text."""
    select = (
        "SELECT g::bigint AS id, 'name ' || g AS name, round((g % 10000) * 1.37, 2)::numeric(12,2) AS amount,"
        " timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS created_at, g % 3 = 0 AS flag,"
        " (g % 1800) / 20.0::double precision - 45 AS lat, (g % 3600) / 10.0::double precision - 180 AS lon,"
        " to_char(timestamp '2024-01-01' + g * interval '1 minute', 'YYYY-MM-DD HH24:MI:SS') AS day"
    )
    return _ensure(engine, f"bench_n8_{rows}", rows, select)


def wide_table(engine: sa.Engine, rows: int) -> str:
    """40 columns: id, 10 texts, 10 numerics, 10 timestamptz, 5 jsonb, 4 integers."""
    parts = ["g::bigint AS id"]
    parts += [f"'text value ' || (g * {i}) || ' of row ' || g AS t{i}" for i in range(1, 11)]
    parts += [f"round((g % {1000 + i}) * 3.{i}7, 4)::numeric(14,4) AS n{i}" for i in range(1, 11)]
    parts += [f"timestamptz '2024-01-01 00:00:00+00' + (g * {i}) * interval '1 second' AS ts{i}" for i in range(1, 11)]
    parts += [
        f"jsonb_build_object('k', g, 'i', {i}, 'tags', jsonb_build_array('a', 'b', (g % 7)::text)) AS j{i}"
        for i in range(1, 6)
    ]
    parts += [f"(g % {97 + i})::int AS i{i}" for i in range(1, 5)]
    # "s": the tags are all strings (bench_w40_ mixed a number in, which the Elasticsearch-API test server refuses).
    return _ensure(engine, f"bench_w40s_{rows}", rows, "SELECT " + ", ".join(parts))
