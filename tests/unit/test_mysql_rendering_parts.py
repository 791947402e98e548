"""Pure parts of MariaDB's rendered path: escapes, fixed offsets, markers (the SQL itself: integration tests)."""

from __future__ import annotations

import pytest

from ingestion.sink.line_builder import ActionIds, LineBuilder, TooLarge, lower_escapes
from ingestion.source.query_template import RenderedQuery
from ingestion.source.sql_json_mysql import RenderedLines, fixed_offset
from ingestion.source.values import JsonEncoder

pytestmark = pytest.mark.unit


def test_upper_case_escapes_become_lower_case_and_escaped_backslashes_stay() -> None:
    assert lower_escapes(b'"a\\u001Fb\\\\u001F\\\\\\u000B"') == b'"a\\u001fb\\\\u001F\\\\\\u000b"'


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", "+00:00"), ("Etc/UTC", "+00:00"), ("Etc/GMT-2", "+02:00"), ("Etc/GMT+11", "-11:00"),
     ("Europe/Paris", None), ("Etc/GMT", None), ("Asia/Kolkata", None)],
)  # fmt: skip
def test_only_zones_with_one_offset_have_a_fixed_offset(zone: str, offset: str | None) -> None:
    assert fixed_offset(zone) == offset


def lines(*, keyed: bool = True, key_is_int: bool = True) -> LineBuilder:
    rendered = RenderedLines(RenderedQuery(""), ("k", "v"), ("k", "v"), (), (), (), frozenset(), keyed, key_is_int)
    return LineBuilder(rendered, key_column="k", transforms=[], encoder=JsonEncoder())


def test_markers_are_rejected_like_the_python_path_rejects_the_key() -> None:
    rows = [
        (b'{"index":{"_id":"k\\u001Fx"}}\n{"k":"k\\u001Fx","v":1}',),
        (b'\x00N\n{"k":null,"v":3}',),
        (b'\x00K""\n{"k":"","v":4}',),
        (b'\x00K"' + "é".encode() * 300 + b'"\n{"k":"...","v":5}',),
        (b'{"index":{"_id":"z"}}\n{"k":"z","v":2}',),
    ]
    batch = lines(key_is_int=False).build(rows, first_row_number=1)
    assert batch.sources == [b'{"k":"k\\u001fx","v":1}', b'{"k":"z","v":2}']
    assert list(batch.ids) == ["k\x1fx", "z"] and batch.last_key == "z"
    assert lines(key_is_int=False).values(rows[1]) == [None, 3]  # a rejected row's values still count for the mapping
    assert [(r.pk, r.reason) for r in batch.rejected] == [
        (None, "primary key is NULL"),
        ("", "primary key is empty"),
        ("é" * 300, "primary key is longer than 512 bytes"),
    ]


def test_a_null_line_is_a_document_too_large_for_the_server() -> None:
    with pytest.raises(TooLarge) as raised:
        lines().build([(None,)], first_row_number=1)
    assert "max_allowed_packet" in raised.value.reason and "server_rendering" in raised.value.reason


def test_ids_are_read_from_the_actions_when_asked() -> None:
    ids = ActionIds([b'{"index":{"_id":"1"}}', b'{"index":{"_id":"a\\"b"}}'])
    assert (len(ids), ids[1], ids[-1], list(ids), ids[:1]) == (2, 'a"b', 'a"b', ["1", 'a"b'], ["1"])
