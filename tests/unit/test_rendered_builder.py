"""RenderedBuilder: bulk lines from rows PostgreSQL rendered, with the transforms left to Python."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connector.ingestion_def import Transform
from ingestion.sink.documents import rendered_builder
from ingestion.source.query_template import RenderedQuery
from ingestion.source.sql_json import RenderedSql
from ingestion.source.values import JsonEncoder

pytestmark = pytest.mark.unit


def date(source: str, output: str, pattern: str) -> Transform:
    return Transform.model_validate(
        {"input": [{"source": source}], "output": output, "transform": "date", "params": {"format": pattern}}
    )


def build(
    rows: list[tuple[Any, ...]], transforms: list[Transform], inputs: tuple[str, ...], timezone: str = "UTC"
) -> tuple[list[dict[str, Any]], list[tuple[str | None, str | None]]]:
    """Documents and (pk, field) of rejections for ``rows`` = (action, doc, key, key text, *inputs)."""
    rendered = RenderedSql(RenderedQuery("", {}), inputs, ("id",), tuple(range(len(transforms))))
    builder = rendered_builder(rendered, pk_field=None, transforms=transforms, timezone=timezone, encoder=JsonEncoder())
    batch = builder.build(rows, first_row_number=0)
    return [orjson.loads(s) for s in batch.sources], [(r.pk, r.field) for r in batch.rejected]


def row(doc: str, *inputs: Any) -> tuple[Any, ...]:
    return (None, doc, None, None, *inputs)


ONE = [date("d", "d_at", "yyyy-MM-dd HH:mm:ss")]


@pytest.mark.parametrize(
    ("timezone", "winter", "summer"),
    [("UTC", "+00:00", "+00:00"), ("Europe/Paris", "+01:00", "+02:00")],  # Paris: no rearrangement, the parser
)
def test_a_batch_of_iso_dates(timezone: str, winter: str, summer: str) -> None:
    rows = [row('{"id":1}', "2024-01-01 10:00:00"), row('{"id":2}', None), row('{"id":3}', "2024-07-01 10:00:00")]
    docs, rejected = build(rows, ONE, ("d",), timezone)
    assert docs == [
        {"id": 1, "d_at": "2024-01-01T10:00:00" + winter},
        {"id": 2, "d_at": None},
        {"id": 3, "d_at": "2024-07-01T10:00:00" + summer},
    ]
    assert rejected == []


def test_rows_the_batch_check_refuses_run_the_transform() -> None:
    rows = [
        row('{"id":1}', "2024-01-01 10:00:00"),
        row('{"id":2}', "2024-1-2 3:04:05"),  # the parser reads single digits
        row('{"id":3}', "2024-02-30 00:00:00"),  # the shape, not a day
        row('{"id":4}', " 2024-01-04 00:00:00 "),  # trimmed by the transform
        row('{"id":5}', 20240105),  # not text
    ]
    docs, rejected = build(rows, ONE, ("d",))
    assert docs == [
        {"id": 1, "d_at": "2024-01-01T10:00:00+00:00"},
        {"id": 2, "d_at": "2024-01-02T03:04:05+00:00"},
        {"id": 4, "d_at": "2024-01-04T00:00:00+00:00"},
    ]
    assert rejected == [("2", "d_at"), ("4", "d_at")]


def test_several_rearrangements_and_an_empty_document() -> None:
    transforms = [date("d", "d", "yyyy-MM-dd"), date("e", "e_at", "yyyy-MM-dd'T'HH:mm:ss")]
    rows = [row("{}", "2024-01-01", "2024-01-01T10:00:00"), row("{}", None, "bad"), row("{}", "2024-12-31", None)]
    docs, rejected = build(rows, transforms, ("d", "e"))
    assert docs == [
        {"d": "2024-01-01T00:00:00+00:00", "e_at": "2024-01-01T10:00:00+00:00"},
        {"d": "2024-12-31T00:00:00+00:00", "e_at": None},
    ]
    assert rejected == [("1", "e_at")]


def test_with_another_transform_every_row_runs_them_in_order() -> None:
    cast = Transform.model_validate(
        {"input": [{"source": "t"}], "output": "n", "transform": "cast", "params": {"type": "long"}}
    )
    rows = [row('{"id":1}', "7", "2024-01-01"), row('{"id":2}', "x", "bad"), row('{"id":3}', "8", "bad")]
    docs, rejected = build(rows, [cast, date("d", "d_at", "yyyy-MM-dd")], ("t", "d"))
    assert docs == [{"id": 1, "n": 7, "d_at": "2024-01-01T00:00:00+00:00"}]
    assert rejected == [("1", "n"), ("2", "d_at")]  # row 2 fails both: the first transform's error
