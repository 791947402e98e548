"""Own the download of a run's errors report: NDJSON lines, or CSV that no spreadsheet runs.

NDJSON is exact. CSV is for people opening it in a spreadsheet, which runs
a cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR as a formula
(CSV injection, OWASP). Every field is quoted, and such a start gets a ``'``
(a spreadsheet shows the rest as text) wherever a cell can begin: at the
start of a value, and after a ``;``, tab or line break inside it, because a
spreadsheet whose list separator is ``;`` (Excel in most European locales)
splits the line there whatever the quotes say. Spaces and double quotes
before the character do not save it (a reader may trim the one and take the
other for quoting), so the ``'`` goes after them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import orjson

from connector.job_service import JobService

# Where a cell may begin (the value's start, or after ';', tab, CR, LF), then spaces or quotes, then a
# formula character. The sets are disjoint, so each character is scanned once or twice: linear time.
_CELL_START_FORMULA = re.compile(r"(^|[;\t\r\n])([ \"]*)(?=[=+\-@\t\r])")
_CHUNK_BYTES = 64 * 1024
ERROR_FIELDS = ("seq", "pk", "field", "error_type", "reason", "time")  # of each rejected row, in this order


def download(service: JobService, job_type: str, job_id: str, run_id: str, *, fmt: str) -> Iterator[bytes]:
    """The run's rejected rows as NDJSON or CSV chunks, streamed page by page; NotFound before the first."""
    service.run(job_type, job_id, run_id)
    rows = service.jobs.rejections(run_id)
    if fmt == "ndjson":
        return (orjson.dumps({k: row.get(k) for k in ERROR_FIELDS}) + b"\n" for row in rows)
    return csv_chunks(rows)


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell that no spreadsheet reads as a formula (a leading quote keeps it text)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _CELL_START_FORMULA.sub(r"\1\2'", value)
    return value  # numbers are numbers: -5 is not a formula


def csv_chunks(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """A header line, then one line per row, every field quoted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(ERROR_FIELDS)
    for row in rows:
        writer.writerow([csv_cell(row.get(k)) for k in ERROR_FIELDS])
        if buffer.tell() > _CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
