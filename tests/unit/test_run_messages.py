"""The first line of a failed run's ``error`` says what happened (seed 003: what failed, then why)."""

from __future__ import annotations

import pytest

from connector.errors import ConnectionLost, DatasourceUnavailable, QueryFailed
from ingestion.run.runner import failure_messages

pytestmark = pytest.mark.unit


def test_failing_to_connect_and_losing_an_established_connection_are_told_apart() -> None:
    refused = DatasourceUnavailable("cannot connect to datasource: connection refused")
    assert failure_messages("j", refused, rows_read=0) == [
        "Could not connect to the datasource of [j].",
        "cannot connect to datasource: connection refused",
    ]
    lost = ConnectionLost("lost the datasource connection: terminating connection due to administrator command")
    assert failure_messages("j", lost, rows_read=4500) == [
        "Lost the connection to the datasource of [j] after 4500 rows.",
        "lost the datasource connection: terminating connection due to administrator command",
    ]
    assert lost.error_type == refused.error_type  # the same error type for callers of the API


def test_a_query_error_is_not_a_connection_error() -> None:
    assert failure_messages("j", QueryFailed("relation does not exist"), rows_read=10)[0] == (
        "Could not execute datasource query of [j]."
    )
