"""Benchmark change sync (SPEC §10): what an incremental run reads, and a reconcile's time and memory.

    python -m bench.change_sync --rows 1000000 --changed 0.01

1. An INCREMENTAL ingestion with ``tracking_column`` loads a PostgreSQL table
   of ``--rows`` rows (the full first run), then ``--changed`` of its rows are
   updated and the next run reads them: rows read and seconds, side by side.
   The bulk requests go to the nginx sink (``bench/sink.py``), everything
   else to the Elasticsearch-API server; a real ``connector worker`` process
   runs both.
2. A reconcile over ``--rows`` keys with ``--changed`` of the rows deleted,
   in its own process (peak RSS is that process's), against a stand-in for
   the target that serves N sorted keys (``bench/keys_server.py``), for a
   tenth of the rows and for all of them: memory must not grow with the table.

Prints a table and writes it as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from api.dev_stack import EmbeddedSearch
from bench.procstat import usage
from bench.run import PG_URL, RESULTS, EngineBench
from bench.sink import BulkSink

OVERLAP_S = 300


def _table(pg: sa.Engine, name: str, rows: int) -> None:
    with pg.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.exec_driver_sql(
            f"CREATE TABLE {name} AS SELECT g AS id, 'row ' || g AS name, mod(g, 1000) AS qty,"
            f" timestamptz '2025-01-01' + mod(g, 86400) * interval '1 second' AS updated_at"
            f" FROM generate_series(1, {rows}) g"
        )
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
        conn.exec_driver_sql(f"CREATE INDEX {name}_sync ON {name} (updated_at NULLS FIRST, id)")
        conn.exec_driver_sql(f"ANALYZE {name}")


def incremental(pg: sa.Engine, sink_url: str, rows: int, changed: float) -> list[dict[str, Any]]:
    table = f"sync_bench_{rows}"
    _table(pg, table, rows)
    bench = EngineBench(sink_url)
    ingest = {
        "datasource": "pg",
        "query": f"SELECT id, name, qty, updated_at FROM {table}",
        "target": "sync-bench",
        "strategy": "INCREMENTAL",
        "pk_field": "id",
        "tracking_column": "updated_at",
        "tracking_overlap": OVERLAP_S,
        "batch_size": 5000,
    }
    bench.runtime.ingestions.put("sync", {"ingest": ingest})
    worker = bench._worker()
    results = []
    try:
        for label in ("full first run", f"incremental, {changed:.0%} changed"):
            if results:
                every = round(1 / changed)
                with pg.begin() as conn:
                    conn.exec_driver_sql(
                        f"UPDATE {table} SET qty = qty + 1, updated_at = now() WHERE mod(id, {every}) = 0"
                    )
            bench.runtime.ingestions.run("sync", None)
            status = bench._wait_ended(["sync"])["sync"]
            if status.state.value != "successful":
                raise SystemExit(f"{label}: {status.fields()}")
            assert status.start_time is not None and status.end_time is not None
            results.append(
                {
                    "case": label,
                    "table_rows": rows,
                    "rows_read": status.count,
                    "seconds": (status.end_time - status.start_time) / 1000,
                    "peak_rss_mb": usage(worker.pid).peak_rss_mb,
                }
            )
    finally:
        worker.terminate()
        worker.wait(30)
        bench.close()
    return results


def reconcile_case(pg: sa.Engine, rows: int, deleted: float) -> dict[str, Any]:
    table = f"keys_bench_{rows}"
    every = round(1 / deleted)
    with pg.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(
            f"CREATE TABLE {table} AS SELECT g AS id FROM generate_series(1, {rows}) g WHERE mod(g, {every}) <> 0"
        )
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
        conn.exec_driver_sql(f"ANALYZE {table}")
    server = subprocess.Popen([sys.executable, "-m", "bench.keys_server", str(rows)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = orjson.loads(server.stdout.readline())["url"]
        out = subprocess.run(
            [sys.executable, "-m", "bench.change_sync", "--reconcile-child", table, url, str(deleted * 2)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        server.terminate()
        server.wait(10)
    result = orjson.loads(out.stdout.strip().splitlines()[-1])
    return {"case": f"reconcile, {deleted:.0%} deleted", "table_rows": rows, **result}


def reconcile_child(table: str, es_url: str, max_ratio: float) -> None:
    """In its own process: one reconcile, then its counts, seconds and this process's peak RSS."""
    from connector.es_client import create_client
    from connector.settings import load_settings
    from ingestion.sink.bulk_writer import BulkWriter
    from ingestion.sink.reconcile import reconcile
    from ingestion.source.query_template import RenderedQuery

    settings = load_settings(environ={"CONNECTOR_ES_URL": es_url, "CONNECTOR_ES_COMPATIBILITY_MODE": "on"})
    es, _ = create_client(settings.elasticsearch, wait=False)
    writer = BulkWriter(es, "keys", max_bytes=10 << 20, max_retries=0, backoff_initial_s=0.1, backoff_max_s=0.1)
    engine = sa.create_engine(PG_URL)
    started = time.monotonic()
    with engine.connect() as conn:
        outcome = reconcile(
            conn,
            es,
            writer,
            query=RenderedQuery(f"SELECT id FROM {table}"),
            target="keys",
            key="id",
            key_db_type="int4",
            max_delete_ratio=max_ratio,
        )
    seconds = time.monotonic() - started
    me = usage(os.getpid())
    print(
        orjson.dumps(
            {
                "documents": outcome.documents,
                "rows_read": outcome.documents,
                "deleted": outcome.deleted,
                "seconds": seconds,
                "peak_rss_mb": me.peak_rss_mb,
            }
        ).decode()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of rows changed, then deleted")
    parser.add_argument("--reconcile-child", nargs=3, metavar=("TABLE", "URL", "RATIO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reconcile_child:
        table, url, ratio = args.reconcile_child
        reconcile_child(table, url, float(ratio))
        return
    pg = sa.create_engine(PG_URL)
    search = EmbeddedSearch.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sink = BulkSink(Path(tmp) / "sink", search.url)
            try:
                results = incremental(pg, sink.url, args.rows, args.changed)
            finally:
                sink.stop()
        for rows in sorted({max(1000, args.rows // 10), args.rows}):
            results.append(reconcile_case(pg, rows, args.changed))
    finally:
        search.stop()
        pg.dispose()
    print(f"{'case':34} {'table rows':>12} {'rows read':>12} {'seconds':>9} {'peak RSS MB':>12}")
    for r in results:
        numbers = f"{r['table_rows']:>12,} {r['rows_read']:>12,} {r['seconds']:>9.2f} {r['peak_rss_mb']:>12.1f}"
        print(f"{r['case']:34} {numbers}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"change_sync-{stamp}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
