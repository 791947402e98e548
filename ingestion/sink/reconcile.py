"""Own ``delete.reconcile``: documents whose row is gone are deleted, in bounded memory (SPEC §10).

The query's keys (without any watermark) and the target's documents are
both read in key order — the database by ``ORDER BY pk`` (text keys in byte
order: ``COLLATE "C"``, ``CAST(... AS BINARY)``, SQLite's ``BINARY``), the
target sorted on the key field with ``search_after`` (``_id`` cannot
generally be sorted on; the key is a document field the service writes) —
and merged like two sorted files: a document whose key the query no longer
returns is a candidate. Should either side turn out not to be in the order
the merge assumes, the reconcile stops before deleting anything.

Candidates are spilled to a temporary file, so memory stays bounded by the
page size whatever the table's size. If they are more than
``max_delete_ratio`` of the target's documents, the run fails before
deleting any (an empty or broken source never wipes an index). Otherwise
each chunk is checked once more against the database just before its
deletion — a row inserted meanwhile is not deleted — and deleted through the
run's bulk writer (same retries and accounting; a 404 is success).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import orjson
from elasticsearch import Elasticsearch, NotFoundError
from sqlalchemy import Connection

from connector.doc_store import store_errors
from connector.errors import ConnectorError
from connector.job_store import Rejection
from ingestion.sink.bulk_writer import BulkOutcome, BulkWriter
from ingestion.sink.documents import delete_action
from ingestion.sink.targets import sortable_field
from ingestion.source.query_template import RenderedQuery
from ingestion.source.sql_source import close_quietly, execute_single, stream_query

PAGE_SIZE = 1000
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext", "mysql:VAR_STRING", "mysql:STRING"})


class ReconcileRefused(ConnectorError):
    """The reconcile would delete too much, or could not compare the two sides safely."""

    error_type = "reconcile_exception"


@dataclass(slots=True)
class ReconcileOutcome:
    documents: int = 0  # in the target before
    candidates: int = 0  # documents whose row the query no longer returned
    kept: int = 0  # candidates whose row was back when checked again
    deleted: int = 0
    not_found: int = 0
    rejected: list[Rejection] | None = None


def reconcile(
    conn: Connection,
    es: Elasticsearch,
    writer: BulkWriter,
    *,
    query: RenderedQuery,
    target: str,
    key: str,
    key_db_type: str | None,
    max_delete_ratio: float,
    page_size: int = PAGE_SIZE,
) -> ReconcileOutcome:
    """Delete from ``target`` the documents whose ``key`` the query no longer returns."""
    outcome = ReconcileOutcome(rejected=[])
    sort_field, es_type = sortable_field(es, target, key)
    if es_type == "text":
        raise ReconcileRefused(f"cannot reconcile [{target}]: its field [{key}] is text; map the key as keyword")
    with store_errors(f"counting {target}"):
        try:
            outcome.documents = int(es.count(index=target)["count"])
        except NotFoundError:
            return outcome
    if outcome.documents == 0:
        return outcome
    with tempfile.TemporaryFile() as spill:
        outcome.candidates = _merge(conn, es, query, target, key, key_db_type, sort_field, spill, page_size)
        ratio = outcome.candidates / outcome.documents
        if ratio > max_delete_ratio:
            raise ReconcileRefused(
                f"reconcile would delete {outcome.candidates} of the {outcome.documents} documents of [{target}] "
                f"({ratio:.2%}), above max_delete_ratio {max_delete_ratio:.2%}; nothing was deleted (an empty or "
                "broken source must not empty the index; raise the ratio if the deletes are meant)"
            )
        spill.seek(0)
        for chunk in _chunks(spill, page_size):
            gone = _still_gone(conn, query, key, chunk)
            outcome.kept += len(chunk) - len(gone)
            if gone:
                _delete(writer, gone, outcome)
    return outcome


def _merge(
    conn: Connection,
    es: Elasticsearch,
    query: RenderedQuery,
    target: str,
    key: str,
    key_db_type: str | None,
    sort_field: str,
    spill: IO[bytes],
    page_size: int,
) -> int:
    """Walk both sides in key order; write each candidate (id, key value) to ``spill``; return how many."""
    rows = _database_keys(conn, query, key, key_db_type, page_size)
    docs = _target_keys(es, target, sort_field, page_size)
    candidates = 0
    row = next(rows, None)
    for doc_id, doc_key in docs:
        while row is not None and row < doc_key:
            row = next(rows, None)
        if row is None or row != doc_key:
            spill.write(orjson.dumps([doc_id, _plain(doc_key)]) + b"\n")
            candidates += 1
    return candidates


def _database_keys(
    conn: Connection, query: RenderedQuery, key: str, key_db_type: str | None, page_size: int
) -> Iterator[Any]:
    """The query's keys in byte order for text, natural order otherwise; ReconcileRefused if not ascending."""
    column = conn.dialect.identifier_preparer.quote(key)
    dialect = conn.dialect.name
    order = column
    if key_db_type in _TEXT_TYPES or key_db_type is None:
        if dialect == "postgresql":
            order = f'{column} COLLATE "C"' if key_db_type in _TEXT_TYPES else column
        elif dialect in ("mysql", "mariadb"):
            order = f"CAST({column} AS BINARY)"
        elif dialect == "sqlite":
            order = f"{column} COLLATE BINARY"
    sql = f"SELECT {column} FROM ({query.inner}) AS connector_reconcile WHERE {column} IS NOT NULL ORDER BY {order}"
    result = stream_query(conn, sql, query.params, batch_size=page_size)
    previous: Any = None
    try:
        while batch := result.fetchmany(page_size):
            for (value,) in batch:
                current = _comparable(value)
                if previous is not None and current < previous:
                    raise ReconcileRefused(
                        f"cannot reconcile: the database does not return [{key}] in the order Elasticsearch sorts it "
                        "(a collation that is not byte order?); nothing was deleted"
                    )
                previous = current
                yield current
    finally:
        close_quietly(result)


