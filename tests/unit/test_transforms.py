from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from connector.ingestion_def import Transform
from ingestion.sink.transforms import TransformError, apply_transforms, compile_transforms

pytestmark = pytest.mark.unit


def transformed(specs: list[dict[str, Any]], row: dict[str, Any], timezone: str = "UTC") -> dict[str, Any]:
    """Apply the transforms described by ``specs`` to a copy of ``row``."""
    compiled = compile_transforms([Transform.model_validate(spec) for spec in specs], timezone=timezone)
    out = dict(row)
    apply_transforms(out, compiled)
    return out


def one(spec: dict[str, Any], row: dict[str, Any], timezone: str = "UTC") -> Any:
    """The output of a single transform."""
    return transformed([spec], row, timezone)[spec["output"]]


def cast(target: str) -> dict[str, Any]:
    return {"input": [{"source": "a"}], "output": "out", "transform": "cast", "params": {"type": target}}


GEO = {"input": [{"source": "lat"}, {"source": "lon"}], "output": "loc", "transform": "geo_point"}


@pytest.mark.parametrize(
    ("pattern", "timezone", "value", "expected"),
    [
        # Java letters that once went to strptime untranslated: now read as Java reads them
        ("dd/MM/yyyy hh:mm a", "Europe/Paris", "14/07/2024 09:30 PM", "2024-07-14T21:30:00+02:00"),
        ("d/M/yyyy h:mm a", "UTC", "4/7/2024 12:30 AM", "2024-07-04T00:30:00+00:00"),
        ("yyyy-MM-dd HH:mm:ss z", "Europe/Paris", "2024-07-14 09:30:00 PDT", "2024-07-14T09:30:00-07:00"),
        ("yyyy-MM-dd HH:mm:ss VV", "UTC", "2024-07-14 09:30:00 Asia/Tokyo", "2024-07-14T09:30:00+09:00"),
        ("yyyy-DDD HH:mm", "Asia/Tokyo", "2024-196 09:30", "2024-07-14T09:30:00+09:00"),
        ("EEE, d MMM yyyy HH:mm:ss Z", "UTC", "Sun, 14 Jul 2024 09:30:00 -0400", "2024-07-14T09:30:00-04:00"),
        ("EEEE d MMMM yyyy", "UTC", "Sunday 14 July 2024", "2024-07-14T00:00:00+00:00"),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSX",
            "UTC",
            "2024-07-14T09:30:00.123456789Z",
            "2024-07-14T09:30:00.123456+00:00",
        ),
        ("yyyy-MM-dd HH:mm:ss.SSSXXX", "UTC", "2024-07-14 09:30:00.120+05:30", "2024-07-14T09:30:00.120000+05:30"),
        ("%d/%m/%Y %I:%M %p", "UTC", "14/07/2024 09:30 PM", "2024-07-14T21:30:00+00:00"),
    ],
)
def test_date_with_java_letters(pattern: str, timezone: str, value: str, expected: str) -> None:
    spec = {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": pattern}}
    assert one(spec, {"t": value}, timezone) == expected


def test_a_stored_format_that_is_now_refused_rejects_each_value() -> None:
    """A definition stored before formats were checked still loads; its rows say why they are rejected."""
    spec = {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": "YYYY-MM-dd"}}
    transform = Transform.model_validate(spec, context={"stored": True})
    (compiled,) = compile_transforms([transform], timezone="UTC")
    assert compiled.apply({"t": None}) is None
    with pytest.raises(TransformError) as caught:
        compiled.apply({"t": "2024-07-14"})
    assert caught.value.field == "when"
    assert caught.value.reason.startswith("cannot use the date format 'YYYY-MM-dd': pattern letter \"Y\"")


def test_copy_keeps_input_and_value() -> None:
    row = transformed([{"input": [{"source": "a"}], "output": "b"}], {"a": [1, 2]})
    assert row == {"a": [1, 2], "b": [1, 2]}


def test_copy_of_missing_column_is_null() -> None:
    assert transformed([{"input": [{"source": "a"}], "output": "b"}], {}) == {"b": None}


def test_copy_of_constant() -> None:
    assert one({"input": [{"value": 42}], "output": "b"}, {}) == 42


@pytest.mark.parametrize(
    ("mapping_type", "value", "expected"),
    [
        ("long", "42", 42),
        ("integer", " -7 ", -7),
        ("short", "1.0", 1),
        ("double", "2.5", 2.5),
        ("float", 3, 3.0),
        ("boolean", "yes", True),
        ("keyword", 42, "42"),
        # types without a cast are copied as they are
        ("text", 42, 42),
        ("date", "not a date", "not a date"),
        ("geo_point", "1,2", "1,2"),
    ],
)
def test_copy_casts_by_mapping_type(mapping_type: str, value: Any, expected: Any) -> None:
    spec = {"input": [{"source": "a"}], "output": "b", "mapping": {"type": mapping_type}}
    assert one(spec, {"a": value}) == expected


def test_copy_with_mapping_type_rejects_bad_value() -> None:
    spec = {"input": [{"source": "a"}], "output": "b", "mapping": {"type": "long"}}
    with pytest.raises(TransformError) as caught:
        one(spec, {"a": "4.2"})
    assert caught.value.field == "b"
    assert caught.value.reason == "cannot cast '4.2' to long: '4.2' is not a whole number"


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (48.8566, 2.3522, {"lat": 48.8566, "lon": 2.3522}),
        ("48.8566", " 2.3522 ", {"lat": 48.8566, "lon": 2.3522}),
        (Decimal("-33.5"), 151, {"lat": -33.5, "lon": 151.0}),
        (-90, 180, {"lat": -90.0, "lon": 180.0}),
        (90, -180, {"lat": 90.0, "lon": -180.0}),
        (None, 2.0, None),
        (1.0, None, None),
        (None, None, None),
    ],
)
def test_geo_point(lat: Any, lon: Any, expected: dict[str, float] | None) -> None:
    row = transformed([GEO], {"lat": lat, "lon": lon})
    assert row["loc"] == expected
    assert (row["lat"], row["lon"]) == (lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        (90.5, 0, "geo_point out of range: lat 90.5, lon 0"),
        (-91, 0, "geo_point out of range: lat -91, lon 0"),
        (0, 180.01, "geo_point out of range: lat 0, lon 180.01"),
        (0, -181, "geo_point out of range: lat 0, lon -181"),
        ("north", 2, "geo_point needs numbers, got 'north', 2"),
        (1, "", "geo_point needs numbers, got 1, ''"),
        ([1], 2, "geo_point needs numbers, got [1], 2"),
    ],
)
def test_geo_point_rejects(lat: Any, lon: Any, reason: str) -> None:
    with pytest.raises(TransformError) as caught:
        transformed([GEO], {"lat": lat, "lon": lon})
    assert caught.value.field == "loc"
    assert caught.value.reason == reason
    assert str(caught.value) == reason


