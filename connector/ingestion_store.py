"""Own the ingestions index: the only code that reads or writes ingestion definitions."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from connector.doc_store import DocumentStore, Versioned, store_errors
from connector.errors import NotFound
from connector.ingestion_def import Ingestion


class IngestionStore:
    def __init__(self, es: Elasticsearch, index: str) -> None:
        self.docs = DocumentStore(es, index)

    def find(self, ingestion_id: str) -> tuple[Ingestion, Versioned] | None:
        found = self.docs.get(ingestion_id)
        return (Ingestion.from_document(found.source), found) if found else None

    def get(self, ingestion_id: str) -> Ingestion:
        found = self.find(ingestion_id)
        if found is None:
            raise NotFound(f"ingestion [{ingestion_id}] not found")
        return found[0]

    def create(self, ingestion: Ingestion) -> None:
        self.docs.create(ingestion.id, ingestion.to_document())

    def replace(self, current: Versioned, ingestion: Ingestion) -> None:
        self.docs.replace(current, ingestion.to_document())

    def delete(self, current: Versioned) -> None:
        self.docs.delete(current)

    def page(self, *, from_: int, size: int) -> tuple[int, list[Ingestion]]:
        page = self.docs.search(sort=[{"id": "asc"}], from_=from_, size=size)
        return page.total, [Ingestion.from_document(hit.source) for hit in page.hits]

    def using_datasource(self, datasource_id: str, *, limit: int = 100) -> list[str]:
        """Ids of the ingestions that read from ``datasource_id``."""
        page = self.docs.search(query={"term": {"datasource": datasource_id}}, sort=[{"id": "asc"}], size=limit)
        return [hit.id for hit in page.hits]

    def scheduled(self, *, limit: int = 10_000) -> list[Ingestion]:
        """Ingestions with the scheduler enabled."""
        page = self.docs.search(query={"term": {"enable_scheduler": True}}, sort=[{"id": "asc"}], size=limit)
        return [Ingestion.from_document(hit.source) for hit in page.hits]

    def ids(self, *, limit: int, timeout_s: float) -> list[str]:
        """The ids of the defined ingestions (at most ``limit``), failing fast (for metrics)."""
        es = self.docs.es.options(request_timeout=timeout_s, max_retries=0)
        with store_errors(f"listing {self.docs.index}"):
            resp = es.search(index=self.docs.index, source=False, sort=[{"id": "asc"}], size=limit)
        return [hit["_id"] for hit in resp["hits"]["hits"]]
