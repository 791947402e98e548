"""Plain DB-API cursors for the baseline scripts, by URL scheme (bench code).

``postgresql://...`` a psycopg named (server-side) cursor; ``mysql://...`` a
PyMySQL unbuffered cursor (``SSCursor``, or ``SSDictCursor`` with ``dicts``);
``sqlite:///path`` a sqlite3 cursor. Each streams: memory does not grow with
the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

BATCH = 5000


@contextmanager
def streaming_cursor(url: str, table: str, *, dicts: bool = False) -> Iterator[Any]:
    """A cursor executing ``SELECT * FROM table``, read with ``fetchmany(BATCH)``."""
    scheme = url.split(":", 1)[0]
    if scheme == "mysql":
        import pymysql
        import pymysql.cursors

        parts = urlsplit(url)
        conn = pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            database=parts.path.lstrip("/"),
            charset="utf8mb4",
        )
        try:
            cursor = conn.cursor(pymysql.cursors.SSDictCursor if dicts else pymysql.cursors.SSCursor)
            cursor.execute(f"SELECT * FROM {table}")
            yield cursor
            cursor.close()
        finally:
            conn.close()
    elif scheme == "sqlite":
        import sqlite3

        conn3 = sqlite3.connect(url.removeprefix("sqlite:///"))  # sqlite:////abs/path -> /abs/path
        try:
            cursor = conn3.execute(f"SELECT * FROM {table}")
            yield cursor
        finally:
            conn3.close()
    else:
        import psycopg

        with psycopg.connect(url) as pg, pg.cursor(name="bench") as named:
            named.itersize = BATCH
            named.execute(f"SELECT * FROM {table}")
            yield named


def column_names(cursor: Any) -> list[str]:
    return [d[0] for d in cursor.description]
