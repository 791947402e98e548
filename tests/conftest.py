"""Test harness (SPEC §9): real Elasticsearch-API server and real databases.

Elasticsearch: CONNECTOR_TEST_ES_URL if set, else testcontainers when a Docker
engine answers, else an osmem-server started once per session. PostgreSQL and
MariaDB: the servers on this machine (CONNECTOR_TEST_PG_URL,
CONNECTOR_TEST_MYSQL_URL override them), else testcontainers for PostgreSQL.
Every test gets its own index prefix, its own PostgreSQL schema and MariaDB
database, all removed afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import urllib3
from elasticsearch import Elasticsearch
from falcon import testing

from api.app import create_app
from api.dev_stack import EmbeddedSearch
from api.runtime import Runtime
from connector.crypto import SecretBox
from connector.es_client import create_client
from connector.settings import Settings, load_settings
from ingestion.workers.worker import Worker
from tests.support import LOCAL

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MYSQL_DEFAULT = "mysql+pymysql://root@127.0.0.1:3306/test"


def _docker_available() -> bool:
    """Whether a Docker engine accepts connections (DOCKER_HOST or the default socket)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        if not os.path.exists(path):
            return False
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(1)
            return probe.connect_ex(path) == 0
    if host.startswith("tcp://"):
        name, _, port = host[len("tcp://") :].partition(":")
        return _port_open(name, int(port or 2375))
    return False


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def search_server() -> Iterator[tuple[str, int | None]]:
    """The Elasticsearch-API endpoint for the whole session, and its local pid if we started it."""
    if os.environ.get("CONNECTOR_TEST_ES_URL"):
        yield os.environ["CONNECTOR_TEST_ES_URL"], None
    elif _docker_available():
        from testcontainers.elasticsearch import ElasticSearchContainer

        with ElasticSearchContainer("docker.elastic.co/elasticsearch/elasticsearch:8.15.0") as container:
            yield container.get_url(), None
    else:
        server = EmbeddedSearch.start()
        try:
            yield server.url, server.process.pid
        finally:
            server.stop()


@pytest.fixture(scope="session")
def es_url(search_server: tuple[str, int | None]) -> str:
    return search_server[0]


@pytest.fixture
def es_process(search_server: tuple[str, int | None]) -> int:
    """The pid of the local Elasticsearch-API server (for fault tests that pause it)."""
    if search_server[1] is None:
        pytest.skip("needs the Elasticsearch-API server as a local process (not an external cluster or container)")
    return search_server[1]


@pytest.fixture(scope="session")
def pipelines_supported(es_url: str) -> bool:
    """Whether the test cluster has ingest pipelines (osmem-server has none)."""
    http = urllib3.PoolManager()
    resp = http.request("GET", f"{es_url}/_ingest/pipeline", headers={"Accept": "application/json"})
    http.clear()
    return resp.status == 200


