"""The benchmark harness's correctness case, so that the harness keeps working (figures: docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Database

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("rows", "wide"), [(3000, False), (400, True)])
def test_bench_check_ingests_every_row_with_its_values(pg: Database, rows: int, wide: bool) -> None:
    """`bench.run --cases check`: the engine into the Elasticsearch-API server, then counted and compared."""
    args = [sys.executable, "-m", "bench.run", "--rows", str(rows), "--cases", "check", *(["--wide"] if wide else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    done = subprocess.run(args, env={**env, "CONNECTOR_BENCH_PG_URL": pg.sql_url}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [line.split() for line in done.stdout.splitlines() if line.startswith("check ")]
    assert line[1:3] == [f"bench_{'w40s' if wide else 'n8'}_{rows}", str(rows)]
