from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest

from connector.ingestion_def import Transform
from connector.job_store import Rejection
from ingestion.sink.documents import MAX_ID_BYTES, DocumentBuilder, InvalidKey, encode_id
from ingestion.sink.transforms import CompiledTransform, compile_transforms
from ingestion.source.values import JsonEncoder

pytestmark = pytest.mark.unit


def builder(
    columns: list[str],
    *,
    pk_field: str | None = None,
    transforms: list[dict[str, Any]] | None = None,
    timezone: str = "UTC",
    db_types: tuple[str | None, ...] = (),
) -> DocumentBuilder:
    compiled: list[CompiledTransform] = compile_transforms(
        [Transform.model_validate(t) for t in transforms or []], timezone=timezone
    )
    return DocumentBuilder(
        columns, pk_field=pk_field, transforms=compiled, encoder=JsonEncoder(timezone), db_types=db_types
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, "1"),
        (-5, "-5"),
        (0, "0"),
        (10**30, "1000000000000000000000000000000"),
        (True, "true"),
        (False, "false"),
        ("abc", "abc"),
        (" padded ", " padded "),
        ("é", "é"),
        (Decimal("1.50"), "1.5"),
        (Decimal("1.5"), "1.5"),
        (Decimal("10"), "10"),
        (Decimal("1E+1"), "10"),
        (Decimal("100.000"), "100"),
        (Decimal("0.00"), "0"),
        (Decimal("-2.50"), "-2.5"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("1E-7"), "0.0000001"),
        (2.0, "2"),
        (1.5, "1.5"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (0.1, "0.1"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC), "2024-01-02T03:04:05.600000+00:00"),
        (dt.time(1, 2), "01:02:00"),
        (b"\xfb\xff", "-_8="),
        (bytearray(b"ab"), "YWI="),
        (memoryview(b"\xfa"), "-g=="),
    ],
)
def test_encode_id(value: Any, expected: str) -> None:
    assert encode_id(value) == expected


