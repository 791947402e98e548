from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from connector.errors import ConnectorError
from ingestion.sink.bulk_writer import RETRY_STATUSES, BulkFailed, BulkOutcome, BulkWriter, ItemError

pytestmark = pytest.mark.unit

MAPPER_ERROR = {
    "type": "mapper_parsing_exception",
    "reason": "failed to parse field [price] of type [long] in document with id '2'",
    "caused_by": {"reason": 'For input string: "abc"'},
}


@pytest.fixture
def client() -> Iterator[Elasticsearch]:
    # Constructing the client does not connect; nothing here sends a request.
    es = Elasticsearch("http://127.0.0.1:9")
    yield es
    es.close()


def make_writer(client: Elasticsearch, max_bytes: int = 1_000_000) -> BulkWriter:
    return BulkWriter(client, "idx", max_bytes=max_bytes, max_retries=0, backoff_initial_s=0.1, backoff_max_s=1.0)


def lines(*sizes: int) -> tuple[list[bytes], list[bytes]]:
    """One 10-byte action line and one source line of ``size - 12`` bytes per item (item size = ``size``)."""
    actions = [b"a" * 10 for _ in sizes]
    sources = [b"s" * (size - 12) for size in sizes]
    return actions, sources


def test_chunks_of_nothing(client: Elasticsearch) -> None:
    assert make_writer(client, max_bytes=100)._chunks([], []) == []


def test_chunks_all_fit(client: Elasticsearch) -> None:
    assert make_writer(client, max_bytes=1000)._chunks(*lines(50, 50, 50)) == [[0, 1, 2]]


def test_chunks_count_two_newlines_per_item(client: Elasticsearch) -> None:
    # 10-byte action + 38-byte source + 2 newlines = 50 bytes per item.
    actions, sources = [b"a" * 10] * 5, [b"s" * 38] * 5
    assert make_writer(client, max_bytes=100)._chunks(actions, sources) == [[0, 1], [2, 3], [4]]
    assert make_writer(client, max_bytes=99)._chunks(actions, sources) == [[0], [1], [2], [3], [4]]
    assert make_writer(client, max_bytes=150)._chunks(actions, sources) == [[0, 1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "expected"),
    [
        ((60, 40, 30, 70), 100, [[0, 1], [2, 3]]),
        ((60, 41), 100, [[0], [1]]),
        ((20, 200, 20), 100, [[0], [1], [2]]),
        ((200, 20, 20), 100, [[0], [1, 2]]),
        ((20, 20, 200), 100, [[0, 1], [2]]),
        ((500,), 100, [[0]]),
        ((100, 100), 100, [[0], [1]]),
    ],
)
def test_chunks_split_on_the_byte_limit(
    client: Elasticsearch, sizes: tuple[int, ...], max_bytes: int, expected: list[list[int]]
) -> None:
    assert make_writer(client, max_bytes=max_bytes)._chunks(*lines(*sizes)) == expected


def test_chunks_need_one_source_per_action(client: Elasticsearch) -> None:
    with pytest.raises(ValueError) as caught:
        make_writer(client)._chunks([b"a", b"b"], [b"s"])
    assert "as many action lines as documents" in str(caught.value)


@pytest.mark.parametrize("response", [{"errors": False}, {"errors": False, "items": []}])
def test_classify_without_errors(client: Elasticsearch, response: dict[str, Any]) -> None:
    outcome = BulkOutcome(indexed=5)
    retry, _ = make_writer(client)._classify([7, 8, 9], response, outcome)
    assert retry == []
    assert outcome == BulkOutcome(indexed=8, rejected=[], retries=0)


@pytest.mark.parametrize("response", [{}, {"items": []}, None, [], "ok"])
def test_classify_unexpected_response(client: Elasticsearch, response: Any) -> None:
    outcome = BulkOutcome()
    with pytest.raises(BulkFailed) as caught:
        make_writer(client)._classify([0], response, outcome)
    assert caught.value.reason == f"unexpected bulk response from [idx]: {response}"
    assert outcome == BulkOutcome()


def test_classify_mixed_items(client: Elasticsearch) -> None:
    response = {
        "errors": True,
        "items": [
            {"index": {"status": 201}},
            {"index": {"status": 400, "error": MAPPER_ERROR}},
            {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
            {"index": {"status": 200}},
        ],
    }
    outcome = BulkOutcome()
    retry, reason = make_writer(client)._classify([10, 11, 12, 13], response, outcome)
    assert (retry, reason) == ([12], "429")
    assert outcome.indexed == 2
    assert outcome.retries == 0
    assert outcome.rejected == [
        ItemError(
            position=11,
            status=400,
            error_type="mapper_parsing_exception",
            reason="failed to parse field [price] of type [long] in document with id '2': For input string: \"abc\"",
        )
    ]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 507])
