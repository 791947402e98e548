"""Read-ahead batches sized by rows and by bytes, on a real SQLite cursor."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal

import pytest

from ingestion.source.prefetch import Prefetcher, row_bytes

pytestmark = pytest.mark.unit


@pytest.fixture
def cursor() -> Iterator[sqlite3.Cursor]:
    """300 narrow rows, then 700 rows of about 1 kB."""
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" if i <= 300 else "y" * 1000) for i in range(1, 1001)])
    yield db.execute("SELECT id, body FROM t ORDER BY id")
    db.close()


def read_all(reader: Prefetcher) -> list[list[tuple[int, str]]]:
    batches = []
    while rows := reader.next():
        batches.append(list(rows))
    reader.close()
    return batches


def test_batches_shrink_to_the_byte_budget_and_every_row_comes_once(cursor: sqlite3.Cursor) -> None:
    batches = read_all(Prefetcher(cursor.fetchmany, 100, max_bytes=20_000))
    assert [row[0] for batch in batches for row in batch] == list(range(1, 1001))
    sizes = [len(batch) for batch in batches]
    assert sizes[:4] == [100, 100, 100, 100]  # narrow rows: batch_size; the 4th batch is the first wide one
    assert set(sizes[4:-1]) == {19}  # 20,000 bytes / ~1,010 bytes a row as JSON
    assert max(len(str(batch)) for batch in batches[4:]) < 21_000


def test_without_a_byte_budget_batches_are_batch_size(cursor: sqlite3.Cursor) -> None:
    assert [len(batch) for batch in read_all(Prefetcher(cursor.fetchmany, 300))] == [300, 300, 300, 100]


def test_row_bytes_of_any_value_or_none() -> None:
    zoned_time = dt.time(10, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # orjson alone refuses it
    assert row_bytes([(1, zoned_time, {1: "a"}, Decimal("1.5"), b"x")]) == len(
        '[[1,"10:30:00+02:00",{"1":"a"},"1.5","b\'x\'"]]'
    )
    assert row_bytes([(2**70,)]) is None  # orjson refuses it, str() or not: the batch keeps its size


def test_row_bytes_is_the_json_size() -> None:
    assert row_bytes([(1, "ab")] * 500) == pytest.approx(len('[1,"ab"],'), abs=0.1)  # and the sample's brackets
