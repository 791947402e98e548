"""Helpers shared by tests: error assertions and polling with a deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import urllib3

# Test clients ask for the service by a loopback name (auth.mode none answers nothing else).
LOCAL = {"Host": "localhost"}

T = TypeVar("T")


def assert_error(resp: Any, status: int, error_type: str, entry: str | None = None) -> dict[str, Any]:
    """Check the SPEC §7 error shape and return the error object."""
    assert resp.status_code == status, resp.text
    body = resp.json
    assert set(body) - {"job"} == {"error", "status"}
    assert body["status"] == status
    error = body["error"]
    assert set(error) == {"type", "reason", "root_cause", "invalid"}
    assert error["type"] == error_type, error
    assert error["root_cause"] == [{"type": error_type, "reason": error["reason"]}]
    assert error["reason"]
    if entry is not None:
        entries = [item["entry"] for item in error["invalid"]]
        assert entry in entries, entries
        for item in error["invalid"]:
            assert set(item) == {"entry_type", "entry", "rules"}
            for rule in item["rules"]:
                assert set(rule) == {"rule", "params", "description"}
    assert resp.headers.get("x-request-id")
    return error


def wait_until(check: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``check`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value {value!r}")
        time.sleep(interval)


REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServiceProcess:
    """A `connector` command run as a real process, its output kept in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, *, cwd: Path | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
        full_env.update(env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd or REPO,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_http(self, url: str, *, timeout: float = 30.0) -> None:
        http = urllib3.PoolManager(retries=False, timeout=2)

        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"process exited with {self.process.returncode}:\n{self.output}")
            try:
                return http.request("GET", url).status < 500
            except urllib3.exceptions.HTTPError:
                return False

        wait_until(up, timeout=timeout, what=f"{url} to answer")
        http.clear()

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


def run_command(
    args: list[str], env: dict[str, str], *, timeout: float = 60.0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        check=False,
    )
