"""Own the ``/_siren/connector/jobs`` resources (SPEC §6)."""

from __future__ import annotations

import falcon

from api.params import check_params
from connector.errors import InvalidDefinition
from connector.job_state import INGESTION, envelope
from ingestion.ingestion_service import IngestionService

JOB_TYPES = (INGESTION,)


def check_type(job_type: str) -> None:
    if job_type not in JOB_TYPES:
        raise InvalidDefinition.single(
            "type",
            "one_of",
            f"unknown job type [{job_type}]; known types: {', '.join(JOB_TYPES)}",
            entry_type="path_parameter",
            params=list(JOB_TYPES),
        )


class JobStatus:
    """``GET /jobs/<type>/<id>``: the current run, else the last one (seed 003)."""

    scopes = {"GET": "job:read"}

    def __init__(self, service: IngestionService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_type: str, job_id: str) -> None:
        check_params(req, ())
        check_type(job_type)
        status = self.service.status(job_id)
        resp.media = envelope(job_type, job_id, status)
        if status is None:
            resp.status = falcon.HTTP_404


class JobAbort:
    """``POST /jobs/<type>/<id>/_abort``: idempotent; 409 once the run has ended."""

    scopes = {"POST": "job:write"}

    def __init__(self, service: IngestionService) -> None:
        self.service = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, job_type: str, job_id: str) -> None:
        check_params(req, ())
        check_type(job_type)
        resp.media = envelope(job_type, job_id, self.service.abort(job_id))
