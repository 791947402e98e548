"""Run the benchmark: the engine through the real run lifecycle beside baselines, same data, same sink.

    python -m bench.run --rows 1000000                 # narrow table: all cases
    python -m bench.run --rows 1000000 --wide          # the 40-column table
    python -m bench.run --rows 10000000 --cases engine # memory at 10M rows
    python -m bench.run --rows 1000000 --cases abort   # abort latency at full speed
    python -m bench.run --rows 1000000 --cases engine,halves  # one run vs two runs over half the keys each
    python -m bench.run --rows 1000000 --cases partitions-1,partitions-2,partitions-4  # SPEC §15
    python -m bench.run --rows 20000 --cases check     # correctness against the Elasticsearch-API server
    python -m bench.run --db pg,mariadb,sqlite --cases raw,hand,naive,engine,engine-python  # the three side by side

Cases: raw (the driver's streaming cursor, rows discarded: the fetch limit),
hand (hand-tuned single-thread pipeline, bench/hand.py), naive (SQLAlchemy
streaming + helpers.streaming_bulk), engine (an ingestion run: `_run` ->
separate `connector worker` process -> job log), engine-python (the same with
ingestion.server_rendering off: every row converted in Python), engine-transforms (the same
with geo_point + date transforms), engine-quiet (status written once an hour:
the cost of status updates), abort (abort requested mid-run at full speed),
halves (two runs at once over the two halves of the keys, two worker
processes: the most a partitioned mode could gain on this machine),
partitions-N (one run with ``partitions: N``, two worker processes sharing its
ranges), check
(correctness, not speed: the engine into the Elasticsearch-API server itself,
then documents counted and compared with their rows; no nginx needed).

Databases (--db): pg (CONNECTOR_BENCH_PG_URL, default the local test
database), mariadb (CONNECTOR_BENCH_MYSQL_URL, default root@127.0.0.1:3306/test)
and sqlite (a file under CONNECTOR_BENCH_SQLITE_DIR, default
/tmp/connector-bench), the same 8-column rows in each; the 40-column table is
PostgreSQL's only. Prints a table (rows/s, ratio to hand and to naive of the
same database, peak RSS, CPU seconds per million rows) and writes it as JSON
under bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from api.dev_stack import EmbeddedSearch
from api.runtime import Runtime
from bench.datasets import mariadb_narrow_table, narrow_table, sqlite_narrow_table, wide_table
from bench.procstat import usage
from bench.sink import BulkSink
from connector.crypto import SecretBox
from connector.job_state import RunStatus
from connector.settings import load_settings

PG_URL = os.environ.get("CONNECTOR_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("CONNECTOR_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SQLITE_DIR = Path(os.environ.get("CONNECTOR_BENCH_SQLITE_DIR", "/tmp/connector-bench"))
RESULTS = Path(__file__).resolve().parent / "results"
RUN_TIMEOUT_S = 3600  # an engine run of the largest table takes minutes
ALL_CASES = ("raw", "hand", "naive", "engine", "engine-python", "engine-transforms", "engine-quiet")
DATABASES = ("pg", "mariadb", "sqlite")


@dataclass(frozen=True)
class Source:
    """A database of the benchmark: its SQLAlchemy URL (engine, naive) and its driver URL (raw, hand)."""

    db: str
    url: str

    @property
    def driver_url(self) -> str:
        return (
            sa.make_url(self.url)
            .set(drivername=self.url.split("+")[0].split(":")[0])
            .render_as_string(hide_password=False)
        )

    def table(self, rows: int, *, wide: bool) -> str:
        if self.db == "mariadb":
            return mariadb_narrow_table(sa.create_engine(self.url), rows)
        if self.db == "sqlite":
            return sqlite_narrow_table(SQLITE_DIR / "bench.db", rows)
        return (wide_table if wide else narrow_table)(sa.create_engine(self.url), rows)


def source(db: str) -> Source:
    urls = {"pg": PG_URL, "mariadb": MYSQL_URL, "sqlite": f"sqlite:///{SQLITE_DIR / 'bench.db'}"}
    return Source(db, urls[db])


TRANSFORMS = [
    {"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"},
    {
        "input": [{"source": "day"}],
        "output": "day_at",
        "transform": "date",
        "params": {"format": "yyyy-MM-dd HH:mm:ss"},
    },
]


def _script(module: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=True)
    return orjson.loads(out.stdout.strip().splitlines()[-1])


class EngineBench:
    """One ingestion definition per case; a fresh `connector worker` process per run."""

    def __init__(self, sink_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.env = {
            "CONNECTOR_ES_URL": sink_url,
            "CONNECTOR_SECRET_KEY": SecretBox.generate_key(),
            "CONNECTOR_INDEX_PREFIX": f".bench{time.time_ns()}-",
            "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
            "CONNECTOR_LOG_LEVEL": "WARNING",
            "CONNECTOR_SQL_SQLITE_ROOTS": orjson.dumps([str(SQLITE_DIR)]).decode(),
            **(extra_env or {}),
        }
        self.runtime = Runtime.build(load_settings(environ=self.env))
        self.db = "pg"
        for db in DATABASES:
            url = sa.make_url(source(db).url).render_as_string(hide_password=False)
            self.runtime.datasources.put(db, {"sql": {"url": url}}, overwrite=True)

    def _define(self, name: str, query: str, *, transforms: bool = False, partitions: int | None = None) -> None:
        ingest: dict[str, Any] = {
            "datasource": self.db,
            "query": query,
            "target": name,
            "strategy": "REPLACE",
            "pk_field": "id",
            "batch_size": 5000,
        }
        if transforms:
            ingest["transforms"] = TRANSFORMS
        if partitions is not None:
            ingest["partitions"] = partitions
        self.runtime.ingestions.put(name, {"ingest": ingest})

    def _worker(self, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}, **self.env, **env},
        )

    def halves(self, table: str, rows: int) -> dict[str, Any]:
        """Two runs at once, each over half of the keys, each in its own worker process.

        What a partitioned mode (one run split by key ranges across workers)
        could reach at best on this machine: nothing shared but the machine.
        """
        middle = rows // 2
        self._define("bench-low", f"SELECT * FROM {table} WHERE id <= {middle}")
        self._define("bench-high", f"SELECT * FROM {table} WHERE id > {middle}")
        one_run_each = {"CONNECTOR_WORKER_MAX_CONCURRENT_RUNS": "1"}  # else the first to poll takes both
        workers = [self._worker(**one_run_each), self._worker(**one_run_each)]
        try:
            for name in ("bench-low", "bench-high"):
                self.runtime.ingestions.run(name, None)
            statuses = self._wait_ended(["bench-low", "bench-high"])
            measured = [usage(worker.pid) for worker in workers]
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(30)
        if (
            any(s.state.value != "successful" for s in statuses.values())
            or sum(s.count for s in statuses.values()) != rows
        ):
            raise SystemExit(f"the two runs did not ingest every row: {[s.fields() for s in statuses.values()]}")
        if len({s.worker for s in statuses.values()}) != 2:
            raise SystemExit(f"one worker ran both halves: {[s.worker for s in statuses.values()]}")
        started = min(s.start_time for s in statuses.values() if s.start_time is not None)
        ended = max(s.end_time for s in statuses.values() if s.end_time is not None)
        return {
            "rows": rows,
            "seconds": (ended - started) / 1000,
            "peak_rss_mb": max(m.peak_rss_mb for m in measured),
            "cpu_s": sum(m.cpu_s for m in measured),
        }

    def partitioned(self, table: str, rows: int, partitions: int) -> dict[str, Any]:
        """One run with ``partitions: N`` (SPEC §15), two `connector worker` processes sharing its ranges."""
        name = f"bench-p{partitions}"
        self._define(name, f"SELECT * FROM {table}", partitions=partitions)
        workers = [self._worker(), self._worker()]
        try:
            self.runtime.ingestions.run(name, None)
            status = self._wait_ended([name])[name]
            measured = [usage(worker.pid) for worker in workers]
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(30)
        if status.state.value != "successful" or status.count != rows:
            raise SystemExit(f"partitioned run did not ingest every row: {status.fields()}")
        ranges = status.partitions or []
        seconds = (status.end_time - status.start_time) / 1000  # type: ignore[operator]
        return {
            "rows": status.count,
            "seconds": seconds,
            "peak_rss_mb": max(m.peak_rss_mb for m in measured),
            "cpu_s": sum(m.cpu_s for m in measured),
            "ranges": [r["count"] for r in ranges],
            "workers": len({r.get("worker") for r in ranges}),
        }

    def run(
        self,
        table: str,
        rows: int,
        *,
        transforms: bool = False,
        abort_after_s: float | None = None,
        python_only: bool = False,
    ) -> dict[str, Any]:
        self._define("bench", f"SELECT * FROM {table}", transforms=transforms)
        worker = self._worker(**({"CONNECTOR_INGESTION_SERVER_RENDERING": "false"} if python_only else {}))
        try:
            self.runtime.ingestions.run("bench", None)
            abort_at = None

            def abort_when_due(running: RunStatus) -> None:
                nonlocal abort_at
                running_for_ms = time.time() * 1000 - (running.start_time or time.time() * 1000)
                if abort_after_s and abort_at is None and running.count > 0 and running_for_ms >= abort_after_s * 1000:
                    abort_at = time.time()
                    self.runtime.job_service.abort("ingestion", "bench")

            status = self._wait_ended(["bench"], while_running=abort_when_due)["bench"]
            measured = usage(worker.pid)
        finally:
            worker.terminate()
            worker.wait(30)
        if abort_after_s:
            assert status.state.value == "aborted", status.fields()
            assert abort_at is not None and status.end_time is not None
            return {
                "rows": status.count,
                "seconds": (status.end_time - status.start_time) / 1000,
                "abort_latency_s": status.end_time / 1000 - abort_at,
                "peak_rss_mb": measured.peak_rss_mb,
                "cpu_s": measured.cpu_s,
            }
        if status.state.value != "successful" or status.count != rows:
            raise SystemExit(f"engine run did not ingest every row: {status.fields()}")
        stored = self.runtime.jobs.get_run(status.run_id)
        rendered = stored.status.server_rendering if stored is not None else None
        if python_only and rendered:
            raise SystemExit("engine-python: the run was rendered by the database although server_rendering is off")
        seconds = (status.end_time - status.start_time) / 1000  # type: ignore[operator]
        return {
            "rows": status.count,
            "seconds": seconds,
            "peak_rss_mb": measured.peak_rss_mb,
            "cpu_s": measured.cpu_s,
            "rendered": rendered,
        }

    def _wait_ended(
        self, names: list[str], *, while_running: Callable[[RunStatus], None] | None = None
    ) -> dict[str, RunStatus]:
        """The final status of each named run, polled every 50 ms; gives up after RUN_TIMEOUT_S."""
        ended: dict[str, RunStatus] = {}
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while len(ended) < len(names):
            if time.monotonic() > deadline:
                raise SystemExit(f"runs still going after {RUN_TIMEOUT_S} s: {sorted(set(names) - set(ended))}")
            for name in names:
                status = self.runtime.job_service.status("ingestion", name)
                if status is not None and status.ended:
                    ended[name] = status
                elif status is not None and while_running is not None:
                    while_running(status)
            if len(ended) < len(names):
                time.sleep(0.05)
        return ended

    def close(self) -> None:
        self.runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000000", help="comma list of table sizes")
    parser.add_argument("--wide", action="store_true", help="the 40-column table instead of the 8-column one (pg)")
    parser.add_argument(
        "--cases",
        default=",".join(ALL_CASES),
        help=f"comma list of {', '.join(ALL_CASES)}, abort, halves, partitions-N, check",
    )
    parser.add_argument("--db", default="pg", help=f"comma list of {', '.join(DATABASES)}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is kept")
    args = parser.parse_args()
    cases = args.cases.split(",")
    sources = [source(db) for db in args.db.split(",") if not (args.wide and db != "pg")]
    search = EmbeddedSearch.start()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sink = BulkSink(Path(tmp) / "sink", search.url) if set(cases) - {"check"} else None
        bench = EngineBench(sink.url) if sink else None
        quiet = (
            EngineBench(sink.url, {"CONNECTOR_INGESTION_STATUS_INTERVAL_S": "3600"})
            if sink and "engine-quiet" in cases
            else None
        )
        try:
            for rows in (int(r) for r in args.rows.split(",")):
                for src in sources:
                    table = src.table(rows, wide=args.wide)
                    label = f"{src.db}:{table}"
                    for case in cases:
                        if case == "engine-transforms" and args.wide:
                            continue
                        if case == "check":
                            checked = check(src, table, rows, search.url, args.wide)
                            results.append({"case": case, "table": label, **checked})
                            continue
                        assert sink is not None and bench is not None
                        runs = [_run_case(case, src, table, rows, sink.url, bench, quiet) for _ in range(args.repeat)]
                        best = min(runs, key=lambda r: r["seconds"] / max(r["rows"], 1))
                        results.append({"case": case, "table": label, **best})
        finally:
            for engine_bench in (bench, quiet):
                if engine_bench:
                    engine_bench.close()
            if sink:
                sink.stop()
            search.stop()
    print_table(results)
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


def check(src: Source, table: str, rows: int, search_url: str, wide: bool) -> dict[str, Any]:
    """The engine (transforms on for the narrow table) into the Elasticsearch-API server, for correctness.

    Fails unless every row is a document and the first, middle and last
    documents hold the row's values. Not a speed figure: the test server is slow.
    """
    bench = EngineBench(search_url)
    bench.db = src.db
    try:
        result = bench.run(table, rows, transforms=not wide)  # the run's own count must be `rows`
        es = bench.runtime.es
        es.indices.refresh(index="bench")
        indexed = es.count(index="bench")["count"]
        if indexed != rows:
            raise SystemExit(f"check: {indexed} documents for {rows} rows")
        engine = sa.create_engine(src.url)
        with engine.connect() as conn:
            for key in sorted({1, rows // 2 or 1, rows}):
                row = conn.execute(sa.text(f"SELECT * FROM {table} WHERE id = :id"), {"id": key}).mappings().one()
                _compare(key, dict(row), es.get(index="bench", id=str(key))["_source"], transforms=not wide)
        engine.dispose()
    finally:
        bench.close()
    return result


def _compare(key: int, row: dict[str, Any], doc: dict[str, Any], *, transforms: bool) -> None:
    """Fail unless ``doc`` holds ``row``'s values (moments compared as moments, whatever their offset)."""
    expected = {name: float(value) if isinstance(value, Decimal) else value for name, value in row.items()}
    if transforms:
        expected["location"] = {"lat": row["lat"], "lon": row["lon"]}
        expected["day_at"] = row["day"].replace(" ", "T") + "+00:00"
    moments = {name for name, value in row.items() if isinstance(value, dt.datetime)}
    for name in moments:  # MariaDB's DATETIME is naive: read in the datasource time zone, UTC here
        expected[name] = expected[name] if expected[name].tzinfo else expected[name].replace(tzinfo=dt.UTC)
    got = {name: dt.datetime.fromisoformat(value) if name in moments else value for name, value in doc.items()}
    if got != expected:
        raise SystemExit(f"check: document {key} differs from its row: {got} != {expected}")


