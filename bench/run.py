"""Run the benchmark: the engine through the real run lifecycle vs baselines, same data, same sink.

    python -m bench.run --rows 100000,1000000

PostgreSQL from CONNECTOR_BENCH_PG_URL (default: the local test database).
Prints a table of rows/s, ratio to the naive baseline, peak RSS and CPU
seconds per million rows, and writes it as JSON under bench/results/.
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
from api.runtime import Runtime
from bench.datasets import narrow_table
from bench.procstat import usage
from bench.sink import BulkSink
from connector.crypto import SecretBox
from connector.settings import load_settings

PG_URL = os.environ.get("CONNECTOR_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).resolve().parent / "results"


def engine_run(sink_url: str, table: str, rows: int, *, batch_size: int) -> dict[str, Any]:
    """Define and _run an ingestion; a separate `connector worker` process executes it."""
    env = {
        "CONNECTOR_ES_URL": sink_url,
        "CONNECTOR_SECRET_KEY": SecretBox.generate_key(),
        "CONNECTOR_INDEX_PREFIX": f".bench{time.time_ns()}-",
        "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
        "CONNECTOR_LOG_LEVEL": "WARNING",
    }
    runtime = Runtime.build(load_settings(environ=env))
    url = sa.make_url(PG_URL)
    runtime.datasources.put("pg", {"sql": {"url": url.render_as_string(hide_password=False)}}, overwrite=True)
    runtime.ingestions.put(
        "bench",
        {
            "ingest": {
                "datasource": "pg",
                "query": f"SELECT * FROM {table}",
                "target": "bench",
                "strategy": "REPLACE",
                "pk_field": "id",
                "batch_size": batch_size,
            }
        },
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}, **env},
    )
    try:
        runtime.ingestions.run("bench", None)
        while True:
            status = runtime.ingestions.status("bench")
            assert status is not None
            if status.ended:
                break
            time.sleep(0.2)
        measured = usage(worker.pid)
    finally:
        worker.terminate()
        worker.wait(30)
        runtime.close()
    if status.state.value != "successful" or status.count != rows:
        raise SystemExit(f"engine run did not ingest every row: {status.fields()}")
    seconds = (status.end_time - status.start_time) / 1000  # type: ignore[operator]
    return {"rows": status.count, "seconds": seconds, "peak_rss_mb": measured.peak_rss_mb, "cpu_s": measured.cpu_s}


def naive_run(sink_url: str, table: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.naive", PG_URL, table, sink_url], capture_output=True, text=True, check=True
    )
    return orjson.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="100000,1000000", help="comma list of table sizes")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    pg = sa.create_engine(PG_URL)
    search = EmbeddedSearch.start()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sink = BulkSink(Path(tmp) / "sink", search.url)
        try:
            for rows in (int(r) for r in args.rows.split(",")):
                table = narrow_table(pg, rows)
                engine = engine_run(sink.url, table, rows, batch_size=args.batch_size)
                results.append({"case": "engine (REPLACE, real lifecycle)", **engine})
                if not args.skip_naive:
                    naive = naive_run(sink.url, table)
                    results.append({"case": "naive: SQLAlchemy stream + streaming_bulk", **naive})
        finally:
            sink.stop()
            search.stop()
    print_table(results)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


def print_table(results: list[dict[str, Any]]) -> None:
    naive = {r["rows"]: r["rows"] / r["seconds"] for r in results if r["case"].startswith("naive")}
    print(f"{'case':45} {'rows':>9} {'rows/s':>9} {'x naive':>8} {'peak RSS MB':>12} {'CPU s/M rows':>13}")
    for r in results:
        rate = r["rows"] / r["seconds"]
        ratio = f"{rate / naive[r['rows']]:.2f}" if r["rows"] in naive else "-"
        print(
            f"{r['case']:45} {r['rows']:>9} {rate:>9.0f} {ratio:>8} {r['peak_rss_mb']:>12.1f} "
            f"{r['cpu_s'] / r['rows'] * 1e6:>13.1f}"
        )


if __name__ == "__main__":
    main()
