"""SPEC §14: which index names an ingestion may write, and which pipelines it may run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connector.index_rules import PIN_TAG, RuleBroken, check_index_name, check_pipeline, pinned_pipeline
from connector.ingestion_def import IngestBody

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    [
        ".connector-datasources",
        ".security",
        ".kibana_1",
        "_all",
        "*",
        "logs-*",
        "a,b",
        "-x",
        "UPPER",
        "a{{x}}",
        "<logs-{now/d}>",
    ],
)
def test_names_that_are_not_the_users_to_write(name: str) -> None:
    with pytest.raises(RuleBroken):
        check_index_name(name, service_prefix=".connector-")


def test_the_service_prefix_is_reserved_with_or_without_its_dot() -> None:
    for name in ("connector-datasources", "connector-anything"):
        with pytest.raises(RuleBroken):
            check_index_name(name, service_prefix=".connector-")
    with pytest.raises(RuleBroken):  # its staging index, connector-<hex>, would be in the prefix
        check_index_name("connector", service_prefix=".connector-")
    with pytest.raises(RuleBroken):
        check_index_name("svc-", service_prefix="svc-", prefix_only=True)
    assert check_index_name("connectors", service_prefix=".connector-") == "connectors"
    assert check_index_name("c", service_prefix=".connector-", prefix_only=True) == "c"
    assert check_index_name("events", service_prefix="svc-") == "events"


@pytest.mark.parametrize(
    "pipeline",
    [
        {"processors": [{"script": {"source": "ctx._index = 'x'"}}]},
        {"processors": [{"set": {"field": "a", "value": 1, "if": "ctx.a == null"}}]},
        {"processors": [{"reroute": {"destination": "x"}}]},
        {"processors": [{"pipeline": {"name": "other"}}]},
        {"processors": [{"date_index_name": {"field": "t", "index_name_prefix": "x-", "date_rounding": "d"}}]},
        {"processors": [{"enrich": {"policy_name": "p", "field": "a", "target_field": "b"}}]},
        {"processors": [{"foreach": {"field": "a", "processor": {"script": {"source": "1"}}}}]},
        {"processors": [{"set": {"field": "a", "value": 1, "on_failure": [{"script": {"source": "1"}}]}}]},
        {"processors": [{"set": {"field": "a", "value": 1}}], "on_failure": [{"pipeline": {"name": "x"}}]},
        {"processors": [{"set": {"field": "a", "value": 1, "tag": PIN_TAG}}]},
        {"processors": []},
        {"processors": [{"set": {}, "trim": {}}]},
        {"processors": [{"set": {"field": "a", "value": 1}}], "extra": 1},
    ],
)
def test_pipelines_outside_the_allow_list_are_refused(pipeline: dict[str, object]) -> None:
    with pytest.raises(RuleBroken):
        check_pipeline(pipeline, allow_scripts=False)


def test_scripts_only_when_allowed() -> None:
    pipeline = {"processors": [{"script": {"source": "ctx.a = 1", "if": "ctx.b != null"}}]}
    check_pipeline(pipeline, allow_scripts=True)


def test_every_path_through_a_registered_pipeline_ends_on_the_write_index() -> None:
    pipeline = {
        "description": "d",
        "processors": [{"kv": {"field": "message", "field_split": " ", "value_split": "="}}],
        "on_failure": [{"set": {"field": "failed", "value": True}}],
    }
    registered = pinned_pipeline(pipeline, "events-staging-1")
    pin = {"set": {"field": "_index", "value": "events-staging-1", "override": True, "tag": PIN_TAG}}
    assert registered["processors"][-1] == pin
    assert registered["on_failure"][-1] == pin
    assert registered["description"] == "d"
    assert pipeline["processors"][-1] != pin  # the definition itself is unchanged


@pytest.mark.parametrize(
    "ingest",
    [
        {"mapping": {"runtime": {"r": {"type": "long", "script": "emit(1)"}}}},
        {"mapping": {"properties": {"n": {"type": "long", "script": {"source": "emit(1)"}}}}},
        {"transforms": [{"input": [{"source": "a"}], "output": "b", "mapping": {"type": "long", "script": "x"}}]},
    ],
)
def test_mapping_scripts_are_painless_and_need_the_setting(ingest: dict[str, object]) -> None:
    body = {"datasource": "d", "query": "SELECT 1", "target": "t", **ingest}
    with pytest.raises(ValidationError):
        IngestBody.model_validate(body, context={"allow_scripts": False})
    IngestBody.model_validate(body, context={"allow_scripts": True})