@pytest.fixture(autouse=True)
def _skip_without_pipelines(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("needs_pipelines") and not request.getfixturevalue("pipelines_supported"):
        pytest.skip("the Elasticsearch-API test server has no ingest pipelines; runs against a real cluster")


@pytest.fixture(scope="session")
def secret_key() -> str:
    return SecretBox.generate_key()


@pytest.fixture
def test_tag() -> str:
    """What every index and target of one test starts with (after an optional dot)."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def index_prefix(test_tag: str) -> str:
    """The service's own indices for this test."""
    return f".{test_tag}-s-"


@pytest.fixture
def target_prefix(test_tag: str) -> str:
    """Ingestion targets of this test: outside the service's prefix (SPEC §14), cleaned up like it."""
    return f"{test_tag}-"


@pytest.fixture
def settings_env(
    es_url: str, secret_key: str, index_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The environment a service process of this test runs with (SQLite files under the tests' temp root)."""
    return {
        "CONNECTOR_ES_URL": es_url,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": index_prefix,
        "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
        "CONNECTOR_SQL_SQLITE_ROOTS": json.dumps([str(tmp_path_factory.getbasetemp())]),
        "CONNECTOR_SQL_DUCKDB_ROOTS": json.dumps([str(tmp_path_factory.getbasetemp())]),
    }


@pytest.fixture
def settings(settings_env: dict[str, str]) -> Settings:
    return load_settings(environ=settings_env)


@pytest.fixture
def es(settings: Settings, test_tag: str) -> Iterator[Elasticsearch]:
    """A client for the test cluster; deletes every index the test created (service indices and targets)."""
    client, _ = create_client(settings.elasticsearch)
    yield client
    for pattern in (f".{test_tag}-*", f"{test_tag}-*"):
        found = client.indices.get(
            index=pattern, expand_wildcards="all", ignore_unavailable=True, allow_no_indices=True
        )
        for name in found:
            client.indices.delete(index=name, ignore_unavailable=True)
    client.close()


@pytest.fixture
def runtime(settings: Settings, es: Elasticsearch) -> Iterator[Runtime]:
    built = Runtime.build(settings)
    yield built
    built.close()


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[Worker]:
    """A worker polling in a thread of the test process, stopped after the test."""
    stop = threading.Event()
    instance = Worker(runtime.run_context(), name="test-worker")
    thread = threading.Thread(target=instance.run, args=(stop,), daemon=True)
    thread.start()
    yield instance
    stop.set()
    thread.join(timeout=60)


@pytest.fixture
def api(runtime: Runtime, settings: Settings) -> testing.TestClient:
    """The HTTP API through falcon's TestClient, wired to the real stores."""
    app = create_app(settings, runtime.services())
    return testing.TestClient(app, headers=LOCAL)


# ---------------------------------------------------------------- databases


@dataclass(frozen=True)
class Database:
    """A database (or schema) owned by one test, with its URLs."""

    engine: sa.Engine
    jdbc_url: str
    sql_url: str
    kind: str

    def execute(self, statement: str, params: Any = None) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(statement, params) if params is not None else conn.exec_driver_sql(statement)

    def scalar(self, statement: str) -> Any:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(statement).scalar()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("CONNECTOR_TEST_PG_URL")
    if url:
        yield url
    elif _port_open("127.0.0.1", 5432) or not _docker_available():
        yield PG_DEFAULT
    else:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="psycopg") as container:
            yield container.get_connection_url()


@pytest.fixture
def pg(pg_server_url: str) -> Iterator[Database]:
    """A fresh PostgreSQL schema, reached through search_path (jdbc currentSchema)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sa.make_url(pg_server_url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"options": f"-c search_path={schema}"})
    jdbc = f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}?currentSchema={schema}"
    sql = url.set(query={"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    yield Database(engine, jdbc, sql, "postgresql")
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture(scope="session")
def mysql_server_url() -> str:
    return os.environ.get("CONNECTOR_TEST_MYSQL_URL", MYSQL_DEFAULT)


@pytest.fixture
def mariadb(mysql_server_url: str) -> Iterator[Database]:
    """A fresh MariaDB/MySQL database."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(mysql_server_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    url = sa.make_url(mysql_server_url).set(database=name)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    jdbc = f"jdbc:mariadb://{url.host}:{url.port or 3306}/{name}"
    yield Database(engine, jdbc, url.render_as_string(hide_password=False), "mariadb")
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name}")
    admin.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "test.db"
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    with engine.connect():
        pass  # the service opens databases read-only: the file must exist
    yield Database(engine, f"jdbc:sqlite:{path}", f"sqlite:///{path}", "sqlite")
    engine.dispose()


@pytest.fixture
def duckdb_db(tmp_path: Path) -> Iterator[Database]:
    """A DuckDB file (embedded). Setup connections close after each statement (NullPool): DuckDB
    refuses a read-only connection to a file this process holds open read-write."""
    path = tmp_path / "test.duckdb"
    engine = sa.create_engine(f"duckdb:///{path}", poolclass=sa.pool.NullPool)
    with engine.connect():
        pass  # the service opens databases read-only: the file must exist
    yield Database(engine, f"jdbc:duckdb:{path}", f"duckdb:///{path}", "duckdb")
    engine.dispose()


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def any_db(request: pytest.FixtureRequest) -> Database:
    """Each real database in turn."""
    fixture = {"postgresql": "pg", "mariadb": "mariadb", "sqlite": "sqlite_db"}[request.param]
    return request.getfixturevalue(fixture)