def _run_case(
    case: str, src: Source, table: str, rows: int, sink_url: str, bench: EngineBench, quiet: EngineBench | None
) -> dict[str, Any]:
    if case == "raw":
        return _script("bench.rawfetch", src.driver_url, table)
    if case == "hand":
        return _script("bench.hand", src.driver_url, table, sink_url)
    if case == "naive":
        return _script("bench.naive", src.url, table, sink_url)
    engine = quiet if case == "engine-quiet" and quiet is not None else bench
    engine.db = src.db
    if case == "abort":
        return engine.run(table, rows, abort_after_s=2.0)
    if case == "halves":
        return engine.halves(table, rows)
    if case.startswith("partitions-"):
        return engine.partitioned(table, rows, int(case.removeprefix("partitions-")))
    return engine.run(table, rows, transforms=case == "engine-transforms", python_only=case == "engine-python")


def print_table(results: list[dict[str, Any]]) -> None:
    def rate(r: dict[str, Any]) -> float:
        return r["rows"] / r["seconds"] if r["seconds"] else 0.0

    by = {(r["table"], r["case"]): rate(r) for r in results}
    header = ("case", "table", "rows", "rows/s", "x hand", "x naive", "RSS MB", "CPU s/M")
    print(f"{header[0]:18} {header[1]:26} " + " ".join(f"{h:>9}" for h in header[2:]) + " extra")
    for r in results:
        hand = by.get((r["table"], "hand"))
        naive = by.get((r["table"], "naive"))
        extra = f"abort latency {r['abort_latency_s']:.2f} s" if "abort_latency_s" in r else ""
        if "ranges" in r:
            extra = f"rows per range {'/'.join(str(n) for n in r['ranges'])}"
        extra += {True: "rendered by the database", False: "converted in Python"}.get(r.get("rendered"), "")
        print(
            f"{r['case']:18} {r['table']:26} {r['rows']:>9} {rate(r):>9.0f} "
            f"{rate(r) / hand if hand else float('nan'):>7.2f} {rate(r) / naive if naive else float('nan'):>8.2f} "
            f"{r['peak_rss_mb']:>7.1f} {r['cpu_s'] / max(r['rows'], 1) * 1e6:>8.1f} {extra}"
        )


if __name__ == "__main__":
    main()
