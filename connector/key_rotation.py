"""Own secret-key rotation: re-encrypt every stored secret with the current key.

Run with the new key as ``CONNECTOR_SECRET_KEY`` and the old one(s) in
``CONNECTOR_PREVIOUS_SECRET_KEYS`` (decrypt only). Each document is rewritten
on its own with a conditional write (re-read and retried on conflict), so a
document is either wholly old-key or wholly new-key at any moment, and a
rotation interrupted half-way can simply be run again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from connector.crypto import SecretBox
from connector.doc_store import DocumentStore, retry_on_conflict

_PAGE = 500
# Where each index (an IndexNames attribute) keeps its encrypted secrets: top-level key, or (object, key).
SECRET_FIELDS: dict[str, list[tuple[str, ...]]] = {
    "datasources": [("password",)],
    "ingestions": [("secrets", "ds_password"), ("secrets", "es_password")],
}


@dataclass
class RotationReport:
    documents: int = 0
    secrets: int = 0


def rotate_index(docs: DocumentStore, fields: list[tuple[str, ...]], box: SecretBox) -> RotationReport:
    """Re-encrypt the secrets at ``fields`` in every document of ``docs``."""
    report = RotationReport()
    for hit in docs.scan(sort=[{"id": "asc"}], page_size=_PAGE):

        def attempt(doc_id: str = hit.id) -> int:
            return _rotate_one(docs, doc_id, fields, box)

        changed: int = retry_on_conflict(5, attempt)
        if changed:
            report.documents += 1
            report.secrets += changed
    return report


def _rotate_one(docs: DocumentStore, doc_id: str, fields: list[tuple[str, ...]], box: SecretBox) -> int:
    current = docs.get(doc_id)
    if current is None:
        return 0
    source: dict[str, Any] = copy.deepcopy(current.source)
    rotated = 0
    for path in fields:
        holder = source
        for part in path[:-1]:
            holder = holder.get(part) or {}
        token = holder.get(path[-1])
        if token:
            holder[path[-1]] = box.rotate(token)
            rotated += 1
    if rotated:
        docs.replace(current, source)
    return rotated
