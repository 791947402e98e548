"""Own the table of the API's operations as the OpenAPI document describes them.

What the request and response models cannot say: for each route that
``create_app`` registers, its resource, methods, summaries, query parameters
and status codes. ``api/openapi.py`` turns it into the document;
``tests/api/test_openapi.py`` checks it against the registered routes and
against the parameters each resource accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from api import schemas
from api.resources.datasources import (
    DatasourceItem,
    DatasourceMetadata,
    DatasourceSample,
    DatasourceSearch,
    DatasourceValidate,
)
from api.resources.health import Health, Metrics
from api.resources.ingestions import IngestionItem, IngestionRun, IngestionSearch, IngestionValidate
from api.resources.jobs import (
    PAGING,
    SEARCH_FILTERS,
    JobAbort,
    JobList,
    JobRun,
    JobRunErrors,
    JobSearch,
    JobStatus,
    JobTypes,
)
from api.resources.openapi import OpenApiDocument
from api.resources.whoami import WhoAmI
from api.ui.resources import UiAsset, UiPage, UiRoot
from connector.datasource import DatasourceBody
from connector.errors_report import ERROR_FIELDS
from connector.ingestion_def import PutIngestionBody
from connector.job_query import JOB_TYPES, MAX_Q_CHARS, SORT_PATTERN
from connector.job_state import JobState
from connector.settings import ApiSettings
from connector.validation import ID_PATTERN, ID_RULE
from ingestion.datasource_service import SampleBody
from ingestion.ingestion_service import RunBody, ValidateBody

JSON = "application/json"

# ---------------------------------------------------------------- parameters

_ID = {"type": "string", "pattern": ID_PATTERN.pattern}
PATH_PARAMETERS: dict[str, tuple[dict[str, Any], str]] = {
    "ds_id": (_ID, f"datasource id: {ID_RULE}"),
    "ingestion_id": (_ID, f"ingestion id: {ID_RULE}"),
    "job_type": ({"type": "string", "enum": list(JOB_TYPES)}, "job type"),
    "job_id": (_ID, "job id (the ingestion id)"),
    "run_id": ({"type": "string", "minLength": 1}, "run id: the job id followed by a UUID"),
    "version": ({"type": "string", "minLength": 1}, "digest of the web page's files (any value is served)"),
    "asset": ({"type": "string", "minLength": 1}, "a file of the web page, e.g. app.js"),
}

_BOOL = {"type": "boolean"}
_TEXT = {"type": "string"}
_COUNT = {"type": "integer", "minimum": 0}


def query_parameters(api: ApiSettings) -> dict[str, tuple[dict[str, Any], str]]:
    """Return the schema and description of every query parameter, by name (limits from ``api``)."""
    size = {"type": "integer", "minimum": 0, "maximum": api.max_page_size}
    return {
        "pretty": (_BOOL, "given with any value: indent the JSON response"),
        "human": (_BOOL, "accepted as by Elasticsearch; responses have nothing to humanise"),
        "error_trace": (_BOOL, "accepted as by Elasticsearch; stack traces are never sent"),
        "filter_path": (
            _TEXT,
            "Elasticsearch response filtering of a successful response: a comma list of dotted paths, "
            "`*` within a field name, `**` for any depth, `-path` to exclude (e.g. `hits.total`)",
        ),
        "overwrite": (_BOOL, "replace an existing definition (else 409)"),
        "force": (_BOOL, "delete even while ingestions use the datasource"),
        "resume": (_BOOL, "continue the last failed or aborted run from its checkpoint"),
        "allow_large": (_BOOL, "let the run write more rows than ingestion.max_rows_per_run"),
        "from": (_COUNT, "first hit to return"),
        "size": (size, f"hits to return; default {api.default_page_size}"),
        "start": (_COUNT, "alias of from"),
        "count": (size, "alias of size"),
        "catalog": (_TEXT, "must be the connected catalog"),
        "schema": (_TEXT, "list this schema's tables and columns"),
        "table": (_TEXT, "only this table or view of the schema"),
        "type": ({"type": "string", "enum": list(JOB_TYPES)}, "job type"),
        "id": (_TEXT, "job id or a comma list"),
        "state": (_TEXT, f"state or a comma list of: {', '.join(s.value for s in JobState)}"),
        "start_time_from": (_TEXT, "inclusive: epoch ms, ISO 8601, 20220221 or 20220221T061500 (UTC by default)"),
        "start_time_to": (_TEXT, "inclusive, formats as start_time_from; a date alone means the end of that day"),
        "ended": (_BOOL, "true: final states only; false: queued, running or aborting"),
        "q": (
            {"type": "string", "maxLength": MAX_Q_CHARS},
            "free text over infos and error, Elasticsearch simple query string syntax (timeout -connection)",
        ),
        "sort": (
            {"type": "string", "pattern": SORT_PATTERN},
            "FIELD[:asc|desc]; default create_time:desc (newest first)",
        ),
        "format": ({"type": "string", "enum": ["ndjson", "csv"], "default": "ndjson"}, "report format"),
    }


# Every operation with a JSON response takes these (api.middleware.ResponseFormat).
RESPONSE_PARAMETERS = ("pretty", "human", "error_trace", "filter_path")

# ---------------------------------------------------------------- operations

Model = type[BaseModel]


@dataclass(frozen=True, slots=True)
class Text:
    """A non-JSON response body."""

    media_types: tuple[str, ...]
    description: str
    line_model: Model | None = None  # NDJSON: the model of one line


@dataclass(frozen=True, slots=True)
class Op:
    """What the models cannot say about one method of a route."""

    summary: str
    ok: dict[int, Model | Text]
    query: tuple[str, ...] = ()
    body: Model | None = None
    body_required: bool = False
    errors: tuple[int, ...] = ()  # besides 400, 401/403/429 (unless public), 413 (bodies) and 503 (store)
    store: bool = True  # reads or writes Elasticsearch: 503 when it is down
    headers: dict[int, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    """One ``add_route`` of ``create_app``; ``{base}`` stands for the API's base path."""

    template: str
    resource: type[Any]
    ops: dict[str, Op]

    def path(self, base: str) -> str:
        return self.template.format(base=base, **{name: f"{{{name}}}" for name in PATH_PARAMETERS})


