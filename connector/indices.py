"""Own the service's Elasticsearch indices: names, mappings, idempotent bootstrap.

Every process calls :func:`bootstrap` on start-up; whichever comes first
creates an index, the others see ``resource_already_exists_exception`` and
only re-apply the mapping (adding fields is how mappings evolve).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, Elasticsearch
from elasticsearch import ConnectionError as EsConnectionError

from connector.errors import StoreUnavailable

log = logging.getLogger(__name__)

INDEX_SETTINGS = {
    "index.hidden": True,  # dot-prefixed indices must be hidden on ES 8+ (deprecation otherwise)
    "number_of_shards": 1,
    "auto_expand_replicas": "0-1",
}

_KEYWORD = {"type": "keyword"}
_EPOCH_MS = {"type": "date", "format": "epoch_millis"}
_OPAQUE = {"type": "object", "enabled": False}  # stored, not indexed: user-shaped content
_SECRET = {"type": "keyword", "index": False, "doc_values": False}

DATASOURCE_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": _KEYWORD,
        "kind": _KEYWORD,
        "url": {"type": "keyword", "index": False},
        "driver": _KEYWORD,
        "username": _KEYWORD,
        "password": _SECRET,
        "timezone": _KEYWORD,
        "properties": _OPAQUE,
        "description": {"type": "text"},
        "created_at": _EPOCH_MS,
        "updated_at": _EPOCH_MS,
    },
}

INGESTION_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": _KEYWORD,
        "datasource": _KEYWORD,
        "target": _KEYWORD,
        "strategy": _KEYWORD,
        "schedule": _KEYWORD,
        "enable_scheduler": {"type": "boolean"},
        "definition": _OPAQUE,
        "secrets": _OPAQUE,
        "created_at": _EPOCH_MS,
        "updated_at": _EPOCH_MS,
    },
}

RUN_STATUS_PROPERTIES: dict[str, Any] = {
    "version": {"type": "integer"},
    "id": _KEYWORD,
    "run_id": _KEYWORD,
    "type": _KEYWORD,
    "is_running": {"type": "boolean"},
    "is_aborting": {"type": "boolean"},
    "start_time": _EPOCH_MS,
    "end_time": _EPOCH_MS,
    "create_time": _EPOCH_MS,
    "heartbeat": _EPOCH_MS,
    "infos": {"type": "text"},
    "error": {"type": "text"},
    "state": _KEYWORD,
    "count": {"type": "long"},
    "last_id": _KEYWORD,
    "error_count": {"type": "long"},
    "total": {"type": "long"},
    "progress": {"type": "float"},
    "estimated_time_remaining": {"type": "long"},
    "eta": {"type": "date"},
    "worker": _KEYWORD,
    "target": _KEYWORD,
    "strategy": _KEYWORD,
    "staging_index": _KEYWORD,
    "trigger": _KEYWORD,
    "fire_time": _EPOCH_MS,
    "resume_of": _KEYWORD,
    "allow_large": {"type": "boolean"},
    "params": _OPAQUE,
    "links": _OPAQUE,
    "last_record": _OPAQUE,
    "last_record_timestamp": _EPOCH_MS,
    "deleted": {"type": "long"},
    "watermark": _OPAQUE,
    "partitions": _OPAQUE,
    # Before they moved to the bookkeeping object (kept so older documents stay readable).
    "checkpoint": _OPAQUE,
    "staging_kept": {"type": "boolean"},
    "server_rendering": {"type": "boolean"},
}

# What the service keeps about a run beside its status (connector.job_state.BOOKKEEPING).
RUN_BOOKKEEPING_PROPERTIES: dict[str, Any] = {
    "checkpoint": _OPAQUE,
    "staging_kept": {"type": "boolean"},
    "server_rendering": {"type": "boolean"},
    "last_record_types": {"type": "keyword", "index": False, "doc_values": False},
    "allow_large": {"type": "boolean"},
    "watermark_types": {"type": "keyword", "index": False, "doc_values": False},
    "runs_since_reconcile": {"type": "long"},
    "partitioning": _OPAQUE,
}

JOB_LOG_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "ingestion": {"dynamic": "strict", "properties": RUN_STATUS_PROPERTIES},
        "connector": {"dynamic": "strict", "properties": RUN_BOOKKEEPING_PROPERTIES},
    },
}

# One document per job (type + id) naming its latest run: read with real-time GET,
# written only with if_seq_no/op_type=create, it serialises run creation.
JOB_CURRENT_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "type": _KEYWORD,
        "id": _KEYWORD,
        "run_id": _KEYWORD,
        "updated_at": _EPOCH_MS,
    },
}

JOB_ERRORS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "run_id": _KEYWORD,
        "type": _KEYWORD,
        "id": _KEYWORD,
        "seq": {"type": "long"},
        "pk": _KEYWORD,
        "field": _KEYWORD,
        "error_type": _KEYWORD,
        "reason": {"type": "text"},
        "time": _EPOCH_MS,
    },
}


# One document per key range of a partitioned run (connector/partition_store.py).
JOB_PARTITIONS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "run_id": _KEYWORD,
        "job_id": _KEYWORD,
        "k": {"type": "integer"},
        "n": {"type": "integer"},
        "lower": _OPAQUE,
        "upper": _OPAQUE,
        "key_type": _KEYWORD,
        "state": _KEYWORD,
        "worker": _KEYWORD,
        "heartbeat": _EPOCH_MS,
        "start_time": _EPOCH_MS,
        "end_time": _EPOCH_MS,
        "checkpoint": _OPAQUE,
        "rows_read": {"type": "long"},
        "count": {"type": "long"},
        "deleted": {"type": "long"},
        "error_count": {"type": "long"},
        "recorded_errors": {"type": "long"},
        "last_id": _KEYWORD,
        "last_record": _OPAQUE,
        "last_record_timestamp": _EPOCH_MS,
        "total": {"type": "long"},
        "error": {"type": "text"},
    },
}


@dataclass(frozen=True, slots=True)
class IndexNames:
    """The concrete index names under a prefix."""

    prefix: str

    @property
    def datasources(self) -> str:
        return f"{self.prefix}datasources"

    @property
    def ingestions(self) -> str:
        return f"{self.prefix}ingestions"

    @property
    def job_log(self) -> str:
        return f"{self.prefix}job-log"

    @property
    def job_current(self) -> str:
        return f"{self.prefix}job-current"

    @property
    def job_errors(self) -> str:
        return f"{self.prefix}job-errors"

    @property
    def job_partitions(self) -> str:
        return f"{self.prefix}job-partitions"

    def mappings(self) -> dict[str, dict[str, Any]]:
        return {
            self.datasources: DATASOURCE_MAPPING,
            self.ingestions: INGESTION_MAPPING,
            self.job_log: JOB_LOG_MAPPING,
            self.job_current: JOB_CURRENT_MAPPING,
            self.job_errors: JOB_ERRORS_MAPPING,
            self.job_partitions: JOB_PARTITIONS_MAPPING,
        }


def bootstrap(es: Elasticsearch, names: IndexNames) -> None:
    """Create missing indices and apply mappings; safe to run from many processes at once."""
    for index, mapping in names.mappings().items():
        try:
            es.indices.create(index=index, settings=INDEX_SETTINGS, mappings=mapping)
            log.info("created index %s", index)
        except ApiError as ex:
            if _error_type(ex) != "resource_already_exists_exception":
                raise StoreUnavailable(f"cannot create index {index}: {ex.message}") from ex
            es.indices.put_mapping(index=index, **mapping)
        except EsConnectionError as ex:
            raise StoreUnavailable(f"cannot create index {index}: {ex}") from ex


def _error_type(ex: ApiError) -> str:
    body = ex.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("type", ""))
    return ""
