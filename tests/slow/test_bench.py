"""The benchmark harness's correctness case, so that the harness keeps working (figures: docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Database

pytestmark = pytest.mark.slow


def bench_check(db: str, url_env: dict[str, str], rows: int, *, wide: bool = False) -> list[str]:
    """`bench.run --cases check` for one database; the printed line of the case, split."""
    args = [sys.executable, "-m", "bench.run", "--db", db, "--rows", str(rows), "--cases", "check"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    done = subprocess.run(args + (["--wide"] if wide else []), env={**env, **url_env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [line.split() for line in done.stdout.splitlines() if line.startswith("check ")]
    return line


@pytest.mark.parametrize(("rows", "wide"), [(3000, False), (400, True)])
def test_bench_check_ingests_every_row_with_its_values(pg: Database, rows: int, wide: bool) -> None:
    """`bench.run --cases check`: the engine into the Elasticsearch-API server, then counted and compared."""
    line = bench_check("pg", {"CONNECTOR_BENCH_PG_URL": pg.sql_url}, rows, wide=wide)
    assert line[1:3] == [f"pg:bench_{'w40s' if wide else 'n8'}_{rows}", str(rows)]


def test_bench_check_on_mariadb_is_rendered_by_the_database(mariadb: Database) -> None:
    """The same rows from MariaDB: every one a document equal to its row, written by the rendered path."""
    line = bench_check("mariadb", {"CONNECTOR_BENCH_MYSQL_URL": mariadb.sql_url}, 3000)
    assert line[1:3] == ["mariadb:bench_n8_3000", "3000"]
    assert " ".join(line[-4:]) == "rendered by the database"
