"""The CSV errors report: every field quoted, no cell a spreadsheet would run, whatever its list separator."""

from __future__ import annotations

import csv
import io

import pytest

from connector.errors_report import ERROR_FIELDS, csv_cell, csv_chunks

pytestmark = pytest.mark.unit

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REPLAY_KEY = "k;=cmd|' /C calc'!A0;"  # the reviewer's key: a cell of its own where ';' separates


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_kept_as_text(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell
    assert csv_cell("plain") == "plain"
    assert csv_cell("a,-b") == "a,-b"  # a ',' inside a quoted field starts no cell
    assert csv_cell(None) == ""
    assert csv_cell(-5) == -5  # numbers are numbers, not formulas


def _report(pk: str) -> str:
    row = {"seq": 1, "pk": pk, "field": "v", "error_type": "x", "reason": "r", "time": 1}
    return b"".join(csv_chunks(iter([row]))).decode()


def test_the_replay_key_is_one_quoted_field() -> None:
    header, line = _report(REPLAY_KEY).splitlines()
    assert header == ",".join(f'"{name}"' for name in ERROR_FIELDS)
    assert line == '"1","k;\'=cmd|\' /C calc\'!A0;","v","x","r","1"'
    assert next(csv.reader(io.StringIO(line)))[1] == "k;'=cmd|' /C calc'!A0;"


@pytest.mark.parametrize(
    "pk",
    [
        REPLAY_KEY,
        "k;\"=cmd|' /C calc'!A0",  # a quote a ';' reader takes for an empty quoted field
        "k; =1+1",  # a reader that trims spaces
        "k\t@SUM(A1)",
        "x\n-1+1",
        "x\r\n+1",
        ' "=1',
        "\t\t=1",
    ],
)
@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_no_cell_starts_a_formula_whatever_the_list_separator(pk: str, separator: str) -> None:
    cells = [cell for row in csv.reader(io.StringIO(_report(pk)), delimiter=separator) for cell in row]
    started = [cell for cell in cells if cell.lstrip(' "').startswith(FORMULA_STARTS)]
    assert started == [], _report(pk)
