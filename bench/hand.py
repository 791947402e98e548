"""Hand-tuned single-thread pipeline (bench code, not product code): the speed compass.

The driver's streaming cursor (psycopg named cursor; PyMySQL unbuffered
``SSDictCursor``; sqlite3), orjson per row, raw `_bulk` bodies of 5000
documents with pre-built action lines, one urllib3 connection. No status, no
abort checks, no retries, no type fidelity beyond orjson's defaults (naive
timestamps without an offset, decimals as floats).

Usage: python -m bench.hand <driver-url> <table> <sink-url>; prints JSON.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from typing import Any

import orjson
import urllib3

from bench.drivers import BATCH, column_names, streaming_cursor
from bench.procstat import report


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError


def main() -> None:
    url, table, sink = sys.argv[1:4]
    http = urllib3.PoolManager(maxsize=1)
    target = f"{sink}/hand/_bulk?filter_path=errors"
    headers = {"Content-Type": "application/x-ndjson"}
    started = time.monotonic()
    rows = 0
    dicts = url.startswith("mysql:")  # SSDictCursor: the row is the document
    with streaming_cursor(url, table, dicts=dicts) as cursor:
        names = column_names(cursor)
        while batch := cursor.fetchmany(BATCH):
            lines = []
            if dicts:
                for doc in batch:
                    lines.append(b'{"index":{"_id":"%d"}}' % doc["id"])
                    lines.append(orjson.dumps(doc, default=_default))
            else:
                for row in batch:
                    lines.append(b'{"index":{"_id":"%d"}}' % row[0])
                    lines.append(orjson.dumps(dict(zip(names, row, strict=True)), default=_default))
            body = b"\n".join(lines) + b"\n"
            response = http.request("POST", target, body=body, headers=headers)
            assert response.status == 200, response.data
            rows += len(batch)
    report(rows, started)


if __name__ == "__main__":
    main()
