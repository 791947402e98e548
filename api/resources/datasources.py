"""Own the ``/_siren/connector/datasource`` resources (SPEC §4)."""

from __future__ import annotations

import falcon

from api.params import bool_param, check_params, page_params, read_json, single
from connector.datasource import Datasource
from connector.settings import ApiSettings
from ingestion.datasource_service import DatasourceService

ADMIN = {"GET": "admin", "PUT": "admin", "DELETE": "admin", "POST": "admin"}


def _hit(datasource: Datasource) -> dict[str, object]:
    return {"_id": datasource.id, "_source": datasource.public_source()}


class DatasourceItem:
    scopes = ADMIN

    def __init__(self, service: DatasourceService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_put(self, req: falcon.Request, resp: falcon.Response, ds_id: str) -> None:
        check_params(req, ("overwrite",))
        overwrite = bool_param(req, "overwrite")
        body = read_json(req, limit=self.api.max_body_bytes)
        result = self.service.put(ds_id, body, overwrite=overwrite)
        resp.status = falcon.HTTP_201 if result == "created" else falcon.HTTP_200
        resp.media = {"_id": ds_id, "result": result}

    def on_get(self, req: falcon.Request, resp: falcon.Response, ds_id: str) -> None:
        check_params(req, ())
        datasource = self.service.get(ds_id)
        resp.media = {"_id": ds_id, "found": True, "_source": datasource.public_source()}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ds_id: str) -> None:
        check_params(req, ("force",))
        self.service.delete(ds_id, force=bool_param(req, "force"))
        resp.media = {"_id": ds_id, "result": "deleted"}


class DatasourceSearch:
    scopes = ADMIN

    def __init__(self, service: DatasourceService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ("from", "size", "start", "count"))
        from_, size = page_params(req, default_size=self.api.default_page_size, max_size=self.api.max_page_size)
        total, items = self.service.page(from_=from_, size=size)
        resp.media = {"hits": {"total": total, "hits": [_hit(d) for d in items]}}

    on_post = on_get


class DatasourceValidate:
    scopes = ADMIN

    def __init__(self, service: DatasourceService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response, ds_id: str) -> None:
        check_params(req, ())
        body = read_json(req, limit=self.api.max_body_bytes, required=False)
        resp.media = self.service.validate(ds_id, body)


class DatasourceMetadata:
    scopes = ADMIN

    def __init__(self, service: DatasourceService) -> None:
        self.service = service

    def on_post(self, req: falcon.Request, resp: falcon.Response, ds_id: str) -> None:
        check_params(req, ("catalog", "schema", "table"))
        resp.media = self.service.metadata(
            ds_id,
            catalog=single(req, "catalog"),
            schema=single(req, "schema"),
            table=single(req, "table"),
        )

    on_get = on_post


class DatasourceSample:
    scopes = ADMIN

    def __init__(self, service: DatasourceService, api: ApiSettings) -> None:
        self.service = service
        self.api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response, ds_id: str) -> None:
        check_params(req, ())
        body = read_json(req, limit=self.api.max_body_bytes)
        sample = self.service.sample(ds_id, body)
        resp.media = {
            "_id": ds_id,
            "columns": sample.columns,
            "rows": sample.rows,
            "mapping": sample.mapping,
        }
