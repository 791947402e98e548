"""Own the ``/_siren/connector/ingestion`` resources (SPEC §5)."""

from __future__ import annotations

from typing import Any

import falcon

from api.params import bool_param, check_params, page_params, read_json
from connector.ingestion_def import Ingestion
from connector.job_state import INGESTION, envelope
from connector.job_store import JOBS_PATH
from connector.settings import ApiSettings
from ingestion.ingestion_service import IngestionService

ADMIN = {"GET": "admin", "PUT": "admin", "DELETE": "admin", "POST": "admin"}


class IngestionItem:
    scopes = ADMIN

    def __init__(self, service: IngestionService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_put(self, req: falcon.Request, resp: falcon.Response, ingestion_id: str) -> None:
        check_params(req, ())
        outcome = self.service.put(ingestion_id, read_json(req, limit=self.api.max_body_bytes))
        resp.status = falcon.HTTP_201 if outcome.result == "created" else falcon.HTTP_200
        resp.media = {"_id": ingestion_id, "result": outcome.result}
        if outcome.schedule is not None:
            resp.media.update(outcome.schedule.as_fields())
            if outcome.schedule.warnings:
                resp.media["warnings"] = [f"schedule: {warning}" for warning in outcome.schedule.warnings]

    def on_get(self, req: falcon.Request, resp: falcon.Response, ingestion_id: str) -> None:
        check_params(req, ())
        ingestion = self.service.get(ingestion_id)
        resp.media = {"_id": ingestion_id, "found": True, "_source": ingestion.public_source()}
        resp.media.update(_schedule_fields(self.service, ingestion))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ingestion_id: str) -> None:
        check_params(req, ())
        self.service.delete(ingestion_id)
        resp.media = {"_id": ingestion_id, "result": "deleted"}


def _schedule_fields(service: IngestionService, ingestion: Ingestion) -> dict[str, Any]:
    """``next_fire_times`` and ``scheduler_enabled`` beside ``_source``, when the ingestion has a schedule."""
    outlook = service.schedule_outlook(ingestion.definition)
    return outlook.as_fields() if outlook is not None else {}


class IngestionSearch:
    scopes = ADMIN

    def __init__(self, service: IngestionService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ("from", "size", "start", "count"))
        from_, size = page_params(req, default_size=self.api.default_page_size, max_size=self.api.max_page_size)
        total, items = self.service.page(from_=from_, size=size)
        hits = [{"_id": i.id, "_source": i.public_source(), **_schedule_fields(self.service, i)} for i in items]
        resp.media = {"hits": {"total": total, "hits": hits}}

    on_post = on_get


class IngestionRun:
    scopes = {"POST": "job:write"}

    def __init__(self, service: IngestionService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response, ingestion_id: str) -> None:
        check_params(req, ("resume", "allow_large"))
        body = read_json(req, limit=self.api.max_body_bytes, required=False)
        status = self.service.run(
            ingestion_id, body, resume=bool_param(req, "resume"), allow_large=bool_param(req, "allow_large")
        )
        resp.status = falcon.HTTP_202
        resp.location = f"{JOBS_PATH}/{INGESTION}/{ingestion_id}"
        resp.media = envelope(INGESTION, ingestion_id, status)


class IngestionValidate:
    scopes = ADMIN

    def __init__(self, service: IngestionService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response, ingestion_id: str) -> None:
        check_params(req, ())
        resp.media = self.service.validate(ingestion_id, read_json(req, limit=self.api.max_body_bytes, required=False))
