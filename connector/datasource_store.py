"""Own the datasources index: the only code that reads or writes datasource documents."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from connector.datasource import Datasource
from connector.doc_store import DocumentStore, Versioned
from connector.errors import NotFound


class DatasourceStore:
    def __init__(self, es: Elasticsearch, index: str) -> None:
        self.docs = DocumentStore(es, index)

    def find(self, ds_id: str) -> tuple[Datasource, Versioned] | None:
        found = self.docs.get(ds_id)
        return (Datasource.from_document(found.source), found) if found else None

    def get(self, ds_id: str) -> Datasource:
        found = self.find(ds_id)
        if found is None:
            raise NotFound(f"datasource [{ds_id}] not found")
        return found[0]

    def create(self, datasource: Datasource) -> None:
        """Store a new datasource; VersionConflict if the id is taken."""
        self.docs.create(datasource.id, datasource.to_document())

    def replace(self, current: Versioned, datasource: Datasource) -> None:
        self.docs.replace(current, datasource.to_document())

    def delete(self, current: Versioned) -> None:
        self.docs.delete(current)

    def page(self, *, from_: int, size: int) -> tuple[int, list[Datasource]]:
        page = self.docs.search(sort=[{"id": "asc"}], from_=from_, size=size)
        return page.total, [Datasource.from_document(hit.source) for hit in page.hits]