@pytest.mark.parametrize(("lat", "lon"), [(float("nan"), 0), (0, float("inf")), (float("-inf"), float("nan"))])
def test_geo_point_of_non_finite_numbers_is_null(lat: float, lon: float) -> None:
    assert transformed([GEO], {"lat": lat, "lon": lon})["loc"] is None


def test_concat_with_constant_separator_input() -> None:
    spec = {"input": [{"source": "first"}, {"value": " "}, {"source": "last"}], "output": "name", "transform": "concat"}
    row = transformed([spec], {"first": "Ada", "last": "Lovelace"})
    assert row == {"first": "Ada", "last": "Lovelace", "name": "Ada Lovelace"}


def test_concat_separator_param_texts_and_nulls() -> None:
    spec = {
        "input": [{"source": "a"}, {"source": "b"}, {"source": "c"}, {"value": 7}],
        "output": "out",
        "transform": "concat",
        "params": {"separator": "-"},
    }
    assert one(spec, {"a": dt.date(2024, 1, 2), "b": None, "c": 1.5}) == "2024-01-02-1.5-7"
    assert one(spec, {"a": dt.datetime(2024, 1, 2, 3, 4), "b": "x", "c": None}) == "2024-01-02T03:04:00-x-7"
    assert one(spec, {"a": None, "b": None, "c": None}) == "7"


