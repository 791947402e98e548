"""MariaDB's rendered path (``sql_json_mysql``) against the Python path, on the real server.

The same rows are read twice, once rendered by MariaDB and once converted in
Python, and the bulk lines, ids, rejections, checkpoints and ``last_record``
values must be equal byte for byte.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from elasticsearch import Elasticsearch
from falcon import testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.datasource import ConnectionTarget
from connector.ingestion_def import Transform
from ingestion.sink.documents import DocumentBuilder
from ingestion.sink.line_builder import line_builder
from ingestion.sink.transforms import compile_transforms
from ingestion.source.query_template import RenderedQuery
from ingestion.source.read_order import ReadOrder
from ingestion.source.sql_json_mysql import RenderedLines, double_json
from ingestion.source.sql_source import RenderRequest, open_rows
from ingestion.source.type_mapping import infer_properties
from ingestion.source.values import JsonEncoder
from tests.conftest import Database
from tests.integration.ingest_support import BASE, bookkeeping, define, raw_source, run, worker_rendering

pytestmark = pytest.mark.integration

TYPES = (
    "id BIGINT PRIMARY KEY, i INT, u BIGINT UNSIGNED, d DECIMAL(20,8), d2 DECIMAL(12,2), f DOUBLE, r FLOAT,"
    " dt DATETIME(6), dt0 DATETIME, ts TIMESTAMP(3) NULL, da DATE, tm TIME(3), tm0 TIME, y YEAR, s VARCHAR(100),"
    " t TEXT, b VARBINARY(50), bl BLOB, bits BIT(12), e ENUM('red','green'), flag BOOLEAN, nothing CHAR(0)"
)


def read(
    db: Database,
    sql: str,
    *,
    rendered: bool,
    pk_field: str | None = "id",
    timezone: str = "UTC",
    transforms: tuple[Transform, ...] = (),
    batch_size: int = 7,
    after: Any = None,
    tracking: str | None = None,
) -> list[Any]:
    """Everything a run takes from the rows: per batch the lines, ids, rejections, checkpoint and last row."""
    target = ConnectionTarget(sa.make_url(db.sql_url), {}, timezone)
    columns = (tracking, pk_field) if tracking and pk_field else (pk_field,)
    encoder = JsonEncoder(timezone)
    out: list[Any] = []
    with open_rows(
        target,
        RenderedQuery(sql, {}),
        connect_timeout_s=5,
        order=ReadOrder(columns, after=after) if pk_field else None,
        batch_size=batch_size,
        render=RenderRequest(transforms) if rendered else None,
    ) as source:
        builder: Any
        if rendered:
            assert isinstance(source.rendered, RenderedLines), "MariaDB did not render these rows"
            builder = line_builder(
                source.rendered, pk_field=pk_field, transforms=transforms, timezone=timezone, encoder=encoder
            )
        else:
            assert source.rendered is None
            compiled = compile_transforms(list(transforms), timezone=timezone)
            builder = DocumentBuilder(
                source.columns,
                db_types=source.db_types,
                pk_field=pk_field,
                encoder=encoder,
                transforms=compiled,
                order=columns if pk_field else (),
            )
        out.append((source.columns, source.db_types))
        number = 1
        while rows := source.fetch():
            if number == 1:  # the mapping comes from the first batch: the same one both ways
                sample = [builder.values(row) for row in rows] if rendered else list(rows)
                out[0] = (*out[0], infer_properties(source.columns, source.db_types, sample))
            batch = builder.build(rows, first_row_number=number)
            number += len(rows)
            out.append(
                (
                    list(zip(batch.actions, batch.sources, strict=True)),
                    list(batch.ids),
                    [(r.pk, r.error_type, r.reason, r.field) for r in batch.rejected],
                    encoder.plain(batch.last_key),
                    batch.last_position,
                    encoder.plain(list(batch.last_row)) if batch.last_row is not None else None,
                )
            )
    return out


def same_both_ways(db: Database, sql: str, **options: Any) -> list[Any]:
    rendered = read(db, sql, rendered=True, **options)
    python = read(db, sql, rendered=False, **options)
    assert rendered == python
    return python


@contextmanager
def loose_dates(db: Database) -> Iterator[sa.Connection]:
    """A session that may store zero dates and 30 February, as old MySQL data has them."""
    with db.engine.begin() as conn:
        conn.exec_driver_sql("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        yield conn


EDGE_ROWS = [
    "(1, -2147483648, 18446744073709551615, 123456789012.12345678, -0.50, 2.5, 0.1, '2024-01-02 03:04:05.123456',"
    " '2024-02-29 23:59:59', '2024-01-02 03:04:05.1', '2024-02-29', '-01:02:03.5', '838:59:59', 2024, 'héllo ✓ \"q\" \\\\',"
    " CONCAT('tab\\t', CHAR(1), CHAR(11), CHAR(31), CHAR(127), '\\\\u001F'), x'00ff', REPEAT(x'ab', 100), b'101010101010',"
    " 'green', TRUE, '')",
    "(2, 0, 0, 0.00000001, 0, 1e20, 1e10, '0000-00-00 00:00:00', '2024-02-30 00:00:00', '0000-00-00 00:00:00',"
    " '0000-00-00', '00:00:00', '-00:00:01', 0, '', '', '', '', b'0', 'red', FALSE, NULL)",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL)",
    "(4, 7, 1, -0.00000100, 99.99, -1.5e-7, 3e38, '0001-01-01 00:00:00.000001', '9999-12-31 23:59:59',"
    " '2038-01-19 03:14:07.999', '0099-12-31', '-838:59:59', '00:00:00', 1901, 'ключ 🔑', REPEAT('é', 300),"
    " x'', NULL, b'111111111111', NULL, 1, NULL)",
    "(5, 1, 2, 1.00000000, 1.00, 1e15, -0.0001, '2024-07-01 12:00:00.000000', '2024-00-15 10:00:00', NULL,"
    " '2024-00-01', '12:00:00.001', '10:11:12', 2155, 'x', 'y', x'0a0d', x'00', b'1', 'red', 0, '')",
]


@pytest.mark.parametrize("timezone", ["UTC", "Etc/GMT-2"])
def test_every_supported_type_renders_as_python_writes_it(mariadb: Database, timezone: str) -> None:
    mariadb.execute(f"CREATE TABLE t ({TYPES}) CHARACTER SET utf8mb4")
    with loose_dates(mariadb) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES " + ", ".join(EDGE_ROWS))
    batches = same_both_ways(mariadb, "SELECT * FROM t", timezone=timezone)
    documents = [orjson.loads(source) for batch in batches[1:] for _, source in batch[0]]
    assert len(documents) == len(EDGE_ROWS)
    first = documents[0]
    offset = "+00:00" if timezone == "UTC" else "+02:00"
    assert first["dt"] == f"2024-01-02T03:04:05.123456{offset}" and first["ts"] == f"2024-01-02T03:04:05.100000{offset}"
    assert first["tm"] == "-01:02:03.500000" and first["b"] == "AP8=" and first["bits"] == "Cqo="
    assert documents[1]["dt"] == "0000-00-00 00:00:00.000000" and documents[1]["dt0"] == "2024-02-30 00:00:00"


def test_a_zone_with_daylight_saving_reads_datetimes_in_python(mariadb: Database) -> None:
    """Europe/Paris has two offsets: its DATETIMEs take the Python path; other columns still render."""
    mariadb.execute(f"CREATE TABLE t ({TYPES}) CHARACTER SET utf8mb4")
    with loose_dates(mariadb) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES " + ", ".join(EDGE_ROWS))
    with pytest.raises(AssertionError, match="did not render"):
        read(mariadb, "SELECT * FROM t", rendered=True, timezone="Europe/Paris")
    same_both_ways(mariadb, "SELECT id, d, f, da, tm, s, b FROM t", timezone="Europe/Paris")


def test_text_keys_without_key_and_resuming(mariadb: Database) -> None:
    mariadb.execute("CREATE TABLE k (k VARCHAR(600) NULL, v INT, s TEXT) CHARACTER SET utf8mb4")
    mariadb.execute(
        "INSERT INTO k VALUES ('a', 1, 'x'), (NULL, 2, 'y'), ('', 3, 'z'), (REPEAT('é', 300), 4, 'w'),"
        " ('b\"\\\\c', 5, CONCAT('q', CHAR(27))), (CONCAT('k', CHAR(30)), 6, NULL), ('zz', 7, 'last'), (' ', 8, '')"
    )
    batches = same_both_ways(mariadb, "SELECT * FROM k", pk_field="k", batch_size=3)
    rejected = [r for batch in batches[1:] for r in batch[2]]
    assert [(pk, reason) for pk, _, reason, _ in rejected] == [
        (None, "primary key is NULL"),
        ("", "primary key is empty"),
        ("é" * 300, "primary key is longer than 512 bytes"),
    ]
    same_both_ways(mariadb, "SELECT * FROM k", pk_field=None, batch_size=3)
    same_both_ways(mariadb, "SELECT * FROM k", pk_field="k", after=("b",))


def test_a_tracking_column_orders_the_rows_and_ends_each_position(mariadb: Database) -> None:
    """Change sync reads by (tracking column, key); the batch's last position is the checkpoint, both ways."""
    mariadb.execute("CREATE TABLE c (id INT PRIMARY KEY, updated DATETIME(3) NULL, v VARCHAR(10))")
    mariadb.execute(
        "INSERT INTO c VALUES (1, '2024-01-02 00:00:00', 'a'), (2, NULL, 'b'), (3, '2024-01-01 00:00:00.5', 'c'),"
        " (4, '2024-01-02 00:00:00', 'd'), (5, NULL, 'e'), (6, '2023-12-31 23:59:59', 'f')"
    )
    batches = same_both_ways(mariadb, "SELECT * FROM c", tracking="updated", batch_size=2)
    assert [batch[4] for batch in batches[1:]] == [
        (None, 5),
        (dt.datetime(2024, 1, 1, 0, 0, 0, 500000), 3),
        (dt.datetime(2024, 1, 2), 4),
    ]
    same_both_ways(mariadb, "SELECT * FROM c", tracking="updated", after=(dt.datetime(2024, 1, 1), 0))


