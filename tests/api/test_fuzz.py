"""Schemathesis against the live app: every operation, generated from the served OpenAPI document.

A SQLite datasource, an ingestion on it and one queued run are created first.
Each example picks an operation and one of its variants: data generated from
the document (positive), the same with the path parameters set to the seeded
ids (so id-based operations run past their 404), the seeded ids with a known
good body (so writes get to 2xx and 409), or data that breaks the document
(negative: the API must refuse it with a documented 4xx, never a 5xx).
Operations are interleaved, so runs get queued, aborted and queued again,
definitions replaced and deleted; a case that deletes or replaces a seeded
resource is followed by restoring it. No worker runs.

Checks on every response: no 5xx, and conformance to the document (status
code documented, content type, required headers, body schema; not the body
schema when the case has ``filter_path``, which keeps a subset of it). Generation is
derandomized so that CI is repeatable; ``CONNECTOR_FUZZ_RANDOM=1`` explores
new cases (with ``CONNECTOR_FUZZ_EXAMPLES=20000``, say).
"""

from __future__ import annotations

import collections
import os
from typing import Any

import pytest
import schemathesis
from falcon import testing
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import BASE
from tests.conftest import Database

pytestmark = [pytest.mark.api, pytest.mark.timeout(300)]

# Requests in all, over 26 operations: about 30 s on two cores. CONNECTOR_FUZZ_EXAMPLES overrides it.
EXAMPLES = int(os.environ.get("CONNECTOR_FUZZ_EXAMPLES", "2500"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS_FILTERED = [check for check in CHECKS if check is not response_schema_conformance]

DOCUMENT = f"{BASE}/_openapi.json"
METHODS = ("get", "put", "post", "delete")
DS_ID = "fuzz-ds"
INGESTION_ID = "fuzz-ing"
QUERY = "SELECT * FROM events {{#max_primary_key}}WHERE id > {{max_primary_key}}{{/max_primary_key}} ORDER BY id"


class Seeds:
    """The resources generated cases are pointed at, restored when a case removes or replaces them."""

    def __init__(self, api: testing.TestClient, db: Database) -> None:
        self.api = api
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT, at TIMESTAMP, score REAL)")
        db.execute(
            "INSERT INTO events VALUES (1, 'a', '2024-01-02 03:04:05', 1.5), (2, NULL, NULL, NULL), (3, 'c', NULL, -2)"
        )
        self.datasource = {"jdbc": {"url": db.jdbc_url, "timezone": "Europe/Paris"}}
        self.ingestion = {
            "ingest": {
                "datasource": DS_ID,
                "query": QUERY,
                "target": "fuzz-target",
                "strategy": "INCREMENTAL",
                "pk_field": "id",
                "schedule": "0 0 3 ? * MON-FRI",
                "transforms": [{"input": [{"source": "name"}], "output": "label", "mapping": {"type": "keyword"}}],
            }
        }
        self.restore()
        queued = api.simulate_post(f"{BASE}/ingestion/{INGESTION_ID}/_run", json={"params": {"x": 1}})
        assert queued.status_code == 202, queued.text
        self.run_id = queued.json["status"]["run_id"]
        self.good_bodies = {
            f"PUT {BASE}/datasource/{{ds_id}}": self.datasource,
            f"PUT {BASE}/ingestion/{{ingestion_id}}": self.ingestion,
            f"POST {BASE}/datasource/{{ds_id}}/_sample": {
                "query": "SELECT * FROM events WHERE id > {{n}}",
                "size": 2,
                "params": {"n": 1},
            },
            f"POST {BASE}/ingestion/{{ingestion_id}}/_run": {"params": {"n": 1}},
            f"POST {BASE}/ingestion/{{ingestion_id}}/_validate": {"size": 2, "params": {"n": 1}},
        }

    def restore(self) -> None:
        ds = self.api.simulate_put(f"{BASE}/datasource/{DS_ID}", json=self.datasource, params={"overwrite": "true"})
        assert ds.status_code in (200, 201), ds.text
        ingestion = self.api.simulate_put(f"{BASE}/ingestion/{INGESTION_ID}", json=self.ingestion)
        assert ingestion.status_code in (200, 201), ingestion.text

    def ids(self, operation: schemathesis.APIOperation) -> dict[str, str]:
        known = {
            "ds_id": DS_ID,
            "ingestion_id": INGESTION_ID,
            "job_id": INGESTION_ID,
            "run_id": self.run_id,
            "asset": "app.js",  # a file of the web page (any version is served)
        }
        return {p.name: known[p.name] for p in operation.path_parameters if p.name in known}


def variants(operation: schemathesis.APIOperation, seeds: Seeds) -> list[st.SearchStrategy[schemathesis.Case]]:
    """The strategies one operation's cases are drawn from."""
    out = [operation.as_strategy()]
    ids = seeds.ids(operation)
    if ids:
        out.append(operation.as_strategy(path_parameters=ids))
    body = seeds.good_bodies.get(operation.label)
    if body is not None:
        out.append(operation.as_strategy(path_parameters=ids, body=body, media_type="application/json"))
    if operation.path_parameters or operation.query or operation.body:
        out.append(operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
    return out


def test_every_operation_conforms_to_the_document(api: testing.TestClient, sqlite_db: Database) -> None:
    seeds = Seeds(api, sqlite_db)
    schema = schemathesis.openapi.from_wsgi(DOCUMENT, api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {f"{m.upper()} {p}" for p, item in schema.raw_schema["paths"].items() for m in item if m in METHODS}
    # Schemathesis leaves out the operation that served the document (it has just called it).
    assert {op.label for op in operations} == documented - {f"GET {DOCUMENT}"}
    choices = [(op, strategy) for op in operations for strategy in variants(op, seeds)]
    statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("CONNECTOR_FUZZ_RANDOM"),
        phases=[Phase.generate],  # no shrinking: the failure report has the request as curl
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(data: Any) -> None:
        operation, strategy = data.draw(st.sampled_from(choices), label="operation")
        case = data.draw(strategy, label="case")
        response = case.call()
        statuses[operation.label][response.status_code] += 1
        # filter_path keeps a subset of the documented body by design (and is fuzzed all the same).
        filtered = "filter_path" in (case.query or {})
        case.validate_response(response, checks=CHECKS_FILTERED if filtered else CHECKS)
        if case.method in ("PUT", "DELETE") and response.status_code < 300 and seeds.ids(operation):
            seeds.restore()

    fuzz()
    report = {label: dict(sorted(counts.items())) for label, counts in sorted(statuses.items())}
    for operation in operations:
        assert set(statuses[operation.label]) - {404}, f"{operation.label} never got past 404: {report}"
