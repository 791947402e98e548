"""The retry loops outside the bulk writer (tenacity): waiting for the cluster, re-reading after a conflict."""

from __future__ import annotations

import pytest

from connector.doc_store import VersionConflict, retry_on_conflict
from connector.errors import StoreUnavailable
from connector.es_client import create_client
from connector.settings import ElasticsearchSettings
from tests.support import free_port

pytestmark = pytest.mark.unit


def test_start_up_waits_for_the_cluster_then_gives_the_last_reason() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    settings = ElasticsearchSettings(url=f"http://127.0.0.1:{free_port()}", startup_wait_s=2.0)
    with pytest.raises(StoreUnavailable) as caught:
        create_client(settings, sleep=sleep, clock=lambda: now[0])
    assert slept == [0.5, 0.5, 0.5, 0.5]  # probes at 0, 0.5, 1, 1.5 and 2 s; then the deadline
    assert caught.value.reason.startswith(f"Elasticsearch at {settings.url} is unreachable")


def test_start_up_without_waiting_probes_once() -> None:
    slept: list[float] = []
    settings = ElasticsearchSettings(url=f"http://127.0.0.1:{free_port()}", startup_wait_s=30.0)
    with pytest.raises(StoreUnavailable):
        create_client(settings, wait=False, sleep=slept.append)
    assert slept == []


def test_a_conflict_is_re_read_and_tried_again_up_to_the_budget() -> None:
    calls: list[int] = []

    def loses_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise VersionConflict("changed since it was read")
        return "won"

    assert retry_on_conflict(3, loses_twice) == "won"
    calls.clear()
    with pytest.raises(VersionConflict):
        retry_on_conflict(2, loses_twice)
    assert len(calls) == 2
