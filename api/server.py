"""Own `connector serve`: gunicorn for the API, started after pre-flight checks."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from api.metrics_setup import serve_worker_metrics
from api.runtime import Runtime, secret_box
from api.wsgi import application
from connector.errors import SettingsError
from connector.es_client import create_client
from connector.indices import IndexNames, bootstrap
from connector.settings import Settings, parse_bind
from ingestion.workers.heap import keep_freed_memory
from ingestion.workers.worker import Worker

log = logging.getLogger(__name__)

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"
WORKER_COMMAND = (sys.executable, "-m", "api.cli", "worker")


class ApiServer(BaseApplication):  # type: ignore[misc]
    """gunicorn application: `config/gunicorn.conf.py`, then explicit overrides.

    ``on_stop_signal`` is called from the arbiter's signal handler the moment a
    SIGTERM, SIGINT or SIGQUIT arrives, before gunicorn starts stopping.
    """

    def __init__(self, overrides: dict[str, Any], *, on_stop_signal: Callable[[], None] | None = None) -> None:
        self.overrides = overrides
        self.on_stop_signal = on_stop_signal
        super().__init__()

    def run(self) -> None:
        _SignalledArbiter(self, self.on_stop_signal).run()

    def load_config(self) -> None:
        if GUNICORN_CONF.is_file():
            for key, value in runpy.run_path(str(GUNICORN_CONF)).items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)
        for key, value in self.overrides.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return application()


class _SignalledArbiter(Arbiter):  # type: ignore[misc]
    STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})

    def __init__(self, app: ApiServer, on_stop_signal: Callable[[], None] | None) -> None:
        super().__init__(app)
        self.on_stop_signal = on_stop_signal

    def signal(self, sig: int, frame: Any) -> None:
        # gunicorn queues the signal and acts on it later in its main loop; the
        # supervisor must know now, or it restarts a worker the same signal stopped.
        if sig in self.STOP_SIGNALS and self.on_stop_signal is not None:
            self.on_stop_signal()
        super().signal(sig, frame)


def preflight(settings: Settings) -> None:
    """Fail fast, with one clear line, before any process is forked.

    Checks the secret key, the auth mode for remote binds, that the bind
    address is free, and that Elasticsearch answers; creates the indices once.
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
    problem = port_problem(*parse_bind(settings.bind))
    if problem:
        raise SettingsError(f"cannot listen on {settings.bind}: {problem} (--bind or CONNECTOR_BIND)")
    es, _ = create_client(settings.elasticsearch)
    try:
        bootstrap(es, IndexNames(settings.index_prefix))
    finally:
        es.close()