def test_concat_default_separator_is_empty() -> None:
    spec = {"input": [{"source": "a"}, {"source": "b"}], "output": "out", "transform": "concat"}
    assert one(spec, {"a": "x", "b": 1}) == "x1"
    assert one(spec, {"a": None, "b": None}) == ""


@pytest.mark.parametrize(
    ("params", "value", "expected"),
    [
        ({}, " a, b ,,c ", ["a", "b", "c"]),
        ({}, "single", ["single"]),
        ({}, "", []),
        ({}, 12, ["12"]),
        ({}, None, None),
        ({"separator": "|"}, "a|b, c|", ["a", "b, c"]),
        ({"separator": " "}, "x  y z", ["x", "y", "z"]),
    ],
)
def test_split(params: dict[str, str], value: Any, expected: list[str] | None) -> None:
    spec = {"input": [{"source": "t"}], "output": "tags", "transform": "split", "params": params}
    assert one(spec, {"t": value}) == expected


@pytest.mark.parametrize(
    ("pattern", "timezone", "value", "expected"),
    [
        ("dd/MM/yyyy HH:mm", "Europe/Paris", "14/07/2024 09:30", "2024-07-14T09:30:00+02:00"),
        ("dd/MM/yyyy HH:mm", "Europe/Paris", "14/01/2024 09:30", "2024-01-14T09:30:00+01:00"),
        ("dd/MM/yyyy HH:mm", "UTC", " 01/02/2024 00:00 ", "2024-02-01T00:00:00+00:00"),
        ("yyyy-MM-dd'T'HH:mm:ss", "America/New_York", "2024-07-14T09:30:15", "2024-07-14T09:30:15-04:00"),
        ("yyyy-MM-dd'T'HH:mm:ss", "Asia/Tokyo", "2024-12-31T23:59:59", "2024-12-31T23:59:59+09:00"),
        ("yyyy-MM-dd HH:mm:ssXXX", "Europe/Paris", "2024-07-14 09:30:15+05:30", "2024-07-14T09:30:15+05:30"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "UTC", "2024-07-14 09:30:15.250", "2024-07-14T09:30:15.250000+00:00"),
        ("%Y%m%d", "UTC", "20240229", "2024-02-29T00:00:00+00:00"),
    ],
)
def test_date_with_pattern(pattern: str, timezone: str, value: str, expected: str) -> None:
    spec = {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": pattern}}
    assert one(spec, {"t": value}, timezone) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-07-14 09:30", "2024-07-14T09:30:00+09:00"),
        ("2024-07-14T09:30:00Z", "2024-07-14T09:30:00+00:00"),
        ("2024-07-14", "2024-07-14T00:00:00+09:00"),
        (dt.datetime(2024, 1, 1, 12), "2024-01-01T12:00:00+09:00"),
        (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "2024-01-01T00:00:00+00:00"),
        (dt.date(2024, 1, 1), "2024-01-01"),
        (None, None),
    ],
)
def test_date_without_pattern(value: Any, expected: str | None) -> None:
    spec = {"input": [{"source": "t"}], "output": "when", "transform": "date"}
    assert one(spec, {"t": value}, "Asia/Tokyo") == expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("yyyy-MM-dd HH:mm:ss", "2024-02-29 23:59:59", "2024-02-29T23:59:59+00:00"),
        ("yyyy-MM-dd'T'HH:mm:ss", "0001-01-01T00:00:00", "0001-01-01T00:00:00+00:00"),
        ("yyyy-MM-dd HH:mm", "2024-07-14 09:30", "2024-07-14T09:30:00+00:00"),
        ("yyyy-MM-dd", "2024-07-14", "2024-07-14T00:00:00+00:00"),
        ("yyyy-MM-dd", " 2024-07-14 ", "2024-07-14T00:00:00+00:00"),  # not the exact shape: the general path
        ("yyyy-MM-dd HH:mm:ss", dt.datetime(2024, 1, 1, 8), "2024-01-01T08:00:00+00:00"),
        ("yyyy-MM-dd HH:mm:ss", None, None),
    ],
)
def test_iso_shaped_date_in_utc(pattern: str, value: Any, expected: str | None) -> None:
    spec = {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": pattern}}
    assert one(spec, {"t": value}) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 00:00:60",
        "\uff12\uff10\uff12\uff14-01-01 00:00:00",
        "2024-01-01",
    ],
)
def test_iso_shaped_date_in_utc_refuses_what_is_not_a_moment(value: str) -> None:
    spec = {
        "input": [{"source": "t"}],
        "output": "when",
        "transform": "date",
        "params": {"format": "yyyy-MM-dd HH:mm:ss"},
    }
    with pytest.raises(TransformError) as caught:
        one(spec, {"t": value})
    assert caught.value.reason.startswith(f"cannot parse date {value!r}: ")


