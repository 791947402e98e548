"""Own conditional document access to one index (the base of every store).

Reads are real-time GETs; every write is conditional (``op_type=create`` or
``if_seq_no``/``if_primary_term``) and a 409 surfaces as
:class:`VersionConflict`, meaning "re-read and decide": a conflicting write
may already have applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from elasticsearch import ApiError, Elasticsearch, NotFoundError
from elasticsearch import ConflictError as EsConflictError
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout as EsConnectionTimeout
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from connector.errors import ConnectorError, StoreUnavailable

Refresh = Literal["wait_for", "false", "true"]


class VersionConflict(ConnectorError):
    """A conditional write lost: the document changed (or exists) since it was read."""

    error_type = "version_conflict_engine_exception"


@dataclass(frozen=True, slots=True)
class Versioned:
    """A document source with the version a conditional write must name."""

    id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    hits: list[Versioned]
    last_sort: list[Any] | None = None  # sort values of the last hit, for search_after


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Map transport failures and server errors to StoreUnavailable."""
    try:
        yield
    except (EsConnectionError, EsConnectionTimeout) as ex:
        raise StoreUnavailable(f"Elasticsearch unavailable while {what}: {ex}") from ex
    except ApiError as ex:
        if ex.meta.status >= 500 or ex.meta.status == 429:
            raise StoreUnavailable(f"Elasticsearch failed while {what}: {ex.message}") from ex
        raise


class DocumentStore:
    """Conditional reads and writes of the documents of one index."""

    def __init__(self, es: Elasticsearch, index: str, *, refresh: Refresh = "wait_for") -> None:
        self.es = es
        self.index = index
        self._refresh = refresh

    def get(self, doc_id: str) -> Versioned | None:
        with store_errors(f"reading {self.index}/{doc_id}"):
            try:
                resp = self.es.get(index=self.index, id=doc_id, realtime=True)
            except NotFoundError:
                return None
        return Versioned(doc_id, resp["_source"], resp["_seq_no"], resp["_primary_term"])

    def get_many(self, doc_ids: list[str]) -> list[Versioned]:
        """The documents of ``doc_ids`` that exist, in that order, read in real time in one request."""
        if not doc_ids:
            return []
        with store_errors(f"reading {len(doc_ids)} documents of {self.index}"):
            resp = self.es.mget(index=self.index, ids=doc_ids, realtime=True)
        return [
            Versioned(doc["_id"], doc["_source"], doc["_seq_no"], doc["_primary_term"])
            for doc in resp["docs"]
            if doc.get("found")
        ]

    def create(self, doc_id: str, source: dict[str, Any], *, refresh: Refresh | None = None) -> Versioned:
        """Create the document; VersionConflict if it already exists."""
        return self._write(doc_id, source, op_type="create", refresh=refresh)

    def replace(self, current: Versioned, source: dict[str, Any], *, refresh: Refresh | None = None) -> Versioned:
        """Overwrite ``current`` if nobody wrote it since it was read; else VersionConflict."""
        return self._write(
            current.id,
            source,
            if_seq_no=current.seq_no,
            if_primary_term=current.primary_term,
            refresh=refresh,
        )

    def delete(self, current: Versioned, *, refresh: Refresh | None = None) -> None:
        with store_errors(f"deleting {self.index}/{current.id}"):
            try:
                self.es.delete(
                    index=self.index,
                    id=current.id,
                    if_seq_no=current.seq_no,
                    if_primary_term=current.primary_term,
                    refresh=refresh or self._refresh,
                )
            except EsConflictError as ex:
                raise VersionConflict(f"{current.id} changed since it was read") from ex
            except NotFoundError:
                return

    def search(
        self,
        *,
        query: dict[str, Any] | None = None,
        sort: list[Any] | None = None,
        from_: int = 0,
        size: int = 10,
        search_after: list[Any] | None = None,
        track_total_hits: bool | int = True,
        source: bool = True,
    ) -> Page:
        body: dict[str, Any] = {
            "query": query or {"match_all": {}},
            "size": size,
            "seq_no_primary_term": True,
            "track_total_hits": track_total_hits,
        }
        if sort:
            body["sort"] = sort
        if not source:
            body["_source"] = False
        if search_after is not None:
            body["search_after"] = search_after
        elif from_:
            body["from"] = from_
        with store_errors(f"searching {self.index}"):
            resp = self.es.search(index=self.index, **body)
        raw = resp["hits"]["hits"]
        hits = [
            Versioned(h["_id"], h.get("_source", {}), h.get("_seq_no", -1), h.get("_primary_term", -1)) for h in raw
        ]
        last_sort = raw[-1].get("sort") if raw else None
        total = resp["hits"].get("total")  # absent when track_total_hits is false
        if total is None:
            return Page(len(hits), hits, last_sort)
        return Page(total["value"] if isinstance(total, dict) else int(total), hits, last_sort)

    def scan(
        self, *, sort: list[Any], query: dict[str, Any] | None = None, page_size: int = 1000
    ) -> Iterator[Versioned]:
        """Every matching document in ``sort`` order, read page by page with search_after."""
        after: list[Any] | None = None
        while True:
            page = self.search(query=query, sort=sort, size=page_size, search_after=after, track_total_hits=False)
            yield from page.hits
            if len(page.hits) < page_size:
                return
            after = page.last_sort

    def count(self, query: dict[str, Any]) -> int:
        with store_errors(f"counting {self.index}"):
            return int(self.es.count(index=self.index, query=query)["count"])

    def _write(self, doc_id: str, source: dict[str, Any], *, refresh: Refresh | None, **conditions: Any) -> Versioned:
        with store_errors(f"writing {self.index}/{doc_id}"):
            try:
                resp = self.es.index(
                    index=self.index,
                    id=doc_id,
                    document=source,
                    refresh=refresh or self._refresh,
                    **conditions,
                )
            except EsConflictError as ex:
                raise VersionConflict(f"{doc_id} exists or changed since it was read") from ex
        return Versioned(doc_id, source, resp["_seq_no"], resp["_primary_term"])


def retry_on_conflict(attempts: int, operation: Callable[[], Any]) -> Any:
    """Run ``operation`` (which re-reads first) until it wins a conditional write, at most ``attempts`` times.

    No wait between attempts: a conflict means "re-read now"; the last VersionConflict is raised.
    """
    again = Retrying(stop=stop_after_attempt(attempts), retry=retry_if_exception_type(VersionConflict), reraise=True)
    return again(operation)
