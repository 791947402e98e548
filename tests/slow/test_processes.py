"""`connector serve` and `connector dev` as real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import urllib3

from tests.support import ServiceProcess, free_port, run_command

pytestmark = pytest.mark.slow


def test_serve_starts_and_answers(settings_env: dict[str, str], es, tmp_path: Path) -> None:
    port = free_port()
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], settings_env, tmp_path / "serve.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/_siren/connector/_health")
        http = urllib3.PoolManager()
        health = http.request("GET", f"http://127.0.0.1:{port}/_siren/connector/_health")
        assert health.status == 200
        assert orjson.loads(health.data)["status"] == "green"
        put = http.request(
            "PUT",
            f"http://127.0.0.1:{port}/_siren/connector/datasource/x",
            body=b'{"sql": {"url": "postgresql+psycopg://db.example/x"}}',
            headers={"Content-Type": "application/json"},
        )
        assert put.status == 201
        assert put.headers["X-Request-ID"]
    finally:
        code = proc.stop()
    assert code == 0, proc.output
    assert "Traceback" not in proc.output


def test_serve_with_unreachable_elasticsearch_fails_clearly(settings_env: dict[str, str]) -> None:
    env = {**settings_env, "CONNECTOR_ES_URL": f"http://127.0.0.1:{free_port()}", "CONNECTOR_ES_STARTUP_WAIT_S": "1"}
    result = run_command(["serve"], env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: Elasticsearch at http://127.0.0.1:")
    assert "is unreachable" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CONNECTOR_SECRET_KEY": ""}, "error: CONNECTOR_SECRET_KEY is not set"),
        ({"CONNECTOR_BIND": "0.0.0.0:1"}, "error: refusing to serve on 0.0.0.0:1 without authentication"),
        ({"CONNECTOR_ES_COMPATIBILITY_MODE": "sometimes"}, "error: invalid setting CONNECTOR_ES_COMPATIBILITY_MODE"),
    ],
)
def test_serve_refuses_bad_configuration(settings_env: dict[str, str], overrides: dict[str, str], message: str) -> None:
    env = {k: v for k, v in {**settings_env, **overrides}.items() if v}
    result = run_command(["serve"], env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_dev_stack_serves_the_demo(tmp_path: Path) -> None:
    port = free_port()
    env = {"CONNECTOR_DEV_DIR": str(tmp_path / "dev")}
    proc = ServiceProcess(
        ["dev", "--bind", f"127.0.0.1:{port}", "--es-port", str(free_port())], env, tmp_path / "dev.log", cwd=tmp_path
    )
    base = f"http://127.0.0.1:{port}/_siren/connector"
    try:
        proc.wait_http(f"{base}/_health", timeout=60)
        http = urllib3.PoolManager()
        validate = orjson.loads(http.request("POST", f"{base}/datasource/demo/_validate").data)
        assert validate["valid"] is True
        sample = orjson.loads(
            http.request(
                "POST",
                f"{base}/datasource/demo/_sample",
                body=b'{"query": "SELECT count(*) AS n FROM events"}',
                headers={"Content-Type": "application/json"},
            ).data
        )
        assert sample["rows"] == [{"n": 5000}]
    finally:
        proc.stop()
    assert (tmp_path / "dev" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert "Traceback" not in proc.output, proc.output


def test_concurrent_bootstrap_from_many_processes(settings_env: dict[str, str], es, index_prefix: str) -> None:
    script = (
        "from connector.settings import load_settings\n"
        "from connector.es_client import create_client\n"
        "from connector.indices import IndexNames, bootstrap\n"
        "s = load_settings()\n"
        "es, _ = create_client(s.elasticsearch)\n"
        "bootstrap(es, IndexNames(s.index_prefix))\n"
        "print('ok')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env={**settings_env, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outputs
    assert sorted(es.indices.get(index=f"{index_prefix}*", expand_wildcards="all")) == sorted(
        f"{index_prefix}{n}"
        for n in ("datasources", "ingestions", "job-log", "job-current", "job-errors", "job-partitions")
    )


def test_chunked_body_over_the_limit_is_413(settings_env: dict[str, str], es, tmp_path: Path) -> None:
    """A body without Content-Length (chunked) is cut at the limit too, through a real server."""
    port = free_port()
    env = {**settings_env, "CONNECTOR_API_MAX_BODY_BYTES": "4096", "CONNECTOR_WORKER_PROCESSES": "0"}
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "serve.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/_siren/connector/_health")
        body = (b'{"sql": {"url": "' + b"x" * 10_000 + b'"}}' for _ in range(1))
        http = urllib3.PoolManager()
        resp = http.request(
            "PUT",
            f"http://127.0.0.1:{port}/_siren/connector/datasource/big",
            body=body,
            chunked=True,
            headers={"Content-Type": "application/json"},
        )
        assert resp.status == 413
        assert orjson.loads(resp.data)["error"]["type"] == "content_too_long_exception"
        small = (part for part in (b'{"sql": {"url": ', b'"postgresql+psycopg://db.example/x"}}'))
        ok = http.request(
            "PUT",
            f"http://127.0.0.1:{port}/_siren/connector/datasource/small",
            body=small,
            chunked=True,
            headers={"Content-Type": "application/json"},
        )
        assert ok.status == 201, ok.data
    finally:
        proc.stop()
