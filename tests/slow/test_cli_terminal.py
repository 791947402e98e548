"""The client commands against a running `connector serve`, `--watch` in a real pseudo-terminal.

The terminal is a pty (pexpect) whose bytes are rendered by a terminal
emulator (pyte), so the assertions read the screen a person would see.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pexpect
import pyte
import pytest
import urllib3

from tests.conftest import Database
from tests.integration.ingest_support import slow_table
from tests.support import REPO, ServiceProcess, free_port, run_command

pytestmark = pytest.mark.slow

LIMIT = 1500
ROWS = 3000
COLUMNS, LINES = 140, 30


@dataclass
class Service:
    url: str
    env: dict[str, str]


@pytest.fixture
def service(settings_env: dict[str, str], es, pg: Database, tmp_path: Path, target_prefix: str) -> Iterator[Service]:
    port = free_port()
    env = {**settings_env, "CONNECTOR_INGESTION_MAX_ROWS_PER_RUN": str(LIMIT)}
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(f"{url}/_siren/connector/_health")
        http = urllib3.PoolManager()
        query = slow_table(pg, "items", ROWS, pause_every=100, pause_s=0.15)  # ~4.5 s of reading
        ingest = {
            "datasource": "db",
            "query": query,
            "target": f"{target_prefix}watched",
            "pk_field": "id",
            "batch_size": 100,
        }
        for path, body in (
            ("/datasource/db", {"jdbc": {"url": pg.jdbc_url}}),
            ("/ingestion/watched", {"ingest": ingest}),
        ):
            resp = http.request(
                "PUT",
                f"{url}/_siren/connector{path}",
                body=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
            )
            assert resp.status == 201, resp.data
        yield Service(url, {"CONNECTOR_URL": url})
    finally:
        proc.stop()


def _in_terminal(args: list[str], env: dict[str, str]) -> tuple[list[list[str]], int]:
    """Run `connector ARGS` in a pty; return every screen it showed (rendered) and its exit code."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    full_env.update(env, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
    child = pexpect.spawn(
        sys.executable, ["-m", "api.cli", *args], env=full_env, cwd=str(REPO), dimensions=(LINES, COLUMNS)
    )
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    frames: list[list[str]] = []
    while True:
        try:
            stream.feed(child.read_nonblocking(65536, timeout=60))
        except pexpect.EOF:
            break
        frames.append(list(screen.display))
    code = child.wait()  # not close(): it signals a child that is still exiting after EOF
    child.close()
    return frames, int(code)


def _text(frame: list[str]) -> str:
    """The screen as one line: rows joined as the terminal wrapped them."""
    return re.sub(r"\s+", " ", "".join(frame)).strip()


def test_watch_shows_state_rate_one_eta_and_ends_with_the_final_state(service: Service) -> None:
    frames, code = _in_terminal(["ingestion", "run", "watched", "--watch", "--allow-large"], service.env)

    live = [line for frame in frames for line in frame if line.startswith("watched ") and "docs" in line]
    assert live, frames[-1]
    assert all(line.count("ETA") == 1 for line in live), live  # one ETA, never a second one
    running = [line for line in live if line.startswith("watched running")]
    assert any(re.search(r" [1-9][\d,]* docs/s ", line) for line in running), running
    assert any(re.search(r"ETA \d", line) for line in running), running  # the service's estimate, once known
    assert any(re.search(r"\d+% ", line) and "/3,000 docs" in line for line in running), running
    first_running = next(i for i, line in enumerate(live) if line.startswith("watched running"))
    assert not any(line.startswith("watched queued") for line in live[first_running:])  # never stale

    final = _text(frames[-1])
    assert code == 0, final
    assert re.search(r"✓ watched successful in [\d.]+ s: 3,000 documents, 0 rejected, [\d,]+ docs/s", final), final
    assert "ETA" not in final and "{" not in final  # the live line is gone, no JSON dump


def test_watch_of_a_refused_run_ends_in_error_with_the_message_and_exit_code_1(service: Service) -> None:
    frames, code = _in_terminal(["ingestion", "run", "watched", "--watch"], service.env)

    final = _text(frames[-1])
    assert code == 1, final
    assert "✗ watched error after" in final
    assert f"more than ingestion.max_rows_per_run ({LIMIT}); nothing was written" in final
    assert "connector ingestion run watched --allow-large" in final  # the whole message, not cut


def test_tables_json_hints_and_completion_against_the_service(service: Service) -> None:
    listed = run_command(["datasource", "list"], service.env)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["ID", "TYPE", "URL", "USER", "DESCRIPTION"]
    assert row.split()[:2] == ["db", "jdbc"]

    as_json = run_command(["ingestion", "list", "-o", "json"], service.env)
    assert [hit["_id"] for hit in orjson.loads(as_json.stdout)["hits"]["hits"]] == ["watched"]

    refused = run_command(["datasource", "delete", "db"], service.env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: datasource [db] is used by ingestions [watched]; delete them first or use --force"
    )
    assert refused.stdout == ""

    completion = run_command(
        ["ingestion", "run", "w"],
        {
            **service.env,
            "_CONNECTOR_COMPLETE": "bash_complete",
            "COMP_WORDS": "connector ingestion run w",
            "COMP_CWORD": "3",
        },
    )
    assert completion.stdout.split() == ["plain,watched"]
