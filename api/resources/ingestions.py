"""Own the ``/_siren/connector/ingestion`` resources (SPEC §5)."""

from __future__ import annotations

import falcon

from api.params import bool_param, check_params, page_params, read_json
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
        result = self.service.put(ingestion_id, read_json(req, limit=self.api.max_body_bytes))
        resp.status = falcon.HTTP_201 if result == "created" else falcon.HTTP_200
        resp.media = {"_id": ingestion_id, "result": result}

    def on_get(self, req: falcon.Request, resp: falcon.Response, ingestion_id: str) -> None:
        check_params(req, ())
        ingestion = self.service.get(ingestion_id)
        resp.media = {"_id": ingestion_id, "found": True, "_source": ingestion.public_source()}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ingestion_id: str) -> None:
        check_params(req, ())
        self.service.delete(ingestion_id)
        resp.media = {"_id": ingestion_id, "result": "deleted"}


class IngestionSearch:
    scopes = ADMIN

    def __init__(self, service: IngestionService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ("from", "size", "start", "count"))
        from_, size = page_params(req, default_size=self.api.default_page_size, max_size=self.api.max_page_size)
        total, items = self.service.page(from_=from_, size=size)
        resp.media = {"hits": {"total": total, "hits": [{"_id": i.id, "_source": i.public_source()} for i in items]}}

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