def test_date_that_does_not_match_the_pattern() -> None:
    spec = {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": "dd/MM/yyyy HH:mm"}}
    with pytest.raises(TransformError) as caught:
        one(spec, {"t": "2024-07-14"})
    assert caught.value.field == "when"
    assert caught.value.reason.startswith("cannot parse date '2024-07-14': ")


@pytest.mark.parametrize(
    ("target", "value", "expected"),
    [
        ("long", "1", 1),
        ("long", " 7 ", 7),
        ("long", "1.0", 1),
        ("long", "1e3", 1000),
        ("long", -12, -12),
        ("long", 2.0, 2),
        ("long", Decimal("2E+1"), 20),
        ("long", True, 1),
        ("long", "12345678901234567890", 12345678901234567890),
        ("integer", "-5", -5),
        ("short", Decimal("3.000"), 3),
        ("byte", False, 0),
        ("double", "1.5", 1.5),
        ("double", 2, 2.0),
        ("double", 2.5, 2.5),
        ("double", Decimal("1.25"), 1.25),
        ("double", " -0.5 ", -0.5),
        ("float", "1e2", 100.0),
        ("boolean", True, True),
        ("boolean", False, False),
        ("boolean", 0, False),
        ("boolean", 2, True),
        ("boolean", 0.0, False),
        ("boolean", Decimal("0"), False),
        ("boolean", "true", True),
        ("boolean", " TRUE ", True),
        ("boolean", "t", True),
        ("boolean", "yes", True),
        ("boolean", "Y", True),
        ("boolean", "1", True),
        ("boolean", "false", False),
        ("boolean", "F", False),
        ("boolean", "no", False),
        ("boolean", "n", False),
        ("boolean", "0", False),
        ("keyword", 12, "12"),
        ("keyword", 1.5, "1.5"),
        ("keyword", "x", "x"),
        ("keyword", dt.date(2024, 1, 2), "2024-01-02"),
        ("keyword", dt.datetime(2024, 1, 2, 3, 4), "2024-01-02T03:04:00"),
        ("keyword", dt.time(9, 30), "09:30:00"),
        ("text", 7, "7"),
        ("date", "2024-07-01T12:00:00", "2024-07-01T12:00:00+02:00"),
        ("date", "2024-01-01T12:00:00", "2024-01-01T12:00:00+01:00"),
        ("date", "2024-07-01T12:00:00+00:00", "2024-07-01T12:00:00+00:00"),
        ("date", dt.datetime(2024, 7, 1, 12), "2024-07-01T12:00:00+02:00"),
        ("date", dt.date(2024, 1, 2), "2024-01-02"),
    ],
)
def test_cast(target: str, value: Any, expected: Any) -> None:
    out = one(cast(target), {"a": value}, "Europe/Paris")
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize("target", ["long", "integer", "double", "float", "boolean", "keyword", "text", "date"])
def test_cast_keeps_null(target: str) -> None:
    assert one(cast(target), {"a": None}) is None


@pytest.mark.parametrize(
    ("target", "value", "reason"),
    [
        ("long", "1.5", "cannot cast '1.5' to long: '1.5' is not a whole number"),
        ("long", 2.5, "cannot cast 2.5 to long: 2.5 is not a whole number"),
        ("long", "NaN", "cannot cast 'NaN' to long: 'NaN' is not a whole number"),
        ("long", "abc", "cannot cast 'abc' to long"),
        ("long", "", "cannot cast '' to long"),
        ("integer", "12a", "cannot cast '12a' to integer"),
        ("double", "abc", "cannot cast 'abc' to double"),
        ("double", "1,5", "cannot cast '1,5' to double"),
        ("boolean", "abc", "cannot cast 'abc' to boolean: 'abc' is not a boolean"),
        ("boolean", "", "cannot cast '' to boolean"),
        ("boolean", "2", "cannot cast '2' to boolean"),
        ("date", "garbage", "cannot cast 'garbage' to date: cannot parse date 'garbage'"),
        ("date", 5, "cannot cast 5 to date: cannot parse date '5'"),
    ],
)
def test_cast_rejects(target: str, value: Any, reason: str) -> None:
    with pytest.raises(TransformError) as caught:
        one(cast(target), {"a": value})
    assert caught.value.field == "out"
    assert caught.value.reason.startswith(reason)


def test_cast_type_from_mapping() -> None:
    spec = {"input": [{"source": "a"}], "output": "out", "transform": "cast", "mapping": {"type": "integer"}}
    assert one(spec, {"a": "3"}) == 3


def test_cast_params_type_wins_over_mapping() -> None:
    spec = {
        "input": [{"source": "a"}],
        "output": "out",
        "transform": "cast",
        "params": {"type": "keyword"},
        "mapping": {"type": "long"},
    }
    assert one(spec, {"a": 3}) == "3"


def test_transforms_run_in_order_and_see_earlier_outputs() -> None:
    specs = [
        {"input": [{"source": "n"}], "output": "n_long", "transform": "cast", "params": {"type": "long"}},
        {
            "input": [{"source": "n_long"}, {"value": "items"}],
            "output": "label",
            "transform": "concat",
            "params": {"separator": " "},
        },
        {"input": [{"source": "label"}], "output": "words", "transform": "split", "params": {"separator": " "}},
    ]
    row = transformed(specs, {"n": "3.0"})
    assert row == {"n": "3.0", "n_long": 3, "label": "3 items", "words": ["3", "items"]}


def test_output_may_replace_a_column() -> None:
    spec = {"input": [{"source": "a"}], "output": "a", "transform": "cast", "params": {"type": "long"}}
    assert transformed([spec], {"a": "5"}) == {"a": 5}


def test_first_failure_stops_the_row() -> None:
    specs = [
        {"input": [{"source": "a"}], "output": "first", "transform": "cast", "params": {"type": "long"}},
        {"input": [{"source": "a"}], "output": "second", "transform": "cast", "params": {"type": "boolean"}},
    ]
    compiled = compile_transforms([Transform.model_validate(s) for s in specs], timezone="UTC")
    row: dict[str, Any] = {"a": "x"}
    with pytest.raises(TransformError) as caught:
        apply_transforms(row, compiled)
    assert caught.value.field == "first"
    assert row == {"a": "x"}


def test_no_transforms_leave_the_row_alone() -> None:
    row: dict[str, Any] = {"a": 1}
    apply_transforms(row, compile_transforms([], timezone="UTC"))
    assert row == {"a": 1}


def test_transform_error_is_a_value_error() -> None:
    error = TransformError("loc", "bad point")
    assert isinstance(error, ValueError)
    assert (error.field, error.reason, str(error)) == ("loc", "bad point", "bad point")


@pytest.mark.parametrize("value", [float("inf"), "Infinity", "-inf", Decimal("Infinity")])
def test_cast_infinity_to_long_rejects_the_row(value: Any) -> None:
    with pytest.raises(TransformError) as caught:
        one(cast("long"), {"a": value})
    assert caught.value.field == "out"
