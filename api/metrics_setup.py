"""Own how metrics cross processes: the multiprocess directory of `connector serve`, a worker's own port.

`connector serve` is several processes (the gunicorn master, its API
workers, the supervised `connector worker` processes); one scrape of
``/metrics`` on any API worker must give the totals of all of them. That is
prometheus_client's multiprocess mode: every process writes its values to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and the scrape sums the
files (``connector.metrics_view``).

prometheus_client decides the mode when it is imported, from the
environment; the `connector` command has imported it before any command
runs. So :func:`prepare_serve_metrics` sets the directory and, if this
process already chose single-process values, replaces itself (same pid,
same arguments) with a process that starts in multiprocess mode. API
workers (forked) and worker processes (started by the supervisor) inherit
the variable.

The directory is fresh for every start: the operator's
``PROMETHEUS_MULTIPROC_DIR`` if set (its metric files are removed at
start-up: values of a previous run are not this run's), else a new
temporary directory, removed when `connector serve` exits.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client import start_http_server, values

from api.runtime import Runtime
from connector.metrics_view import MULTIPROC_ENV, multiprocess_dir, scrape_registry
from connector.settings import Settings, parse_bind

log = logging.getLogger(__name__)

OWNED_MARKER = ".connector-serve"  # in a directory this module created (and so removes)


def prepare_serve_metrics() -> None:
    """Give this `connector serve` a fresh multiprocess metrics directory; re-exec if needed (see module)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in glob.glob(str(path / "*.db")):
            os.remove(stale)
    else:
        path = Path(tempfile.mkdtemp(prefix="connector-metrics-"))
        (path / OWNED_MARKER).touch()
        os.environ[MULTIPROC_ENV] = str(path)
    if values.ValueClass is values.MutexValue:  # imported before the variable was set
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, sys.orig_argv)
    if (path / OWNED_MARKER).exists():
        atexit.register(_remove, path, owner=os.getpid())


def _remove(path: Path, *, owner: int) -> None:
    # Forked API workers inherit atexit handlers: only the process that made the directory removes it.
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def serve_worker_metrics(settings: Settings, runtime: Runtime) -> Any:
    """Serve this worker's ``/metrics`` on ``worker.metrics_bind``, when set and not under `connector serve`.

    A worker of `connector serve` writes to the multiprocess directory
    instead, and serve's ``/metrics`` shows it. Returns the server, or None.
    """
    bind = settings.worker.metrics_bind
    if bind is None:
        return None
    if multiprocess_dir() is not None:
        log.info("worker.metrics_bind %s not used: this worker's metrics are served by `connector serve`", bind)
        return None
    host, port = parse_bind(bind)
    server, _thread = start_http_server(
        port, addr=host, registry=scrape_registry(runtime.jobs, runtime.ingestion_store)
    )
    log.info("worker metrics at http://%s/metrics", bind)
    return server