def test_transforms_left_to_python(mariadb: Database) -> None:
    mariadb.execute("CREATE TABLE g (id INT PRIMARY KEY, lat DOUBLE, lon DECIMAL(9,3), day VARCHAR(20), tm TIME)")
    mariadb.execute(
        "INSERT INTO g VALUES (1, 53.27, -9.05, '2024-02-29 08:30:00', '10:00:00'), (2, NULL, 1, NULL, NULL),"
        " (3, 95, 1, '2024-13-01 00:00:00', '-01:00:00'), (4, 1, 1, 'garbage', '00:00:01')"
    )
    transforms = tuple(
        Transform.model_validate(t)
        for t in (
            {"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"},
            {
                "input": [{"source": "day"}],
                "output": "day",
                "transform": "date",
                "params": {"format": "yyyy-MM-dd HH:mm:ss"},
            },
            {"input": [{"source": "tm"}, {"value": "!"}], "output": "said", "transform": "concat"},
        )
    )
    batches = same_both_ways(mariadb, "SELECT * FROM g", transforms=transforms, batch_size=2)
    assert [r[0] for batch in batches[1:] for r in batch[2]] == ["3", "4"]


def test_doubles_and_floats_are_written_as_orjson_writes_them(mariadb: Database) -> None:
    """Thousands of doubles (random bits, magnitudes, integers) through ``double_json`` against orjson."""
    rnd = random.Random(7)
    values = [0.0, 1.0, -45.0, 1e15, 1e16, 1.5e15, 9.999999999999998e15, 1e-5, 1e-6, 1e-7, 9.99e-6, 5e-324, 1e308]
    while len(values) < 3000:
        kind = rnd.random()
        if kind < 0.3:
            x = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
        elif kind < 0.6:
            x = rnd.uniform(-1, 1) * 10 ** rnd.randint(-25, 25)
        elif kind < 0.8:
            x = float(rnd.randint(-(10 ** rnd.randint(1, 18)), 10 ** rnd.randint(1, 18)))
        else:
            x = round(rnd.uniform(-1000, 1000), rnd.randint(0, 6)) * 10 ** rnd.randint(-12, 18)
        if math.isfinite(x):
            values.append(x)
    mariadb.execute("CREATE TABLE dbl (i INT PRIMARY KEY, v DOUBLE, f FLOAT)")
    in_float = [v if v == 0 or 1e-37 < abs(v) < 3e38 else None for v in values]
    mariadb.execute("INSERT INTO dbl VALUES (%s, %s, %s)", list(zip(range(len(values)), values, in_float, strict=True)))
    with mariadb.engine.connect() as conn:
        for column, of_text in (("v", "v"), ("f", "CAST(CAST(f AS CHAR) AS DOUBLE)")):
            rows = conn.exec_driver_sql(
                f"SELECT {column}, CAST({double_json(of_text).replace('%', '%%')} AS BINARY) FROM dbl WHERE {column} IS NOT NULL"
            ).all()
            assert [(orjson.dumps(value), written) for value, written in rows if orjson.dumps(value) != written] == []


