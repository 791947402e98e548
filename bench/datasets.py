"""Generate benchmark tables (reused when already there): PostgreSQL, MariaDB and SQLite, the same rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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


def mariadb_narrow_table(engine: sa.Engine, rows: int) -> str:
    """The narrow table's rows in MariaDB (DATETIME in UTC for timestamptz), from its sequence engine."""
    name = f"bench_n8_{rows}"
    with engine.begin() as conn:
        found = conn.execute(sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
                                     " AND table_name = :name"), {"name": name}).scalar()  # fmt: skip
        if found and conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() == rows:
            return name
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL, amount DECIMAL(12,2),"
                " created_at DATETIME, flag BOOLEAN, lat DOUBLE, lon DOUBLE, day VARCHAR(19)) CHARACTER SET utf8mb4"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {name} SELECT seq, CONCAT('name ', seq), ROUND((seq % 10000) * 1.37, 2),"
                " TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq % 3 = 0,"
                " (seq % 1800) / 20e0 - 45, (seq % 3600) / 10e0 - 180,"
                " DATE_FORMAT(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE, '%Y-%m-%d %H:%i:%s')"
                f" FROM seq_1_to_{rows}"
            )
        )
    return name


def sqlite_narrow_table(path: Path, rows: int) -> str:
    """The narrow table's rows in a SQLite file (texts for the timestamp, 0/1 for the flag, REAL positions)."""
    name = f"bench_n8_{rows}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
        if found and db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == rows:
            return name
        db.execute(f"DROP TABLE IF EXISTS {name}")
        db.execute(
            f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount REAL, created_at TEXT,"
            " flag INTEGER, lat REAL, lon REAL, day TEXT)"
        )
        db.execute(
            f"INSERT INTO {name} WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows})"
            " SELECT n, 'name ' || n, round((n % 10000) * 1.37, 2), strftime('%Y-%m-%dT%H:%M:%S+00:00', '2024-01-01',"
            " '+' || n || ' seconds'), n % 3 = 0, (n % 1800) / 20.0 - 45, (n % 3600) / 10.0 - 180,"
            " strftime('%Y-%m-%d %H:%M:%S', '2024-01-01', '+' || n || ' minutes') FROM g"
        )
    return name


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