def port_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` (in use, no such address), or None.

    Binds the way gunicorn does (SO_REUSEADDR), so a port in TIME_WAIT is free.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as ex:
        return f"cannot resolve {host}: {ex.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as ex:
            if ex.errno == errno.EADDRINUSE:
                return "the port is in use"
            return ex.strerror or str(ex)
    return None


def run_api(settings: Settings) -> None:
    """Run gunicorn in the foreground with the supervised worker processes, until stopped."""
    supervisor = SupervisorProcess(WorkerSupervisor(settings.worker.processes))
    supervisor.start()
    try:
        ApiServer({"bind": [settings.bind]}, on_stop_signal=supervisor.begin_shutdown).run()
    finally:
        supervisor.stop()


class StopSignals:
    """SIGTERM and SIGINT, delivered to ordinary code instead of a signal handler.

    A Python signal handler runs in the main thread between two bytecodes, so
    one that takes a lock the main thread holds deadlocks it: ``Event.set()``
    in a handler, while the main thread is inside ``Event.wait()``, left a
    worker stuck after a group SIGTERM. The handlers here do nothing; the
    signal number reaches :meth:`wait` (any thread) through the interpreter's
    wakeup fd, written at C level. Create it in the main thread, early.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write)
        for signum in self.SIGNALS:
            signal.signal(signum, self._ignore)

    @staticmethod
    def _ignore(_signum: int, _frame: Any) -> None:
        return

    def wait(self) -> signal.Signals:
        """Block until one of the signals arrives (or has arrived since the last call)."""
        while True:
            received = os.read(self._read, 1)
            if received and received[0] in self.SIGNALS:
                return signal.Signals(received[0])


def run_worker(settings: Settings, *, parent_pid: int | None = None) -> None:
    """Run one worker process until SIGTERM/SIGINT; a second SIGINT (Ctrl-C) exits at once.

    SIGTERM again changes nothing: when the service stops, a worker commonly
    gets one from systemd (or its process group) and one from its supervisor.
    With ``parent_pid``, losing that parent (killed with SIGKILL) stops the
    worker as SIGTERM would, instead of leaving it orphaned.
    """
    signals = StopSignals()  # before anything slow: a signal during start-up still stops cleanly
    keep_freed_memory()  # batch after batch, the same heap pages (ingestion/workers/heap.py)
    runtime = Runtime.build(settings)
    serve_worker_metrics(settings, runtime)
    stop = threading.Event()
    if parent_pid is not None:
        threading.Thread(target=_stop_without_parent, args=(parent_pid, stop), name="parent-watch", daemon=True).start()

    def watch() -> None:
        received = signals.wait()
        log.info("signal %s: finishing current runs, claiming no more", received.name)
        stop.set()
        while signals.wait() != signal.SIGINT:
            pass
        log.warning("second interrupt: exiting now; unfinished runs are reaped after the lease")
        os._exit(1)

    threading.Thread(target=watch, name="stop-signals", daemon=True).start()
    try:
        Worker(runtime.run_context()).run(stop)
    finally:
        runtime.close()


def _stop_without_parent(parent_pid: int, stop: threading.Event, *, interval_s: float = 1.0) -> None:
    while not stop.wait(interval_s):
        if os.getppid() != parent_pid:  # re-parented: the supervisor is gone
            log.warning("parent process %d is gone: finishing current runs, claiming no more", parent_pid)
            stop.set()


class WorkerSupervisor:
    """Keep `worker.processes` worker processes alive beside the API (`connector serve`).

    A worker that dies is restarted, unless shutdown has begun or it exited
    with status 0: a worker exits 0 only when told to stop (SIGTERM or SIGINT,
    e.g. systemd signalling the whole process group), so restarting it would
    start a worker that claims runs while the service stops.
    """

    RESTART_DELAY_S = 2.0

    def __init__(self, count: int, *, command: list[str] | None = None, restart_delay_s: float | None = None) -> None:
        self.count = count
        self.command = command  # default: `connector worker --parent-pid <this process>`
        self.restart_delay_s = self.RESTART_DELAY_S if restart_delay_s is None else restart_delay_s
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        # Held while deciding to spawn and while stopping: no spawn can slip in after stop() began.
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        with self._lock:
            self.processes = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    def begin_shutdown(self) -> None:
        """Restart nothing from now on; safe to call from a signal handler (it never blocks)."""
        self._stop.set()

    def restart_pending(self) -> bool:
        """Whether a dead worker would be restarted at the next check."""
        return not self._stop.is_set() and any(self._needs_restart(p) for p in self.processes)

    def _spawn(self) -> subprocess.Popen[bytes]:
        # The worker's parent is the process running this supervisor: it stops if that one dies.
        return subprocess.Popen(self.command or [*WORKER_COMMAND, "--parent-pid", str(os.getpid())])

    @staticmethod
    def _needs_restart(process: subprocess.Popen[bytes]) -> bool:
        return process.poll() is not None and process.returncode != 0

    def _watch(self) -> None:
        while not self._stop.wait(self.restart_delay_s):
            with self._lock:
                for index, process in enumerate(self.processes):
                    if self._stop.is_set():
                        return
                    if self._needs_restart(process):
                        log.error("worker process %d exited with %s; restarting it", process.pid, process.returncode)
                        self.processes[index] = self._spawn()

    def stop(self, *, timeout_s: float = 60.0) -> None:
        """SIGTERM every worker (they finish their batch and stop), then wait."""
        self._stop.set()
        with self._lock:
            processes = list(self.processes)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class SupervisorProcess:
    """Run a :class:`WorkerSupervisor` in a process of its own, forked before gunicorn starts.

    gunicorn's master reaps every child it has (``waitpid(-1)``), so a worker
    process started by the master itself would lose its exit status (Popen
    then reports 0): a crash would look like a clean stop. The forked
    supervisor is the workers' parent instead; it stops them on SIGTERM or
    SIGINT, its own or forwarded by :meth:`begin_shutdown`.
    """

    def __init__(self, supervisor: WorkerSupervisor) -> None:
        self.supervisor = supervisor
        self.pid: int | None = None

    def start(self) -> None:
        if self.supervisor.count == 0:
            return
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                self._run_child()
            except BaseException:  # the child must never return into the parent's code
                log.exception("worker supervisor failed")
                code = 1
            finally:
                os._exit(code)
        self.pid = pid

    def _run_child(self) -> None:
        signals = StopSignals()
        master = os.getppid()
        threading.Thread(target=_term_when_orphaned, args=(master,), name="parent-watch", daemon=True).start()
        self.supervisor.start()
        signals.wait()
        self.supervisor.stop()

    def begin_shutdown(self) -> None:
        """Tell the supervisor to stop its workers; safe in a signal handler."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def stop(self, *, timeout_s: float = 90.0) -> None:
        """Stop the supervisor and wait until it (and so every worker) has exited."""
        if self.pid is None:
            return
        self.begin_shutdown()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return  # already reaped by gunicorn's master
            if pid:
                return
            time.sleep(0.05)
        log.error("worker supervisor %d did not stop within %ss; killing it", self.pid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def _term_when_orphaned(parent_pid: int, *, interval_s: float = 1.0) -> None:
    """SIGTERM this process once ``parent_pid`` is gone (gunicorn's master killed with SIGKILL)."""
    while os.getppid() == parent_pid:
        time.sleep(interval_s)
    log.warning("parent process %d is gone: stopping the workers", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)