row_values = st.fixed_dictionaries(
    {
        "i": st.none() | st.integers(-(2**31), 2**31 - 1),
        "d": st.none() | st.decimals(min_value=-(10**11), max_value=10**11, places=8, allow_nan=False),
        "f": st.none() | st.floats(allow_nan=False, allow_infinity=False),
        "dt": st.none() | st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)),
        "tm": st.none() | st.timedeltas(min_value=-dt.timedelta(hours=838), max_value=dt.timedelta(hours=838)),
        "s": st.none() | st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
        "b": st.none() | st.binary(max_size=20),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_values, min_size=1, max_size=6))
def test_any_rows_render_as_python_writes_them(mariadb: Database, rows: list[dict[str, Any]]) -> None:
    mariadb.execute("DROP TABLE IF EXISTS p")
    mariadb.execute(
        "CREATE TABLE p (id INT PRIMARY KEY, i INT, d DECIMAL(20,8), f DOUBLE, dt DATETIME(6), tm TIME(6),"
        " s VARCHAR(40), b VARBINARY(40)) CHARACTER SET utf8mb4"
    )
    mariadb.execute(
        "INSERT INTO p VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [(n, *(row[c] for c in ("i", "d", "f", "dt", "tm", "s", "b"))) for n, row in enumerate(rows)],
    )
    same_both_ways(mariadb, "SELECT * FROM p", batch_size=4)