_SEARCH_QUERY = (*SEARCH_FILTERS, *PAGING)
_LIST_QUERY = ("from", "size", "start", "count")
_DS_SEARCH = Op("List datasources, sorted by id", {200: schemas.DatasourceSearchResult}, _LIST_QUERY)
_ING_SEARCH = Op(
    "List ingestions, sorted by id, each with its schedule's next fire times",
    {200: schemas.IngestionSearchResult},
    _LIST_QUERY,
)
_METADATA = Op(
    "List the connected catalog's schemas, or one schema's tables, columns and primary keys",
    {200: schemas.DatasourceMetadataResult},
    ("catalog", "schema", "table"),
    errors=(404,),
)
_REDIRECT = Text((), "redirect to the web page, .../_siren/connector/_ui/")
_NOT_MODIFIED = Text((), "not modified (If-None-Match matched the ETag)")
_LOCATION: dict[int, tuple[str, ...]] = {307: ("Location",)}
_JOB_SEARCH_GET = Op("Search the job log, newest first (seed 003)", {200: schemas.JobSearchResult}, _SEARCH_QUERY)

ROUTES: tuple[Route, ...] = (
    Route("{base}/datasource/_search", DatasourceSearch, {"GET": _DS_SEARCH, "POST": _DS_SEARCH}),
    Route(
        "{base}/datasource/{ds_id}",
        DatasourceItem,
        {
            "PUT": Op(
                "Create (201) or, with overwrite, replace (200) a datasource; the password is encrypted at rest",
                {201: schemas.WriteResult, 200: schemas.WriteResult},
                ("overwrite",),
                body=DatasourceBody,
                body_required=True,
                errors=(409,),
            ),
            "GET": Op("Get a datasource, without its password", {200: schemas.DatasourceDoc}, errors=(404,)),
            "DELETE": Op(
                "Delete a datasource; 409 while an ingestion uses it, unless forced",
                {200: schemas.WriteResult},
                ("force",),
                errors=(404, 409),
            ),
        },
    ),
    Route(
        "{base}/datasource/{ds_id}/_validate",
        DatasourceValidate,
        {
            "POST": Op(
                "Connect and run SELECT 1 in a read-only session; with a body, check that configuration "
                "instead without storing it (the id need not exist)",
                {200: schemas.DatasourceValidateResult},
                body=DatasourceBody,
                errors=(404,),
            )
        },
    ),
    Route("{base}/datasource/{ds_id}/_metadata", DatasourceMetadata, {"GET": _METADATA, "POST": _METADATA}),
    Route(
        "{base}/datasource/{ds_id}/_sample",
        DatasourceSample,
        {
            "POST": Op(
                "Run a query read-only: its first rows, columns and the inferred mapping",
                {200: schemas.DatasourceSampleResult},
                body=SampleBody,
                body_required=True,
                errors=(404,),
            )
        },
    ),
    Route("{base}/ingestion/_search", IngestionSearch, {"GET": _ING_SEARCH, "POST": _ING_SEARCH}),
    Route(
        "{base}/ingestion/{ingestion_id}",
        IngestionItem,
        {
            "PUT": Op(
                "Create (201) or replace (200) an ingestion, validated entirely before it is stored; "
                "with a schedule, its next fire times and warnings about how it may be misread",
                {201: schemas.IngestionWriteResult, 200: schemas.IngestionWriteResult},
                body=PutIngestionBody,
                body_required=True,
                errors=(409,),
            ),
            "GET": Op(
                "Get an ingestion, without passwords, and its schedule's next fire times",
                {200: schemas.IngestionDoc},
                errors=(404,),
            ),
            "DELETE": Op(
                "Delete an ingestion; 409 while a run is queued or running",
                {200: schemas.WriteResult},
                errors=(404, 409),
            ),
        },
    ),
    Route(
        "{base}/ingestion/{ingestion_id}/_run",
        IngestionRun,
        {
            "POST": Op(
                "Queue a run; 409 while one is queued or running (the error body then has the job)",
                {202: schemas.JobEnvelope},
                ("resume", "allow_large"),
                body=RunBody,
                errors=(404, 409),
                headers={202: ("Location",)},
            )
        },
    ),
    Route(
        "{base}/ingestion/{ingestion_id}/_validate",
        IngestionValidate,
        {
            "POST": Op(
                "Dry run: rendered SQL, first documents after transforms, rejected rows, mapping; writes nothing",
                {200: schemas.IngestionValidateResult},
                body=ValidateBody,
                errors=(404,),
            )
        },
    ),
    Route("{base}/jobs", JobTypes, {"GET": Op("Job types with counts (seed 000)", {200: schemas.JobTypesResult})}),
    Route(
        "{base}/jobs/_search",
        JobSearch,
        {
            "GET": _JOB_SEARCH_GET,
            "POST": Op(
                "Search the job log with a JSON body (query parameters, when given, win over the body)",
                {200: schemas.JobSearchResult},
                _SEARCH_QUERY,
                body=schemas.JobSearchBody,
            ),
        },
    ),
    Route(
        "{base}/jobs/{job_type}",
        JobList,
        {"GET": Op("The queued and running jobs of a type", {200: schemas.JobListResult})},
    ),
    Route(
        "{base}/jobs/{job_type}/{job_id}",
        JobStatus,
        {
            "GET": Op(
                "The job's queued or running run, else its last run; 404 with found: false if it never ran",
                {200: schemas.JobEnvelope, 404: schemas.JobEnvelope},
            )
        },
    ),
    Route(
        "{base}/jobs/{job_type}/{job_id}/_abort",
        JobAbort,
        {
            "POST": Op(
                "Abort the job's run (a queued one at once); idempotent; 409 once it ended or if it never ran",
                {200: schemas.JobEnvelope},
                errors=(404, 409),
            )
        },
    ),
    Route(
        "{base}/jobs/{job_type}/{job_id}/_runs/{run_id}",
        JobRun,
        {"GET": Op("One run of the job", {200: schemas.JobEnvelope}, errors=(404,))},
    ),
    Route(
        "{base}/jobs/{job_type}/{job_id}/_runs/{run_id}/_errors",
        JobRunErrors,
        {
            "GET": Op(
                "The rows the run rejected, streamed (seed 001 result file)",
                {
                    200: Text(
                        ("application/x-ndjson", "text/csv"),
                        f"one rejected row per line (CSV: a header line first) with {', '.join(ERROR_FIELDS)}",
                        line_model=schemas.RejectedRowRecord,
                    )
                },
                ("format",),
                errors=(404,),
                headers={200: ("Content-Disposition",)},
            )
        },
    ),
    Route(
        "{base}/_health",
        Health,
        {
            "GET": Op(
                "Elasticsearch and the service indices: 200, or 503 when red",
                {200: schemas.HealthReport, 503: schemas.HealthReport},
            )
        },
    ),
    Route(
        "{base}/_openapi.json",
        OpenApiDocument,
        {"GET": Op("This document", {200: Text((JSON,), "the OpenAPI 3.1 document")}, store=False)},
    ),
    Route(
        "{base}/_whoami",
        WhoAmI,
        {"GET": Op("The caller's name and scopes, and the auth mode", {200: schemas.WhoAmIResult}, store=False)},
    ),
    # The web page (SPEC §11): public, since the shell and its scripts hold no data.
    Route("/", UiRoot, {"GET": Op("Redirect to the web page", {307: _REDIRECT}, store=False, headers=_LOCATION)}),
    Route(
        "{base}/_ui",
        UiPage,
        {
            "GET": Op(
                "The web page (a trailing slash is needed: without it, a redirect to it)",
                {200: Text(("text/html",), "the page's HTML shell"), 304: _NOT_MODIFIED, 307: _REDIRECT},
                store=False,
                headers=_LOCATION,
            )
        },
    ),
    Route(
        "{base}/_ui/static/{version}/{asset}",
        UiAsset,
        {
            "GET": Op(
                "A static file of the web page",
                {200: Text(("text/javascript", "text/css", "image/svg+xml"), "the file"), 304: _NOT_MODIFIED},
                errors=(404,),
                store=False,
            )
        },
    ),
    Route(
        "/metrics",
        Metrics,
        {"GET": Op("Prometheus metrics", {200: Text(("text/plain",), "Prometheus text format")}, store=False)},
    ),
)
