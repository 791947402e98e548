"""Own bulk indexing: request sizing, per-item outcomes, the single retry layer.

Retry budget (the only one for data: the client's own retries are off for
these requests): each bulk request is attempted at most ``1 + max_retries``
times. Between attempts the wait is ``min(backoff_max, initial * 2**n)`` with
full jitter. Transport errors and 429/502/503/504 for the whole request retry
the request; per item, 429 and 5xx retry only those items; other 4xx items are
rejected rows (reported with their reason) and never retried. Every document
has an explicit id, so a retried write cannot duplicate a document.

Responses are filtered (``filter_path``) to the error flag and each item's
status and error: Elasticsearch drops array elements that match nothing, so
the status is what keeps items aligned with the rows they answer.

Deletes (change sync, SPEC §10) go through the same requests, retries and
accounting: an action without a document line (``None``) is a ``delete``; a
delete answered 404 is a success (the document was already gone), counted in
``not_found`` rather than ``deleted``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch

from connector import metrics
from connector.errors import ConnectorError
from connector.metrics import RetryReason

log = logging.getLogger(__name__)

FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.reason"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_HEADERS = {"content-type": "application/x-ndjson", "accept": "application/json"}


class BulkFailed(ConnectorError):
    """Elasticsearch kept refusing a bulk request past the retry budget."""

    error_type = "bulk_failed_exception"


@dataclass(frozen=True, slots=True)
class ItemError:
    position: int  # index in the batch given to write()
    status: int
    error_type: str
    reason: str


@dataclass(slots=True)
class BulkOutcome:
    indexed: int = 0
    deleted: int = 0
    not_found: int = 0  # deletes of documents that were already gone: success
    rejected: list[ItemError] = field(default_factory=list)
    retries: int = 0


class BulkWriter:
    def __init__(
        self,
        es: Elasticsearch,
        index: str,
        *,
        max_bytes: int,
        max_retries: int,
        backoff_initial_s: float,
        backoff_max_s: float,
        pipeline: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.es = es.options(max_retries=0)
        self.index = index
        self.max_bytes = max_bytes
        self.max_retries = max_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.params: dict[str, str] = {"filter_path": FILTER_PATH}
        if pipeline:
            self.params["pipeline"] = pipeline
        self._sleep = sleep
        self._rng = rng or random.Random()

    def write(self, actions: Sequence[bytes], sources: Sequence[bytes | None]) -> BulkOutcome:
        """Index the documents (delete where the source is None); return what was done and what was rejected."""
        outcome = BulkOutcome()
        for chunk in self._chunks(actions, sources):
            self._write_chunk(chunk, actions, sources, outcome)
        return outcome

    def _chunks(self, actions: Sequence[bytes], sources: Sequence[bytes | None]) -> list[list[int]]:
        if len(actions) != len(sources):
            raise ValueError("as many action lines as documents are needed")
        total = sum(map(len, actions)) + sum(len(s) for s in sources if s is not None) + 2 * len(actions)
        if total <= self.max_bytes:  # the usual case: one request, no per-item accounting
            return [list(range(len(actions)))] if actions else []
        chunks: list[list[int]] = []
        current: list[int] = []
        size = 0
        for position, (action, source) in enumerate(zip(actions, sources, strict=True)):
            item_size = len(action) + (len(source) if source is not None else 0) + 2
            if current and size + item_size > self.max_bytes:
                chunks.append(current)
                current, size = [], 0
            current.append(position)
            size += item_size
        if current:
            chunks.append(current)
        return chunks

    def _write_chunk(
        self, positions: list[int], actions: Sequence[bytes], sources: Sequence[bytes | None], outcome: BulkOutcome
    ) -> None:
        pending = positions
        attempt = 0
        deletes = any(sources[p] is None for p in positions)
        while True:
            lines: list[bytes] = []
            for p in pending:
                lines.append(actions[p])
                source = sources[p]
                if source is not None:
                    lines.append(source)
            lines.append(b"")
            body = b"\n".join(lines)
            kind: RetryReason
            sent = time.monotonic()
            try:
                response = self.es.perform_request(
                    "POST", f"/{self.index}/_bulk", params=self.params, headers=_HEADERS, body=body
                ).body
            except (TransportConnectionError, ConnectionTimeout) as ex:
                retry_reason, retry, kind = f"transport error: {ex}", pending, "connection"
            except ApiError as ex:
                if ex.meta.status not in RETRY_STATUSES:
                    raise BulkFailed(f"bulk request refused by Elasticsearch: {ex.message}") from ex
                retry_reason, retry, kind = f"HTTP {ex.meta.status}", pending, _retry_kind(ex.meta.status)
            else:
                retry, kind = self._classify(pending, response, outcome, deletes=deletes)
                retry_reason = "items answered 429/5xx"
            finally:
                metrics.bulk_request(seconds=time.monotonic() - sent, sent_bytes=len(body))
            if not retry:
                return
            if attempt >= self.max_retries:
                raise BulkFailed(
                    f"bulk indexing into [{self.index}] failed after {attempt + 1} attempts ({retry_reason}); "
                    f"{len(retry)} documents not written"
                )
            delay = self._rng.uniform(0, min(self.backoff_max_s, self.backoff_initial_s * 2**attempt))
            log.warning("bulk retry %d for %d documents in %.2fs: %s", attempt + 1, len(retry), delay, retry_reason)
            outcome.retries += 1
            metrics.bulk_retry(kind)
            attempt += 1
            pending = retry
            self._sleep(delay)

    def _classify(
        self, pending: list[int], response: Any, outcome: BulkOutcome, *, deletes: bool = False
    ) -> tuple[list[int], RetryReason]:
        """Count successes, record rejections, return positions to retry and why (429 if any item said so)."""
        if not isinstance(response, dict) or "errors" not in response:
            raise BulkFailed(f"unexpected bulk response from [{self.index}]: {str(response)[:200]}")
        if not response["errors"] and not deletes:  # the usual case: every item indexed
            outcome.indexed += len(pending)
            return [], "5xx"
        items = response.get("items") or []
        if len(items) != len(pending):
            raise BulkFailed(
                f"bulk response has {len(items)} items for {len(pending)} documents; cannot map outcomes to rows"
            )
        retry: list[int] = []
        kind: RetryReason = "5xx"
        for position, item in zip(pending, items, strict=True):
            action, result = next(iter(item.items()))
            status = int(result.get("status", 0))
            if action == "delete" and (200 <= status < 300 or status == 404):
                if status == 404:
                    outcome.not_found += 1
                else:
                    outcome.deleted += 1
            elif 200 <= status < 300:
                outcome.indexed += 1
            elif status in RETRY_STATUSES or status >= 500:
                retry.append(position)
                kind = _retry_kind(status) if kind == "5xx" else kind
            else:
                error = result.get("error") or {}
                reason = str(error.get("reason", "rejected"))
                cause = (error.get("caused_by") or {}).get("reason")
                outcome.rejected.append(
                    ItemError(
                        position, status, str(error.get("type", "rejected")), f"{reason}: {cause}" if cause else reason
                    )
                )
        return retry, kind


def _retry_kind(status: int) -> RetryReason:
    return "429" if status == 429 else "5xx"
