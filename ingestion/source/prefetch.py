"""Own read-ahead: the next batch of rows is fetched while the current one is indexed.

Fetching waits on the database (for rows it computes or renders) and
indexing waits on Elasticsearch; doing both at once keeps both busy. One
thread reads batches into a one-slot queue, so memory holds at most three
batches (being fetched, waiting, being indexed). The connection is used by
that thread alone while the stream is open.

A batch is ``batch_size`` rows, fewer when rows are wide: after each batch
the next one is sized to about ``max_bytes`` of row data (measured on a
sample of the batch as JSON), so that memory is bounded in bytes as well.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import orjson

SAMPLE_ROWS = 50  # rows of a batch measured to size the next one


def row_bytes(rows: Sequence[Any]) -> float | None:
    """The mean size of ``rows`` as JSON, from a sample spread over them; None if it cannot tell."""
    sample = [list(row) for row in rows[:: max(1, len(rows) // SAMPLE_ROWS)]]
    try:
        return len(orjson.dumps(sample, default=str, option=_ANY_VALUE)) / len(sample)
    except TypeError:  # orjson.JSONEncodeError: a value even str() does not help with (an int over 64 bits)
        return None


_ANY_VALUE = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS  # dates, times with zones: str()


class Prefetcher:
    """Batches read ahead by a thread; or, with ``ahead=False``, read when asked (same sizes).

    Reading ahead pays when the database works in another process. An
    in-process database (SQLite) computes rows under the caller's GIL: a
    second thread only makes the two hand the GIL back and forth (sqlite3
    releases it around every row's step), so there it reads in the caller.
    """

    def __init__(
        self,
        fetch: Callable[[int], Sequence[Any]],
        batch_size: int,
        *,
        max_bytes: int | None = None,
        ahead: bool = True,
    ) -> None:
        self._fetch = fetch
        self._batch_size = batch_size
        self._max_bytes = max_bytes
        self._size = batch_size
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._ahead = ahead
        if ahead:
            self._thread.start()

    def _run(self) -> None:
        size = self._batch_size
        try:
            while not self._stop.is_set():
                rows = self._fetch(size)
                size = self._next_size(rows, size)
                self._put(rows)
                if not rows:
                    return
        except BaseException as ex:  # noqa: BLE001 - handed to the reading thread, which raises it
            self._put(ex)

    def _next_size(self, rows: Sequence[Any], size: int) -> int:
        """Rows to fetch next: ``batch_size``, or fewer when that is more than ``max_bytes`` of rows like these."""
        measured = row_bytes(rows) if rows and self._max_bytes is not None else None
        if measured is None or self._max_bytes is None:
            return size
        return max(1, min(self._batch_size, int(self._max_bytes / max(measured, 1.0))))

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next(self) -> Sequence[Any]:
        """The next batch (empty at the end); re-raises what the fetching thread raised."""
        if not self._ahead:
            fetched = self._fetch(self._size)
            self._size = self._next_size(fetched, self._size)
            return fetched
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        rows: Sequence[Any] = item
        return rows

    def close(self) -> None:
        """Stop reading ahead; returns once the fetching thread is done with the connection."""
        self._stop.set()
        if not self._ahead:
            return
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        self._thread.join()
