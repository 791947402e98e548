"""Generate benchmark tables in PostgreSQL with generate_series (idempotent by name)."""

from __future__ import annotations

import sqlalchemy as sa

NARROW_COLUMNS = 8


def narrow_table(engine: sa.Engine, rows: int) -> str:
    """An 8-column table: bigint, 2 texts, numeric, timestamptz, boolean, double, integer."""
    name = f"bench_narrow_{rows}"
    with engine.begin() as conn:
        exists = conn.exec_driver_sql(f"SELECT to_regclass('{name}') IS NOT NULL").scalar()
        if exists and conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() == rows:
            return name
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.execute(
            sa.text(
                f"CREATE TABLE {name} AS SELECT g::bigint AS id, 'name ' || g AS name,"
                " (ARRAY['alpha','beta','gamma','delta'])[1 + g % 4] AS category,"
                " round((g % 10000) * 1.37, 2)::numeric(12,2) AS amount,"
                " timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS created_at,"
                " g % 3 = 0 AS flag, (g % 977) / 7.0::double precision AS score, (g % 1000)::int AS qty"
                f" FROM generate_series(1, {rows}) AS g"
            )
        )
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
        conn.exec_driver_sql(f"ANALYZE {name}")
    return name
