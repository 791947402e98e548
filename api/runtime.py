"""Own the composition root: build clients, stores and services from settings.

This is the one place that wires ``connector``, ``ingestion`` and ``api``
together; the ``connector`` command and the gunicorn entry point both call it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from api.app import Services
from connector.crypto import SecretBox
from connector.datasource_store import DatasourceStore
from connector.errors import SettingsError
from connector.es_client import ClusterInfo, create_client
from connector.indices import IndexNames, bootstrap
from connector.ingestion_store import IngestionStore
from connector.job_service import JobService
from connector.job_store import JobStore
from connector.metrics_view import scrape_registry
from connector.settings import Settings
from ingestion.datasource_service import DatasourceService
from ingestion.ingestion_service import IngestionService
from ingestion.run.runner import RunContext

log = logging.getLogger(__name__)


def secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key is None:
        raise SettingsError(
            "CONNECTOR_SECRET_KEY is not set: generate one with `connector secrets generate-key` "
            "(32 random bytes, urlsafe base64)"
        )
    old = tuple(key.get_secret_value() for key in settings.previous_secret_keys)
    return SecretBox(settings.secret_key.get_secret_value(), old_keys=old)


@dataclass
class Runtime:
    """Everything a process needs, built once; ``close`` releases it."""

    settings: Settings
    es: Elasticsearch
    cluster: ClusterInfo
    names: IndexNames
    box: SecretBox
    datasource_store: DatasourceStore
    ingestion_store: IngestionStore
    jobs: JobStore
    datasources: DatasourceService
    ingestions: IngestionService
    job_service: JobService

    @classmethod
    def build(cls, settings: Settings, *, wait_for_es: bool = True) -> Runtime:
        """Connect to Elasticsearch, bootstrap the indices and build the services.

        Raises SettingsError or StoreUnavailable with a one-line reason.
        """
        box = secret_box(settings)
        es, cluster = create_client(settings.elasticsearch, wait=wait_for_es)
        names = IndexNames(settings.index_prefix)
        bootstrap(es, names)
        datasource_store = DatasourceStore(es, names.datasources)
        ingestion_store = IngestionStore(es, names.ingestions)
        jobs = JobStore(es, names)
        datasources = DatasourceService(
            datasource_store, box, settings.sql, ingestions_using=ingestion_store.using_datasource
        )
        ingestions = IngestionService(ingestion_store, datasource_store, jobs, es, box, settings)
        job_service = JobService(jobs, ingestion_store, abort_wait_s=settings.api.abort_wait_s)
        return cls(
            settings,
            es,
            cluster,
            names,
            box,
            datasource_store,
            ingestion_store,
            jobs,
            datasources,
            ingestions,
            job_service,
        )

    def services(self) -> Services:
        """What the HTTP resources call."""
        return Services(
            datasources=self.datasources,
            ingestions=self.ingestions,
            jobs=self.job_service,
            health=self.health,
            metrics_registry=scrape_registry(self.jobs, self.ingestion_store),
        )

    def run_context(self) -> RunContext:
        """What a worker needs to execute runs."""
        return RunContext(
            settings=self.settings,
            es=self.es,
            jobs=self.jobs,
            ingestions=self.ingestion_store,
            datasources=self.datasource_store,
            box=self.box,
        )

    def health(self) -> dict[str, Any]:
        """Report Elasticsearch reachability and the service indices within ``api.health_timeout_s``.

        A stalled cluster gets no retries and no more time than that: a load
        balancer probing ``_health`` needs a quick 503, not the client's own
        30 s timeout.
        """
        started = time.monotonic()
        deadline = started + self.settings.api.health_timeout_s

        def es() -> Elasticsearch:
            remaining = max(deadline - time.monotonic(), 0.01)
            return self.es.options(request_timeout=remaining, max_retries=0, retry_on_timeout=False)

        try:
            cluster = es().cluster.health()
            missing = [i for i in self.names.mappings() if not es().indices.exists(index=i)]
        except (ApiError, TransportError) as ex:
            log.warning("health check failed: %s", ex)
            return {"status": "red", "elasticsearch": {"reachable": False, "reason": str(ex).splitlines()[0]}}
        status = "green" if not missing and cluster["status"] != "red" else "red"
        return {
            "status": status,
            "elasticsearch": {
                "reachable": True,
                "cluster_status": cluster["status"],
                "distribution": self.cluster.distribution,
                "version": self.cluster.version,
                "compatibility_mode": self.cluster.compatibility_mode,
                "took": int((time.monotonic() - started) * 1000),
            },
            "missing_indices": missing,
        }

    def close(self) -> None:
        self.es.close()
