"""Own the OpenAPI 3.1 document of the HTTP API, generated from the request and response models.

Bodies are never described by hand: request bodies are the pydantic models the
services validate with (``DatasourceBody``, ``PutIngestionBody``,
``SampleBody``, ``RunBody``, ``ValidateBody``), responses the models of
:mod:`api.schemas`. All of them go through one call of pydantic's
``models_json_schema``, whose ``$defs`` become ``components/schemas``;
pydantic v2 emits JSON Schema 2020-12, which is OpenAPI 3.1's dialect, so
nothing needs converting.

Why not a library such as spectree or falcon-apispec: they want to own
request validation (decorators on responders, their own 422 body) or lag
behind falcon 4 and OpenAPI 3.1, while validation here must keep producing
SPEC §7's error shape through ``connector.validation``. What remains
hand-written is what the models cannot know, in ``api.operations.ROUTES``:
each route's methods, summaries, query parameters and status codes. Scopes
come from each resource's ``scopes`` attribute (``public`` resources need
none), and ``tests/api/test_openapi.py`` checks ROUTES against the routes
``create_app`` registers.

Building the document touches nothing outside this process.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api import schemas
from api.auth import ANY_SCOPE
from api.operations import (
    JSON,
    PATH_PARAMETERS,
    RESPONSE_PARAMETERS,
    ROUTES,
    Model,
    Op,
    Route,
    Text,
    query_parameters,
)
from connector.settings import ApiSettings

OPENAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/{model}"
_TEXT = {"type": "string"}

# ---------------------------------------------------------------- responses shared by operations

_ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "malformed JSON (parse_exception), invalid content or parameters (validation_exception), "
        "or the database refused (datasource_connection_exception, sql_exception)",
    ),
    401: ("Unauthorized", "missing or invalid credentials (auth.mode token or basic)"),
    403: ("Forbidden", "the credentials lack the operation's scope"),
    404: ("NotFound", "unknown id"),
    409: ("Conflict", "the resource's state forbids the request"),
    413: ("PayloadTooLarge", "the body is over api.max_body_bytes"),
    415: ("UnsupportedMediaType", "the body is not declared application/json (media_type_exception)"),
    429: (
        "TooManyRequests",
        "auth.mode basic: this process is already checking as many passwords as auth.password_checks "
        "and auth.password_check_queue allow (too_many_requests_exception); retry after Retry-After seconds",
    ),
    503: ("StoreUnavailable", "Elasticsearch is unreachable or failing"),
}

_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "the caller's X-Request-ID if it is sane, else a new one; also on the log lines",
        "required": True,
        "schema": _TEXT,
    },
    "Location": {
        "description": "_run: the job status of the queued run; a redirect: where the web page is",
        "required": True,
        "schema": _TEXT,
    },
    "Content-Disposition": {"description": "attachment; filename=<run_id>-errors.<format>", "schema": _TEXT},
    "WWW-Authenticate": {"description": "the expected scheme", "required": True, "schema": _TEXT},
    "Retry-After": {"description": "seconds to wait before retrying", "required": True, "schema": _TEXT},
}

_ERROR_HEADERS = {401: ("WWW-Authenticate",), 429: ("Retry-After",)}


def _header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-ID", *names)}


# ---------------------------------------------------------------- the document


def _model_modes() -> list[tuple[Model, JsonSchemaMode]]:
    """Every model the document refers to: request bodies as validated, responses as serialized."""
    pairs: list[tuple[Model, JsonSchemaMode]] = [(schemas.ErrorBody, "serialization")]
    for route in ROUTES:
        for op in route.ops.values():
            if op.body is not None:
                pairs.append((op.body, "validation"))
            for body in op.ok.values():
                model = body.line_model if isinstance(body, Text) else body
                if model is not None:
                    pairs.append((model, "serialization"))
    return list(dict.fromkeys(pairs))


def build_spec(*, base: str, api: ApiSettings | None = None) -> dict[str, Any]:
    """Return the OpenAPI document of the routes under ``base`` (``create_app``'s ``BASE``)."""
    api = api or ApiSettings()
    pairs = _model_modes()
    refs, defs = models_json_schema(pairs, ref_template=SCHEMA_REF)
    ref = {model: refs[(model, mode)] for model, mode in pairs}
    query = query_parameters(api)

    paths: dict[str, Any] = {}
    for route in ROUTES:
        item: dict[str, Any] = {}
        path = route.path(base)
        path_names = [name for name in PATH_PARAMETERS if f"{{{name}}}" in path]
        if path_names:
            item["parameters"] = [
                {
                    "name": n,
                    "in": "path",
                    "required": True,
                    "schema": PATH_PARAMETERS[n][0],
                    "description": PATH_PARAMETERS[n][1],
                }
                for n in path_names
            ]
        for method, op in route.ops.items():
            item[method.lower()] = _operation(route, method, op, ref, query, max_body=api.max_body_bytes)
        paths[path] = item

    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Siren connector service",
            "version": _version(),
            "description": "The Siren Federate connector API (`/_siren/connector/...`): datasources, "
            "ingestions and their jobs. With `auth.mode = none` no credentials are needed; otherwise "
            "each operation needs the scope listed in its security requirement (`admin` implies the others).",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "responses": {
                name: {
                    "description": text,
                    "headers": _header_refs(*_ERROR_HEADERS.get(status, ())),
                    "content": {JSON: {"schema": ref[schemas.ErrorBody]}},
                }
                for status, (name, text) in _ERRORS.items()
            },
            "headers": _HEADERS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "auth.mode = token"},
                "basicAuth": {"type": "http", "scheme": "basic", "description": "auth.mode = basic"},
            },
        },
    }


