"""Own `connector serve`: gunicorn for the API, started after pre-flight checks."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from api.runtime import secret_box
from api.wsgi import application
from connector.errors import SettingsError
from connector.es_client import create_client
from connector.indices import IndexNames, bootstrap
from connector.settings import Settings

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
    """Run gunicorn in the foreground until it is stopped."""
    ApiServer({"bind": [settings.bind]}).run()
