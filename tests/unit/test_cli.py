from __future__ import annotations

import pytest

from tests.support import free_port, run_command

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("param", ["since", "=2024-01-01"])
def test_run_refuses_a_param_that_is_not_name_value(param: str) -> None:
    # Nothing listens at this URL: the command must stop before calling the API.
    result = run_command(
        ["ingestion", "run", "orders", "--param", "region=eu", "--param", param],
        {"CONNECTOR_URL": f"http://127.0.0.1:{free_port()}"},
    )
    assert result.returncode == 2, result.stderr
    assert f"'{param}' is not NAME=VALUE" in result.stderr