def test_equal_numbers_give_one_id() -> None:
    assert encode_id(Decimal("1.50")) == encode_id(Decimal("1.5")) == encode_id(1.5)
    assert encode_id(Decimal("10")) == encode_id(Decimal("10.0")) == encode_id(10) == encode_id(10.0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "primary key is NULL"),
        ("", "primary key is empty"),
        (b"", "primary key is empty"),
        (Decimal("NaN"), "primary key is NaN"),
        (Decimal("Infinity"), "primary key is Infinity"),
        (Decimal("-Infinity"), "primary key is -Infinity"),
        (float("nan"), "primary key is nan"),
        (float("inf"), "primary key is inf"),
        (float("-inf"), "primary key is -inf"),
        ("x" * (MAX_ID_BYTES + 1), "primary key is longer than 512 bytes"),
        ("é" * 257, "primary key is longer than 512 bytes"),
        (b"\x00" * 385, "primary key is longer than 512 bytes"),
    ],
)
def test_invalid_keys(value: Any, message: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        encode_id(value)
    assert str(caught.value) == message


def test_key_length_is_counted_in_utf8_bytes() -> None:
    assert MAX_ID_BYTES == 512
    assert encode_id("x" * 512) == "x" * 512
    assert encode_id("é" * 256) == "é" * 256  # 512 bytes
    assert len(encode_id(b"\x00" * 384)) == 512


def test_invalid_key_is_a_value_error() -> None:
    assert issubclass(InvalidKey, ValueError)


@pytest.mark.parametrize("value", [Decimal("-0"), Decimal("-0.00")])
def test_negative_zero_decimal_is_zero(value: Decimal) -> None:
    assert encode_id(value) == encode_id(0) == "0"


def test_build_with_primary_key() -> None:
    docs = builder(["id", "name", "price"], pk_field="id")
    batch = docs.build([(1, "a", Decimal("1.50")), (Decimal("2.0"), "b", None)], first_row_number=0)
    assert batch.actions == [b'{"index":{"_id":"1"}}', b'{"index":{"_id":"2"}}']
    assert batch.sources == [b'{"id":1,"name":"a","price":1.50}', b'{"id":2.0,"name":"b","price":null}']
    assert batch.ids == ["1", "2"]
    assert batch.rejected == []
    assert batch.last_row == (Decimal("2.0"), "b", None)


def test_action_line_escapes_the_id() -> None:
    batch = builder(["id"], pk_field="id").build([('a"b\\c',)], first_row_number=0)
    assert batch.actions == [b'{"index":{"_id":"a\\"b\\\\c"}}']
    assert orjson.loads(batch.actions[0]) == {"index": {"_id": 'a"b\\c'}}
    assert batch.ids == ['a"b\\c']


def test_rows_with_invalid_keys_are_rejected() -> None:
    docs = builder(["name", "code"], pk_field="code")
    rows = [("a", None), ("b", ""), ("c", "ok"), ("d", "k" * 600), ("e", Decimal("NaN"))]
    batch = docs.build(rows, first_row_number=0)
    assert batch.ids == ["ok"]
    assert batch.actions == [b'{"index":{"_id":"ok"}}']
    assert batch.sources == [b'{"name":"c","code":"ok"}']
    assert batch.rejected == [
        Rejection(None, "invalid_primary_key", "primary key is NULL", "code"),
        Rejection("", "invalid_primary_key", "primary key is empty", "code"),
        Rejection("k" * 512, "invalid_primary_key", "primary key is longer than 512 bytes", "code"),
        Rejection("NaN", "invalid_primary_key", "primary key is NaN", "code"),
    ]
    assert batch.last_row == ("c", "ok")


def test_every_row_rejected_leaves_no_last_row() -> None:
    batch = builder(["id"], pk_field="id").build([(None,), (None,)], first_row_number=0)
    assert batch.actions == []
    assert batch.sources == []
    assert batch.ids == []
    assert [r.pk for r in batch.rejected] == [None, None]
    assert batch.last_row is None


def test_row_numbers_are_ids_without_pk_field() -> None:
    docs = builder(["name"])
    batch = docs.build([("a",), ("b",), (None,)], first_row_number=100)
    assert batch.ids == ["100", "101", "102"]
    assert batch.actions == [
        b'{"index":{"_id":"100"}}',
        b'{"index":{"_id":"101"}}',
        b'{"index":{"_id":"102"}}',
    ]
    assert batch.sources == [b'{"name":"a"}', b'{"name":"b"}', b'{"name":null}']
    assert batch.rejected == []


def test_empty_batch() -> None:
    batch = builder(["id"], pk_field="id").build([], first_row_number=0)
    assert (batch.actions, batch.sources, batch.ids, batch.rejected, batch.last_row) == ([], [], [], [], None)


def test_values_are_encoded_in_the_datasource_time_zone() -> None:
    docs = builder(["id", "at", "day", "blob", "ident"], pk_field="id", timezone="Europe/Paris")
    row = (7, dt.datetime(2024, 7, 1, 12, 0), dt.date(2024, 2, 29), b"\x00\xff", uuid.UUID(int=1))
    batch = docs.build([row], first_row_number=0)
    assert orjson.loads(batch.sources[0]) == {
        "id": 7,
        "at": "2024-07-01T12:00:00+02:00",
        "day": "2024-02-29",
        "blob": "AP8=",
        "ident": "00000000-0000-0000-0000-000000000001",
    }


def test_mysql_time_column() -> None:
    docs = builder(["id", "t", "other"], pk_field="id", db_types=("mysql:INT", "mysql:TIME", None))
    rows = [
        (1, -dt.timedelta(hours=1, minutes=2, seconds=3), dt.timedelta(hours=1)),
        (2, dt.timedelta(hours=25, microseconds=5), None),
        (3, None, None),
    ]
    batch = docs.build(rows, first_row_number=0)
    assert [orjson.loads(s) for s in batch.sources] == [
        {"id": 1, "t": "-01:02:03", "other": "PT1H"},
        {"id": 2, "t": "25:00:00.000005", "other": None},
        {"id": 3, "t": None, "other": None},
    ]
    assert batch.last_row == [3, None, None]
    assert rows[0][1] == -dt.timedelta(hours=1, minutes=2, seconds=3)  # the input rows are not changed


def test_transforms_are_applied() -> None:
    transforms = [
        {"input": [{"source": "lat"}, {"source": "lon"}], "output": "loc", "transform": "geo_point"},
        {"input": [{"source": "tags"}], "output": "tags", "transform": "split"},
    ]
    docs = builder(["id", "lat", "lon", "tags"], pk_field="id", transforms=transforms)
    batch = docs.build([(1, 48.5, 2.25, "a, b")], first_row_number=0)
    assert orjson.loads(batch.sources[0]) == {
        "id": 1,
        "lat": 48.5,
        "lon": 2.25,
        "tags": ["a", "b"],
        "loc": {"lat": 48.5, "lon": 2.25},
    }


def test_transform_failures_reject_the_row() -> None:
    transforms = [{"input": [{"source": "lat"}, {"source": "lon"}], "output": "loc", "transform": "geo_point"}]
    docs = builder(["id", "lat", "lon"], pk_field="id", transforms=transforms)
    batch = docs.build([(1, 91, 0), (2, 45, 90), (3, "x", 0)], first_row_number=0)
    assert batch.ids == ["2"]
    assert batch.rejected == [
        Rejection("1", "transform_exception", "geo_point out of range: lat 91, lon 0", "loc"),
        Rejection("3", "transform_exception", "geo_point needs numbers, got 'x', 0", "loc"),
    ]
    assert batch.last_row == (2, 45, 90)


def test_transform_failure_without_pk_field_names_the_row_number() -> None:
    transforms = [{"input": [{"source": "n"}], "output": "n", "transform": "cast", "params": {"type": "long"}}]
    batch = builder(["n"], transforms=transforms).build([("1",), ("x",)], first_row_number=10)
    assert batch.ids == ["10"]
    assert batch.sources == [b'{"n":1}']
    assert [(r.pk, r.error_type, r.field) for r in batch.rejected] == [("11", "transform_exception", "n")]
