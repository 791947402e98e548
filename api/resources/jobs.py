"""Own the ``/_siren/connector/jobs`` resources (SPEC §6, seeds 000-003)."""

from __future__ import annotations

from typing import Any

import falcon

from api.params import check_params, page_params, read_json, single
from connector import errors_report
from connector.errors import InvalidDefinition
from connector.job_query import JobQuery
from connector.job_service import JobService
from connector.job_state import RunStatus, envelope
from connector.settings import ApiSettings

READ = {"GET": "job:read", "POST": "job:read"}
SEARCH_FILTERS = ("type", "id", "state", "start_time_from", "start_time_to", "ended", "q", "sort")
PAGING = ("from", "size", "start", "count")


class JobTypes:
    """``GET /jobs``: job types with counts (seed 000 "names")."""

    scopes = READ

    def __init__(self, service: JobService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ())
        resp.media = {"types": self.service.types()}


class JobList:
    """``GET /jobs/<type>``: the queued and running jobs of a type."""

    scopes = READ

    def __init__(self, service: JobService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_type: str) -> None:
        check_params(req, ())
        runs = self.service.active(job_type)
        resp.media = {"type": job_type, "jobs": [envelope(r.type, r.id, r) for r in runs]}


class JobStatus:
    """``GET /jobs/<type>/<id>``: the current run, else the last one (seed 003)."""

    scopes = READ

    def __init__(self, service: JobService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_type: str, job_id: str) -> None:
        check_params(req, ())
        status = self.service.status(job_type, job_id)
        resp.media = envelope(job_type, job_id, status)
        if status is None:
            resp.status = falcon.HTTP_404


class JobAbort:
    """``POST /jobs/<type>/<id>/_abort``: idempotent; 409 once the run has ended."""

    scopes = {"POST": "job:write"}

    def __init__(self, service: JobService) -> None:
        self.service = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, job_type: str, job_id: str) -> None:
        check_params(req, ())
        resp.media = envelope(job_type, job_id, self.service.abort(job_type, job_id))


class JobSearch:
    """``GET|POST /jobs/_search``: the job log, newest first, in the seed-003 shape."""

    scopes = READ

    def __init__(self, service: JobService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, (*SEARCH_FILTERS, *PAGING))
        given = {name: single(req, name) for name in SEARCH_FILTERS}
        query = JobQuery.parse({k: v for k, v in given.items() if v is not None}, entry_type="query_parameter")
        from_, size = page_params(
            req, default_size=self.api.default_page_size, max_size=self.api.max_page_size, window=None
        )
        self._render(resp, query, from_, size)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.params:
            self.on_get(req, resp)
            return
        body = read_json(req, limit=self.api.max_body_bytes, required=False)
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise InvalidDefinition.single("$", "object", "the search body must be a JSON object")
        unknown = sorted(set(body) - {*SEARCH_FILTERS, *PAGING})
        if unknown:
            raise InvalidDefinition.single(f"$.{unknown[0]}", "unknown_field", "unknown field")
        query = JobQuery.parse(body, entry_type="json_data_property")
        from_ = _body_int(body, ("from", "start"), 0, None)
        size = _body_int(body, ("size", "count"), self.api.default_page_size, self.api.max_page_size)
        self._render(resp, query, from_, size)

    def _render(self, resp: falcon.Response, query: JobQuery, from_: int, size: int) -> None:
        page = self.service.search(query, from_=from_, size=size)
        hits = [{"_id": h.id, "_source": RunStatus.from_source(h.source).public_source()} for h in page.hits]
        resp.media = {"hits": {"total": page.total, "hits": hits}}


class JobRun:
    """``GET /jobs/<type>/<id>/_runs/<run_id>``: one historical run."""

    scopes = READ

    def __init__(self, service: JobService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_type: str, job_id: str, run_id: str) -> None:
        check_params(req, ())
        status: RunStatus = self.service.run(job_type, job_id, run_id)
        resp.media = envelope(job_type, job_id, status)


class JobRunErrors:
    """``GET /jobs/<type>/<id>/_runs/<run_id>/_errors``: rejected rows, NDJSON or CSV (seed 001)."""

    scopes = READ

    def __init__(self, service: JobService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_type: str, job_id: str, run_id: str) -> None:
        check_params(req, ("format",))
        fmt = (single(req, "format") or "ndjson").lower()
        if fmt not in ("ndjson", "csv"):
            raise InvalidDefinition.single("format", "one_of", "must be ndjson or csv", entry_type="query_parameter")
        chunks = errors_report.download(self.service, job_type, job_id, run_id, fmt=fmt)
        resp.content_type = "application/x-ndjson" if fmt == "ndjson" else "text/csv; charset=utf-8"
        resp.set_header("Content-Disposition", f'attachment; filename="{run_id}-errors.{fmt}"')
        resp.stream = chunks


def _body_int(body: dict[str, Any], names: tuple[str, ...], default: int, maximum: int | None) -> int:
    given = [n for n in names if n in body]
    if len(given) > 1:
        raise InvalidDefinition.single(f"$.{given[1]}", "exclusive", f"give only one of {', '.join(given)}")
    if not given:
        return default
    value = body[given[0]]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidDefinition.single(f"$.{given[0]}", "integer", "must be a non-negative integer")
    if maximum is not None and value > maximum:
        raise InvalidDefinition.single(f"$.{given[0]}", "maximum", f"must be at most {maximum}", params=[maximum])
    return value
