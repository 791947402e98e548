"""Naive baseline: SQLAlchemy streaming + elasticsearch.helpers.streaming_bulk (bench code only).

Usage: python -m bench.naive <sqlalchemy-url> <table> <es-url>; prints JSON.
"""

from __future__ import annotations

import sys
import time

import sqlalchemy as sa
from elasticsearch import Elasticsearch, helpers

from bench.procstat import report
from connector.es_client import PlainJsonNode


def main() -> None:
    url, table, es_url = sys.argv[1:4]
    engine = sa.create_engine(url)
    es = Elasticsearch(es_url, node_class=PlainJsonNode)
    started = time.monotonic()
    rows = 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=5000).execute(
            sa.text(f"SELECT * FROM {table}")
        )
        actions = ({"_index": "naive", "_id": row.id, "_source": row._asdict()} for row in result)
        for ok, _ in helpers.streaming_bulk(es, actions, chunk_size=5000, max_retries=0):
            rows += ok
    report(rows, started)


if __name__ == "__main__":
    main()