# ---------------------------------------------------------------- whole runs, with the switch


def test_a_run_writes_the_same_documents_with_the_switch_off(
    api: testing.TestClient, mariadb: Database, es: Elasticsearch, es_url: str, runtime: Any, target_prefix: str
) -> None:
    mariadb.execute(f"CREATE TABLE t ({TYPES}) CHARACTER SET utf8mb4")
    with loose_dates(mariadb) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES " + ", ".join(EDGE_ROWS))
    api.simulate_put(f"{BASE}/datasource/my", json={"jdbc": {"url": mariadb.jdbc_url, "timezone": "Etc/GMT-2"}})
    documents = {}
    for server_rendering in (True, False):
        target = f"{target_prefix}r{int(server_rendering)}"
        define(api, mariadb, f"r{int(server_rendering)}", datasource="my", query="SELECT * FROM t", target=target,
               pk_field="id", max_error_ratio=1.0)  # fmt: skip
        with worker_rendering(runtime, server_rendering=server_rendering):
            final = run(api, f"r{int(server_rendering)}")
        assert final["state"] == "successful", final.get("error")
        assert bookkeeping(runtime, final).server_rendering is server_rendering
        es.indices.refresh(index=target)
        hits = es.search(index=target, size=100)["hits"]["hits"]
        documents[server_rendering] = {h["_id"]: raw_source(es_url, target, h["_id"]) for h in hits}
        documents[f"counts {server_rendering}"] = (
            final["count"],
            final["error_count"],
            final.get("last_record"),
            final["last_id"],
        )
    assert documents[True] == documents[False]
    assert documents["counts True"] == documents["counts False"], documents["counts True"]
    # Row 1's BIGINT UNSIGNED maximum is beyond a long: refused by the mapping, like the zero dates of rows 2 and 5.
    assert sorted(documents[True]) == ["3", "4"]
    assert documents[True]["4"]["d"] == Decimal("-0.00000100")
    assert documents[True]["4"]["dt"] == "0001-01-01T00:00:00.000001+02:00"
