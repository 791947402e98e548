"""`connector serve` shutting down: SIGTERM to the whole process group (systemd's default)."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from api.server import WorkerSupervisor
from tests.support import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow


def test_group_sigterm_stops_serve_without_restarting_its_worker(
    settings_env: dict[str, str], es, tmp_path: Path
) -> None:
    port = free_port()
    env = {**settings_env, "CONNECTOR_WORKER_PROCESSES": "2", "CONNECTOR_API_GUNICORN_WORKERS": "1"}
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "serve.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/_siren/connector/_health")
        wait_until(lambda: len(re.findall(r"worker \S+ started", proc.output)) == 2, what="both workers to start")
    finally:
        code = proc.stop(signal.SIGTERM)  # os.killpg: every process of the group gets it at once
    output = proc.output
    assert code == 0, output
    assert "restarting it" not in output, output
    assert len(re.findall(r"worker \S+ started", output)) == 2, output
    assert len(re.findall(r"worker \S+ stopped", output)) == 2, output
    assert "Traceback" not in output, output


def test_a_killed_worker_is_restarted_under_gunicorn(settings_env: dict[str, str], es, tmp_path: Path) -> None:
    """gunicorn's master reaps every child it has; the supervisor must still see a crash as a crash."""
    port = free_port()
    env = {**settings_env, "CONNECTOR_WORKER_PROCESSES": "1", "CONNECTOR_API_GUNICORN_WORKERS": "1"}
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "serve.log")
    started = re.compile(r"worker \S+:(\d+):\w+ started")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/_siren/connector/_health")
        first = int(wait_until(lambda: started.findall(proc.output), what="the worker to start")[0])
        os.kill(first, signal.SIGKILL)
        pids = wait_until(lambda: len(started.findall(proc.output)) == 2 and started.findall(proc.output), timeout=30)
    finally:
        code = proc.stop()
    assert code == 0, proc.output
    assert int(pids[1]) != first
    assert f"worker process {first} exited with -9; restarting it" in proc.output


def _supervisor(code: int, tmp_path: Path) -> tuple[WorkerSupervisor, Path]:
    starts = tmp_path / f"starts-{code}"
    script = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit({code})"
    supervisor = WorkerSupervisor(1, command=[sys.executable, "-c", script], restart_delay_s=0.05)
    return supervisor, starts


def test_a_worker_that_exits_cleanly_is_not_restarted(tmp_path: Path) -> None:
    supervisor, starts = _supervisor(0, tmp_path)
    crashing, crash_starts = _supervisor(3, tmp_path)
    supervisor.start()
    crashing.start()
    try:
        # The crashing one is restarted again and again; meanwhile the clean one must stay down.
        wait_until(lambda: crash_starts.is_file() and len(crash_starts.read_text()) >= 3, what="restarts")
    finally:
        supervisor.stop(timeout_s=5)
        crashing.stop(timeout_s=5)
    assert starts.read_text() == "x"


def test_no_restart_once_shutdown_began(tmp_path: Path) -> None:
    supervisor, starts = _supervisor(3, tmp_path)
    supervisor.begin_shutdown()  # what the arbiter's signal handler calls
    supervisor.start()
    try:
        wait_until(lambda: starts.is_file(), what="the first start")
        for process in supervisor.processes:
            process.wait(5)
        assert not supervisor.restart_pending()
    finally:
        supervisor.stop(timeout_s=5)
    assert starts.read_text() == "x"
