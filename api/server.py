"""Own `connector serve`: gunicorn for the API, started after pre-flight checks."""

from __future__ import annotations

import logging
import os
import runpy
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from api.runtime import Runtime, secret_box
from api.wsgi import application
from connector.errors import SettingsError
from connector.es_client import create_client
from connector.indices import IndexNames, bootstrap
from connector.settings import Settings
from ingestion.heap import keep_freed_memory
from ingestion.worker import Worker

log = logging.getLogger(__name__)

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"


class ApiServer(BaseApplication):  # type: ignore[misc]
    """gunicorn application: `config/gunicorn.conf.py`, then explicit overrides."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides
        super().__init__()

    def load_config(self) -> None:
        if GUNICORN_CONF.is_file():
            for key, value in runpy.run_path(str(GUNICORN_CONF)).items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)
        for key, value in self.overrides.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return application()


def preflight(settings: Settings) -> None:
    """Fail fast, with one clear line, before any process is forked.

    Checks the secret key, the auth mode for remote binds, and that
    Elasticsearch answers; creates the indices once.
    """
    secret_box(settings)
    if (
        not settings.bind_is_loopback
        and settings.auth.mode == "none"
        and not settings.auth.allow_unauthenticated_remote
    ):
        raise SettingsError(
            f"refusing to serve on {settings.bind} without authentication: set "
            "CONNECTOR_AUTH_MODE=token (or basic), or CONNECTOR_AUTH_ALLOW_UNAUTHENTICATED_REMOTE=true"
        )
    es, _ = create_client(settings.elasticsearch)
    try:
        bootstrap(es, IndexNames(settings.index_prefix))
    finally:
        es.close()


def run_api(settings: Settings) -> None:
    """Run gunicorn in the foreground with the supervised worker processes, until stopped."""
    supervisor = WorkerSupervisor(settings.worker.processes)
    supervisor.start()
    try:
        ApiServer({"bind": [settings.bind]}).run()
    finally:
        supervisor.stop()


def run_worker(settings: Settings) -> None:
    """Run one worker process until SIGTERM/SIGINT; a second signal exits at once."""
    keep_freed_memory()  # batch after batch, the same heap pages (ingestion/heap.py)
    runtime = Runtime.build(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            log.warning("second signal: exiting now; unfinished runs are reaped after the lease")
            os._exit(1)
        log.info("signal %s: finishing current runs, claiming no more", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        Worker(runtime.run_context()).run(stop)
    finally:
        runtime.close()


class WorkerSupervisor:
    """Keep `worker.processes` worker processes alive beside the API (`connector serve`)."""

    RESTART_DELAY_S = 2.0

    def __init__(self, count: int) -> None:
        self.count = count
        self._processes: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._processes = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "api.cli", "worker"])

    def _watch(self) -> None:
        while not self._stop.wait(self.RESTART_DELAY_S):
            for index, process in enumerate(self._processes):
                if process.poll() is not None and not self._stop.is_set():
                    log.error("worker process %d exited with %s; restarting it", process.pid, process.returncode)
                    self._processes[index] = self._spawn()

    def stop(self, *, timeout_s: float = 60.0) -> None:
        """SIGTERM every worker (they finish their batch and stop), then wait."""
        self._stop.set()
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
