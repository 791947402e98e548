from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from decimal import Decimal

import orjson
import pytest

from ingestion.source.values import JsonEncoder, iso_duration, load_json

pytestmark = pytest.mark.unit


def encode(value: object, timezone: str = "UTC") -> object:
    return orjson.loads(JsonEncoder(timezone).dumps({"v": value}))["v"]


def test_decimal_keeps_exact_digits() -> None:
    raw = JsonEncoder().dumps({"v": Decimal("12345678901234567890.123456789")})
    assert raw == b'{"v":12345678901234567890.123456789}'


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), float("nan"), float("-inf")])
def test_non_finite_numbers_become_null(value: object) -> None:
    assert encode(value) is None


def test_naive_timestamp_in_utc() -> None:
    assert encode(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05+00:00"


def test_naive_timestamp_in_datasource_timezone() -> None:
    assert encode(dt.datetime(2024, 7, 1, 12, 0), "Europe/Paris") == "2024-07-01T12:00:00+02:00"


def test_aware_timestamp_kept() -> None:
    value = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert encode(value, "Europe/Paris") == "2024-01-01T12:00:00-05:00"


def test_date_and_time() -> None:
    assert encode(dt.date(2024, 2, 29), "Asia/Tokyo") == "2024-02-29"
    assert encode(dt.time(1, 2, 3, 400000)) == "01:02:03.400000"


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris"])
def test_time_with_a_zone_beside_naive_timestamps(timezone: str) -> None:
    """orjson's UTC fast path refuses a zoned time (PostgreSQL timetz); the document is still written whole."""
    zoned = dt.time(10, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    naive = dt.datetime(2024, 1, 2, 3, 4, 5)
    offset = "+00:00" if timezone == "UTC" else "+01:00"
    assert encode([zoned, naive], timezone) == ["10:30:00+02:00", "2024-01-02T03:04:05" + offset]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(days=1, hours=2, minutes=3, seconds=4.5), "P1DT2H3M4.5S"),
        (dt.timedelta(0), "PT0S"),
        (dt.timedelta(days=-1), "-P1D"),
        (dt.timedelta(minutes=90), "PT1H30M"),
    ],
)
def test_interval(delta: dt.timedelta, text: str) -> None:
    assert iso_duration(delta) == text
    assert encode(delta) == text


def test_bytes_uuid_ip_arrays_json() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert encode(b"\x00\xff") == "AP8="
    assert encode(memoryview(b"ab")) == "YWI="
    assert encode(ident) == str(ident)
    assert encode(ipaddress.ip_address("10.0.0.1")) == "10.0.0.1"
    assert encode([1, None, 3]) == [1, None, 3]
    assert encode({"a": {"b": [True]}}) == {"a": {"b": [True]}}


def test_load_json_keeps_numbers_beyond_a_double_as_text() -> None:
    assert load_json(b'{"a":1.5,"b":1e400,"c":-1E+999,"d":[2]}') == {"a": 1.5, "b": "1e400", "c": "-1E+999", "d": [2]}
    assert JsonEncoder().plain([Decimal("1E+400"), Decimal("2.5")]) == ["1E+400", 2.5]
