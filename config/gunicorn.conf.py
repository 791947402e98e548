"""gunicorn settings for `connector serve` (the API processes).

Values come from the connector settings (config/connector.toml, CONNECTOR_*),
so one source configures everything; `connector serve --bind` overrides bind.
"""

from typing import Any

from connector.log_setup import gunicorn_logconfig
from connector.metrics_view import mark_dead
from connector.settings import load_settings

_settings = load_settings()

bind = [_settings.bind]
# gthread, but a request reaches a thread only once its head and body are in (SPEC §14: slow
# clients cannot hold the threads); see api/edge_worker.py. Long work never runs on them (SPEC §2).
worker_class = "api.edge_worker.EdgeWorker"
workers = _settings.api.gunicorn_workers
threads = _settings.api.gunicorn_threads
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
# Both logs go through the secret scrubbing of every other log line (SPEC §12).
logger_class = "api.access_log.ScrubbedLogger"
loglevel = _settings.log_level.lower()
# log_format = json: gunicorn's own lines and the access log as JSON lines too, scrubbed.
logconfig_dict = gunicorn_logconfig(_settings.log_level, log_format=_settings.log_format)
# Workers build their own clients after the fork; urllib3 pools are not fork-safe.
preload_app = False
# gunicorn >= 25 opens a control socket at a fixed path; several instances on one
# host would fight over it, and `connector serve` has no use for it.
control_socket_disable = True
# Responses are written by the worker within a time budget per client; sendfile would bypass it.
sendfile = False


def child_exit(_server: Any, worker: Any) -> None:
    """A dead API worker's live gauges leave the sums of /metrics (its counters stay)."""
    mark_dead(worker.pid)