def _target_keys(es: Elasticsearch, target: str, sort_field: str, page_size: int) -> Iterator[tuple[str, Any]]:
    """(``_id``, key) of every document of ``target``, in key order, a page at a time."""
    after: list[Any] | None = None
    previous: Any = None
    while True:
        with store_errors(f"reading the keys of {target}"):
            page = es.search(
                index=target,
                size=page_size,
                sort=[{sort_field: {"order": "asc"}}],
                source=False,
                search_after=after,
                track_total_hits=False,
                query={"exists": {"field": sort_field}},
            )
        hits = page["hits"]["hits"]
        if not hits:
            return
        for hit in hits:
            current = _comparable(hit["sort"][0])
            if previous is not None and current < previous:
                raise ReconcileRefused(f"cannot reconcile: [{target}] did not return its keys in order")
            previous = current
            yield hit["_id"], current
        after = hits[-1]["sort"]


def _comparable(value: Any) -> Any:
    """A key as both sides can be compared: numbers as Decimal, everything else as its text."""
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, uuid.UUID | dt.date | dt.datetime):
        return str(value)
    return value if isinstance(value, str) else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _chunks(spill: IO[bytes], size: int) -> Iterator[list[tuple[str, Any]]]:
    chunk: list[tuple[str, Any]] = []
    for line in spill:
        doc_id, value = orjson.loads(line)
        chunk.append((doc_id, value))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _still_gone(conn: Connection, query: RenderedQuery, key: str, chunk: list[tuple[str, Any]]) -> list[str]:
    """The ids of ``chunk`` whose key the query still does not return, asked just before deleting them."""
    column = conn.dialect.identifier_preparer.quote(key)
    names = [f"connector_gone{i}" for i in range(len(chunk))]
    placeholders = ", ".join(f":{name}" for name in names)
    sql = f"SELECT {column} FROM ({query.inner}) AS connector_reconcile WHERE {column} IN ({placeholders})"
    params = {**query.params, **{name: value for name, (_, value) in zip(names, chunk, strict=True)}}
    present = {_comparable(row[0]) for row in execute_single(conn, sql, params)}
    return [doc_id for doc_id, value in chunk if _comparable(value) not in present]


def _delete(writer: BulkWriter, ids: list[str], outcome: ReconcileOutcome) -> None:
    result: BulkOutcome = writer.write([delete_action(i) for i in ids], [None] * len(ids))
    outcome.deleted += result.deleted
    outcome.not_found += result.not_found
    assert outcome.rejected is not None
    outcome.rejected.extend(
        Rejection(ids[e.position], e.error_type, f"not deleted: {e.reason}") for e in result.rejected
    )
