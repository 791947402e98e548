"""Own the Falcon application factory: routes, middleware, media and error handling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import falcon
import orjson
from falcon import media
from prometheus_client import REGISTRY, CollectorRegistry

from api import errors
from api.auth import AuthMiddleware
from api.middleware import JsonBodies, Limits, RequestContext, ResponseFormat, SecurityHeaders
from api.openapi import build_spec
from api.proxy import FORWARDED, EsProxy, forwarded
from api.resources.datasources import (
    DatasourceItem,
    DatasourceMetadata,
    DatasourceSample,
    DatasourceSearch,
    DatasourceValidate,
)
from api.resources.health import Health, Metrics
from api.resources.ingestions import IngestionItem, IngestionRun, IngestionSearch, IngestionValidate
from api.resources.jobs import JobAbort, JobList, JobRun, JobRunErrors, JobSearch, JobStatus, JobTypes
from api.resources.openapi import OpenApiDocument
from api.resources.whoami import WhoAmI
from api.ui.resources import UiAsset, UiPage, UiRoot, load_assets
from connector.job_service import JobService
from connector.security import CredentialChecker
from connector.settings import Settings
from ingestion.datasource_service import DatasourceService
from ingestion.ingestion_service import IngestionService

BASE = "/_siren/connector"


@dataclass(frozen=True, slots=True)
class Services:
    """What the resources call; built by the composition root."""

    datasources: DatasourceService
    ingestions: IngestionService
    jobs: JobService
    health: Callable[[], dict[str, Any]]
    metrics_registry: CollectorRegistry = REGISTRY


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def create_app(settings: Settings, services: Services) -> falcon.App[falcon.Request, falcon.Response]:
    """Build the WSGI app; it holds no connections of its own."""
    middleware: list[Any] = [
        RequestContext(proxied=forwarded if settings.api.es_proxy else _nothing_forwarded),
        SecurityHeaders(),
        Limits(
            max_body_bytes=settings.api.max_body_bytes,
            max_query_string_bytes=settings.api.max_query_string_bytes,
        ),
        JsonBodies(),
        ResponseFormat(),
        AuthMiddleware(CredentialChecker(settings.auth)),
    ]
    app = falcon.App(middleware=middleware)
    json_handler = media.JSONHandler(dumps=_dumps, loads=orjson.loads)
    app.req_options.media_handlers.update({falcon.MEDIA_JSON: json_handler})
    app.resp_options.media_handlers.update({falcon.MEDIA_JSON: json_handler})
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)

    ds = services.datasources
    app.add_route(f"{BASE}/datasource/_search", DatasourceSearch(ds, settings.api))
    app.add_route(f"{BASE}/datasource/{{ds_id}}", DatasourceItem(ds, settings.api))
    app.add_route(f"{BASE}/datasource/{{ds_id}}/_validate", DatasourceValidate(ds, settings.api))
    app.add_route(f"{BASE}/datasource/{{ds_id}}/_metadata", DatasourceMetadata(ds))
    app.add_route(f"{BASE}/datasource/{{ds_id}}/_sample", DatasourceSample(ds, settings.api))
    ing = services.ingestions
    app.add_route(f"{BASE}/ingestion/_search", IngestionSearch(ing, settings.api))
    app.add_route(f"{BASE}/ingestion/{{ingestion_id}}", IngestionItem(ing, settings.api))
    app.add_route(f"{BASE}/ingestion/{{ingestion_id}}/_run", IngestionRun(ing, settings.api))
    app.add_route(f"{BASE}/ingestion/{{ingestion_id}}/_validate", IngestionValidate(ing, settings.api))
    jobs = services.jobs
    app.add_route(f"{BASE}/jobs", JobTypes(jobs))
    app.add_route(f"{BASE}/jobs/_search", JobSearch(jobs, settings.api))
    app.add_route(f"{BASE}/jobs/{{job_type}}", JobList(jobs))
    app.add_route(f"{BASE}/jobs/{{job_type}}/{{job_id}}", JobStatus(jobs))
    app.add_route(f"{BASE}/jobs/{{job_type}}/{{job_id}}/_abort", JobAbort(jobs))
    app.add_route(f"{BASE}/jobs/{{job_type}}/{{job_id}}/_runs/{{run_id}}", JobRun(jobs))
    app.add_route(f"{BASE}/jobs/{{job_type}}/{{job_id}}/_runs/{{run_id}}/_errors", JobRunErrors(jobs))
    app.add_route(f"{BASE}/_health", Health(services.health))
    app.add_route(f"{BASE}/_openapi.json", OpenApiDocument(partial(build_spec, base=BASE, api=settings.api)))
    app.add_route("/metrics", Metrics(services.metrics_registry))
    app.add_route(f"{BASE}/_whoami", WhoAmI(settings.auth.mode))
    _add_web_page(app, settings)
    if settings.api.es_proxy:
        # SPEC §13: every path outside the connector API is Elasticsearch's, `/` included (routes
        # win over sinks in falcon, so none may be added outside /_siren/connector/ in this mode).
        app.add_sink(EsProxy(settings), FORWARDED)
    return app


def _add_web_page(app: falcon.App[falcon.Request, falcon.Response], settings: Settings) -> None:
    """The web page (SPEC §11): ``/`` sends people to it; it calls the JSON API like any client.

    In proxy mode ``/`` is Elasticsearch's (SPEC §11, §13): the page is then at its own address only.
    """
    version, assets = load_assets()
    if not settings.api.es_proxy:
        app.add_route("/", UiRoot())
    app.add_route(f"{BASE}/_ui", UiPage(version=version, auth_mode=settings.auth.mode))
    app.add_route(f"{BASE}/_ui/static/{{version}}/{{asset}}", UiAsset(version=version, assets=assets))


def _nothing_forwarded(_path: str) -> bool:
    return False
