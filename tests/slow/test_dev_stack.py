"""`connector dev` as real processes: state kept across restarts, ports checked first (SPEC §8)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3

from tests.support import ServiceProcess, free_port, run_command, wait_until

pytestmark = pytest.mark.slow

BANNER = "connector dev: a stack for trying the service"


class Dev:
    """One `connector dev` on fresh ports over a dev directory that outlives it."""

    def __init__(self, directory: Path, log: Path, *, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/_siren/connector"
        self.proc = ServiceProcess(
            ["dev", "--bind", f"127.0.0.1:{self.port}", "--es-port", str(free_port())],
            {"CONNECTOR_DEV_DIR": str(directory), **(env or {})},
            log,
            cwd=directory.parent,
        )
        self.http = urllib3.PoolManager(retries=False, timeout=30)
        self.proc.wait_http(f"{self.base}/_health", timeout=90)

    def call(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        resp = self.http.request(
            method,
            self.base + path,
            body=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"} if body is not None else {},
        )
        assert resp.status == expect, (resp.status, resp.data)
        return orjson.loads(resp.data) if resp.data else None


@pytest.fixture
def dev_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "dev"


def _define(dev: Dev, tmp_path: Path) -> None:
    dev.call("PUT", "/datasource/kept", {"sql": {"url": f"sqlite:///{tmp_path / 'dev' / 'demo.db'}"}}, expect=201)
    ingest = {"datasource": "kept", "query": "SELECT id, name FROM events WHERE id <= 30", "target": "kept"}
    dev.call("PUT", "/ingestion/kept", {"ingest": {**ingest, "pk_field": "id", "description": "mine"}}, expect=201)
    demo = dev.call("GET", "/ingestion/demo-events")["_source"]
    demo["ingest"]["description"] = "changed by the user"
    dev.call("PUT", "/ingestion/demo-events", demo)


def _kept(dev: Dev, run_id: str) -> None:
    assert dev.call("GET", "/datasource/kept")["found"] is True
    assert dev.call("GET", "/ingestion/kept")["_source"]["ingest"]["description"] == "mine"
    # the demo definitions are registered only when absent: the user's change stays
    assert dev.call("GET", "/ingestion/demo-events")["_source"]["ingest"]["description"] == "changed by the user"
    history = dev.call("GET", "/jobs/_search?id=kept")["hits"]["hits"]
    assert [hit["_id"] for hit in history] == [run_id]
    assert history[0]["_source"]["ingestion"]["state"] == "successful"
    assert history[0]["_source"]["ingestion"]["count"] == 30


def _run_to_the_end(dev: Dev) -> str:
    queued = dev.call("POST", "/ingestion/kept/_run", expect=202)["status"]

    def ended() -> bool:
        return dev.call("GET", "/jobs/ingestion/kept")["status"]["state"] == "successful"

    wait_until(ended, timeout=60, interval=0.2, what="the run to succeed")
    return str(queued["run_id"])


def test_restarted_dev_keeps_datasources_ingestions_and_job_history(dev_dir: Path, tmp_path: Path) -> None:
    first = Dev(dev_dir, tmp_path / "first.log")
    try:
        _define(first, tmp_path)
        run_id = _run_to_the_end(first)
    finally:
        code = first.proc.stop()  # SIGTERM to the process group, as a terminal's Ctrl-C or systemd
    assert code == 0, first.proc.output
    assert first.proc.output.count("state saved in") == 1  # by the stack, not by each API worker
    assert "Traceback" not in first.proc.output, first.proc.output

    second = Dev(dev_dir, tmp_path / "second.log")
    try:
        _kept(second, run_id)
        assert "reloaded from" in second.proc.output
    finally:
        second.proc.stop()


def test_dev_killed_with_sigkill_keeps_what_it_saved_and_leaves_no_worker(dev_dir: Path, tmp_path: Path) -> None:
    first = Dev(dev_dir, tmp_path / "first.log")
    try:
        _define(first, tmp_path)
        run_id = _run_to_the_end(first)
        saved = dev_dir / "state" / ".connector-job-log.ndjson"

        def snapshot_has_the_run() -> bool:
            return saved.is_file() and '"state":"successful"' in saved.read_text()

        wait_until(snapshot_has_the_run, timeout=30, interval=0.2, what="the periodic snapshot")
        workers = _descendants(first.proc.process.pid, "api.cli worker")
        assert len(workers) == 1
        os.kill(first.proc.process.pid, signal.SIGKILL)  # the stack only, not its process group
        first.proc.process.wait(10)
        wait_until(lambda: not _alive(workers[0]), timeout=30, what="the orphaned worker to stop")
    finally:
        first.proc.stop(signal.SIGKILL)

    second = Dev(dev_dir, tmp_path / "second.log")
    try:
        _kept(second, run_id)
    finally:
        second.proc.stop()


def _descendants(pid: int, needle: str) -> list[int]:
    """Processes below ``pid`` whose command line holds ``needle`` (workers are the supervisor's children)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=False)
    parents, commands = {}, {}
    for line in out.stdout.splitlines():
        child, parent, args = line.split(None, 2)
        parents[int(child)], commands[int(child)] = int(parent), args
    found = []
    for child, args in commands.items():
        ancestor = parents.get(child)
        while ancestor not in (None, 0, 1, pid):
            ancestor = parents.get(ancestor)
        if ancestor == pid and needle in args:
            found.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.is_file() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("which", ["--bind", "--es-port"])
def test_a_taken_port_is_one_clear_line_before_the_banner(which: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = free_port()
        args = ["dev", "--bind", f"127.0.0.1:{port if which == '--bind' else other}"]
        args += ["--es-port", str(port if which == "--es-port" else free_port())]
        result = run_command(args, {"CONNECTOR_DEV_DIR": str(tmp_path / "dev")}, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {which} ") and "the port is in use" in lines[0]
    assert BANNER not in result.stdout
    assert not (tmp_path / "dev").exists()  # nothing was started or written


def test_serve_on_a_taken_port_fails_clearly(settings_env: dict[str, str], es) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_command(["serve", "--bind", f"127.0.0.1:{port}"], settings_env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: the port is in use (--bind or CONNECTOR_BIND)"
    )
