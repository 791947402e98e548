"""Raw fetch limit (bench code): the driver's streaming cursor read to the end, rows discarded.

PostgreSQL: a psycopg named cursor; MariaDB: a PyMySQL unbuffered ``SSCursor``;
SQLite: a sqlite3 cursor (``bench/drivers.py``).

Usage: python -m bench.rawfetch <driver-url> <table>; prints JSON.
"""

from __future__ import annotations

import sys
import time

from bench.drivers import BATCH, streaming_cursor
from bench.procstat import report


def main() -> None:
    url, table = sys.argv[1:3]
    started = time.monotonic()
    rows = 0
    with streaming_cursor(url, table) as cursor:
        while batch := cursor.fetchmany(BATCH):
            rows += len(batch)
    report(rows, started)


if __name__ == "__main__":
    main()
