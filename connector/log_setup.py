"""Own logging: format (text or JSON), request and run context on every line, secret scrubbing everywhere.

Context comes from context variables: the request middleware sets the
request id, the worker sets the job id, run id and worker name around a run
(:func:`run_context`). :class:`RequestIdFilter` copies them onto each record;
the text format shows the request id, or ``run <run id>`` in a run; the JSON
format (``log_format = json``, ``connector.log_json``) has them as fields.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.redaction import ScrubbingFilter

SHIPPED_LOGGING = Path(__file__).resolve().parent.parent / "config" / "logging.json"
JSON_FORMATTER = {"()": "connector.log_json.EcsFormatter"}

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@dataclass(frozen=True, slots=True)
class RunLogContext:
    job_id: str
    run_id: str
    worker: str


run_var: contextvars.ContextVar[RunLogContext | None] = contextvars.ContextVar("run", default=None)

DEFAULT_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "connector.log_setup.RequestIdFilter"},
        "scrub": {"()": "connector.redaction.ScrubbingFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s [%(process)d] [%(context)s] %(name)s: %(message)s",
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "scrub"],
        },
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "elastic_transport": {"level": "WARNING"},
        # Its debug lines carry whole request bodies (documents, possibly secrets), and it
        # decodes each body to build them whenever any handler exists: no handler at all.
        "elastic_transport.node": {"level": "WARNING", "propagate": False, "handlers": []},
        "urllib3": {"level": "WARNING"},
    },
}


class RequestIdFilter(logging.Filter):
    """Put the request id (or ``-``), the run's job id, run id and worker, and a text ``context`` on records."""

    def filter(self, record: logging.LogRecord) -> bool:
        # An access log line names its request itself (the request is over when gunicorn logs it).
        request_id = record.__dict__.setdefault("request_id", request_id_var.get())
        run = run_var.get()
        record.job_id = run.job_id if run else None
        record.run_id = run.run_id if run else None
        record.worker = run.worker if run else None
        record.context = f"run {run.run_id}" if run and request_id == "-" else request_id
        return True


@contextmanager
def run_context(*, job_id: str, run_id: str, worker: str) -> Iterator[None]:
    """Name the run on every line logged by this thread inside the block."""
    token = run_var.set(RunLogContext(job_id, run_id, worker))
    try:
        yield
    finally:
        run_var.reset(token)


def logging_config(level: str, *, log_format: str = "text", config_path: Path | None = None) -> dict[str, Any]:
    """The logging config: ``config/logging.json`` when shipped, at ``level``, every handler JSON if asked."""
    path = config_path or SHIPPED_LOGGING
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else copy.deepcopy(DEFAULT_LOGGING)
    config = {**config, "root": {**config.get("root", {}), "level": level}}
    if log_format == "json":
        config["formatters"] = {**config.get("formatters", {}), "json": JSON_FORMATTER}
        config["handlers"] = {name: {**h, "formatter": "json"} for name, h in config.get("handlers", {}).items()}
    return config


def configure_logging(level: str, *, log_format: str = "text", config_path: Path | None = None) -> None:
    """Install the logging config at ``level`` in ``log_format`` (``text`` or ``json``)."""
    logging.config.dictConfig(logging_config(level, log_format=log_format, config_path=config_path))
    # Every handler, including ones added later by gunicorn, goes through the scrubber.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())


def gunicorn_logconfig(level: str, *, log_format: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: in JSON mode, its error and access logs as JSON lines too.

    Empty in text mode: gunicorn keeps its own text handlers. In JSON mode the
    access log is scrubbed like every other line and carries the request's
    method, path, status, size, duration and request id as fields
    (``connector.log_json.AccessFields``, before the scrubber).
    """
    if log_format != "json":
        return {}
    config = logging_config(level, log_format=log_format)
    config["filters"] = {**config["filters"], "access_fields": {"()": "connector.log_json.AccessFields"}}
    config["handlers"] = {
        **config["handlers"],
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "scrub"],
            "stream": "ext://sys.stdout",  # where gunicorn writes its access log ("-")
        },
    }
    config["loggers"] = {
        **config.get("loggers", {}),
        "gunicorn.error": {"level": level, "handlers": list(config["root"].get("handlers", [])), "propagate": False},
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["access"],
            "filters": ["access_fields", "scrub"],
            "propagate": False,
        },
    }
    return config