def _operation(
    route: Route,
    method: str,
    op: Op,
    ref: dict[Model, dict[str, Any]],
    query: dict[str, tuple[dict[str, Any], str]],
    *,
    max_body: int,
) -> dict[str, Any]:
    public = bool(getattr(route.resource, "public", False))
    scope = None if public else route.resource.scopes[method]
    roles = [] if scope == ANY_SCOPE else [scope]
    out: dict[str, Any] = {
        "operationId": f"{method.lower()}{route.resource.__name__}",
        "summary": op.summary,
        "security": [] if scope is None else [{"bearerAuth": roles}, {"basicAuth": roles}],
    }
    if scope is not None:
        out["description"] = "Any authenticated caller." if scope == ANY_SCOPE else f"Scope: `{scope}`."
    json_out = any(not isinstance(body, Text) for body in op.ok.values())
    names = (*RESPONSE_PARAMETERS, *op.query) if json_out else op.query
    if names:
        out["parameters"] = [
            {"name": n, "in": "query", "required": False, "schema": query[n][0], "description": query[n][1]}
            for n in names
        ]
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "description": f"at most {max_body} bytes",
            "content": {JSON: {"schema": ref[op.body]}},
        }
    responses: dict[str, Any] = {}
    for status, body in op.ok.items():
        responses[str(status)] = _response(body, ref, op.headers.get(status, ()))
    errors = {400, *op.errors}
    if not public:
        errors |= {401, 403, 429}
    if op.body is not None:
        errors |= {413, 415}
    if op.store:
        errors.add(503)
    for status in sorted(errors - set(op.ok)):
        responses[str(status)] = {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
    out["responses"] = dict(sorted(responses.items()))
    return out


def _response(body: Model | Text, ref: dict[Model, dict[str, Any]], headers: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(body, Text):
        content: dict[str, Any] = {}
        for media_type in body.media_types:
            entry: dict[str, Any] = {"schema": {"type": "object"} if media_type == JSON else _TEXT}
            if body.line_model is not None and media_type == "application/x-ndjson":
                entry["x-line-schema"] = ref[body.line_model]
            content[media_type] = entry
        out: dict[str, Any] = {"description": body.description, "headers": _header_refs(*headers)}
        if content:  # a redirect or a 304 has no body
            out["content"] = content
        return out
    doc = (body.__doc__ or body.__name__).strip().splitlines()[0]
    return {"description": doc, "headers": _header_refs(*headers), "content": {JSON: {"schema": ref[body]}}}


def _version() -> str:
    try:
        return metadata.version("siren-connector-service")
    except metadata.PackageNotFoundError:
        return "0+unknown"
