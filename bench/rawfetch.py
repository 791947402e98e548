"""Raw fetch limit (bench code): a psycopg named cursor read to the end, rows discarded.

Usage: python -m bench.rawfetch <postgres-url> <table>; prints JSON.
"""

from __future__ import annotations

import os
import sys
import time

import orjson
import psycopg

from bench.procstat import usage


def main() -> None:
    url, table = sys.argv[1:3]
    started = time.monotonic()
    rows = 0
    with (
        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn,
        conn.cursor(name="raw") as cursor,
    ):
        cursor.itersize = 5000
        cursor.execute(f"SELECT * FROM {table}")
        while batch := cursor.fetchmany(5000):
            rows += len(batch)
    elapsed = time.monotonic() - started
    me = usage(os.getpid())
    print(orjson.dumps({"rows": rows, "seconds": elapsed, "peak_rss_mb": me.peak_rss_mb, "cpu_s": me.cpu_s}).decode())


if __name__ == "__main__":
    main()
