"""Own the gunicorn entry point: ``api.wsgi:application()`` builds the app per worker.

Called after the fork, so every worker opens its own Elasticsearch connections.
"""

from __future__ import annotations

import atexit
import logging
import sys

import falcon

from api.app import create_app
from api.runtime import Runtime
from connector.errors import ConnectorError
from connector.log_setup import configure_logging
from connector.settings import load_settings

# gunicorn's exit code for "worker failed to boot": the arbiter stops instead of respawning.
WORKER_BOOT_ERROR = 3


def application() -> falcon.App[falcon.Request, falcon.Response]:
    settings = load_settings()
    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        runtime = Runtime.build(settings)
    except ConnectorError as ex:
        logging.getLogger(__name__).error("API worker cannot start: %s", ex.reason)
        sys.exit(WORKER_BOOT_ERROR)
    atexit.register(runtime.close)
    return create_app(settings, runtime.services())
