"""Own logging: format, the request id on every line, secret scrubbing everywhere."""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
from pathlib import Path
from typing import Any

from connector.redaction import ScrubbingFilter

SHIPPED_LOGGING = Path(__file__).resolve().parent.parent / "config" / "logging.json"

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

DEFAULT_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "connector.log_setup.RequestIdFilter"},
        "scrub": {"()": "connector.redaction.ScrubbingFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s [%(process)d] [%(request_id)s] %(name)s: %(message)s",
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
    """Put the current request id (or ``-``) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str, *, config_path: Path | None = None) -> None:
    """Install the logging config (``config/logging.json`` when shipped) at ``level``."""
    path = config_path or SHIPPED_LOGGING
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else DEFAULT_LOGGING
    config = {**config, "root": {**config.get("root", {}), "level": level}}
    logging.config.dictConfig(config)
    # Every handler, including ones added later by gunicorn, goes through the scrubber.
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())