def test_classify_retries_429_and_5xx(client: Elasticsearch, status: int) -> None:
    response = {"errors": True, "items": [{"index": {"status": status, "error": {"type": "x", "reason": "y"}}}]}
    outcome = BulkOutcome()
    assert make_writer(client)._classify([3], response, outcome) == ([3], "429" if status == 429 else "5xx")
    assert outcome == BulkOutcome()


def test_retry_statuses() -> None:
    assert frozenset({429, 502, 503, 504}) == RETRY_STATUSES


@pytest.mark.parametrize(
    ("error", "error_type", "reason"),
    [
        (
            {"type": "version_conflict_engine_exception", "reason": "conflict"},
            "version_conflict_engine_exception",
            "conflict",
        ),
        ({"type": "t", "reason": "r", "caused_by": {"reason": "c"}}, "t", "r: c"),
        ({"type": "t", "reason": "r", "caused_by": {}}, "t", "r"),
        ({"type": "t"}, "t", "rejected"),
        ({}, "rejected", "rejected"),
        (None, "rejected", "rejected"),
    ],
)
def test_classify_rejection_reasons(
    client: Elasticsearch, error: dict[str, Any] | None, error_type: str, reason: str
) -> None:
    item: dict[str, Any] = {"status": 409}
    if error is not None:
        item["error"] = error
    outcome = BulkOutcome()
    assert make_writer(client)._classify([0], {"errors": True, "items": [{"index": item}]}, outcome)[0] == []
    assert outcome.rejected == [ItemError(0, 409, error_type, reason)]
    assert outcome.indexed == 0


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413])
def test_classify_other_4xx_are_rejected_not_retried(client: Elasticsearch, status: int) -> None:
    response = {"errors": True, "items": [{"create": {"status": status, "error": {"type": "e", "reason": "r"}}}]}
    outcome = BulkOutcome()
    assert make_writer(client)._classify([4], response, outcome)[0] == []
    assert outcome.rejected == [ItemError(4, status, "e", "r")]


def test_classify_item_without_status_is_rejected(client: Elasticsearch) -> None:
    outcome = BulkOutcome()
    assert make_writer(client)._classify([0], {"errors": True, "items": [{"index": {}}]}, outcome)[0] == []
    assert outcome.rejected == [ItemError(0, 0, "rejected", "rejected")]


def test_classify_accumulates_into_the_outcome(client: Elasticsearch) -> None:
    writer = make_writer(client)
    outcome = BulkOutcome()
    writer._classify([0, 1], {"errors": False}, outcome)
    writer._classify(
        [2, 3],
        {"errors": True, "items": [{"index": {"status": 201}}, {"index": {"status": 400, "error": MAPPER_ERROR}}]},
        outcome,
    )
    assert outcome.indexed == 3
    assert [e.position for e in outcome.rejected] == [3]


@pytest.mark.parametrize(
    ("response", "count"),
    [
        ({"errors": True, "items": [{"index": {"status": 201}}]}, 1),
        ({"errors": True, "items": [{"index": {"status": 201}}] * 3}, 3),
        ({"errors": True, "items": []}, 0),
        ({"errors": True}, 0),
    ],
)
def test_classify_item_count_mismatch(client: Elasticsearch, response: dict[str, Any], count: int) -> None:
    outcome = BulkOutcome()
    with pytest.raises(BulkFailed) as caught:
        make_writer(client)._classify([0, 1], response, outcome)
    assert caught.value.reason == (f"bulk response has {count} items for 2 documents; cannot map outcomes to rows")
    assert caught.value.error_type == "bulk_failed_exception"
    assert isinstance(caught.value, ConnectorError)
    assert outcome == BulkOutcome()


def test_writer_settings(client: Elasticsearch) -> None:
    writer = BulkWriter(
        client, "idx", max_bytes=10, max_retries=3, backoff_initial_s=0.5, backoff_max_s=2.0, pipeline="p1"
    )
    assert writer.index == "idx"
    assert writer.params["pipeline"] == "p1"
    assert writer.params["filter_path"].startswith("errors,items.*.status")
    assert "pipeline" not in make_writer(client).params
