"""Raw fetch limit (bench code): a psycopg named cursor read to the end, rows discarded.

Usage: python -m bench.rawfetch <postgres-conninfo-url> <table>; prints JSON.
"""

from __future__ import annotations

import sys
import time

import psycopg

from bench.procstat import report


def main() -> None:
    url, table = sys.argv[1:3]
    started = time.monotonic()
    rows = 0
    with (
        psycopg.connect(url) as conn,
        conn.cursor(name="raw") as cursor,
    ):
        cursor.itersize = 5000
        cursor.execute(f"SELECT * FROM {table}")
        while batch := cursor.fetchmany(5000):
            rows += len(batch)
    report(rows, started)


if __name__ == "__main__":
    main()
