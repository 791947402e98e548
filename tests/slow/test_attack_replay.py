"""Second security review (branch ``attack``): attacks that got past the SPEC §14 fixes, replayed end to end.

Each test states the behaviour SPEC §14 asks for, so on the reviewed commit
(cb1b309) they fail, one per finding of the report; they pass once the
finding is fixed. A real ``connector serve`` (token auth, an ``admin`` and a
``job:write`` token), real PostgreSQL, MariaDB, SQLite and the
Elasticsearch-API server; the PostgreSQL-protocol listener of
``test_security_replay`` records any password a datasource sends it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from elasticsearch import Elasticsearch

from connector.es_client import create_client
from connector.index_rules import pipeline_id
from connector.security import new_token
from connector.settings import load_settings
from tests.conftest import Database
from tests.slow.test_security_replay import PasswordRecorder
from tests.support import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow

BASE = "/_siren/connector"


@dataclass
class Served:
    base: str
    prefix: str
    tag: str
    es: Elasticsearch
    admin: str
    writer: str  # a job:write token: may run ingestions, not define them
    http: urllib3.PoolManager

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> tuple[int, dict[str, Any]]:
        resp = self.http.request(
            method,
            self.base + path,
            body=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token or self.admin}"},
            timeout=urllib3.Timeout(total=600),
        )
        return resp.status, orjson.loads(resp.data) if resp.data else {}


@pytest.fixture(scope="module")
def service(
    search_server: tuple[str, int | None], secret_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    es_url = search_server[0]
    tag = f"a{uuid.uuid4().hex[:10]}"
    admin, admin_hash = new_token()
    writer, writer_hash = new_token()
    port = free_port()
    env = {
        "CONNECTOR_ES_URL": es_url,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": f".{tag}-s-",
        "CONNECTOR_AUTH_MODE": "token",
        "CONNECTOR_AUTH_TOKENS": json.dumps(
            [
                {"name": "root", "hash": admin_hash, "scopes": ["admin"]},
                {"name": "runner", "hash": writer_hash, "scopes": ["job:write", "job:read"]},
            ]
        ),
        "CONNECTOR_SQL_SQLITE_ROOTS": json.dumps([str(tmp_path_factory.getbasetemp())]),
        "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
    }
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, log)
    es, _ = create_client(load_settings(environ={"CONNECTOR_ES_URL": es_url}).elasticsearch)
    served = Served(f"http://127.0.0.1:{port}{BASE}", f".{tag}-s-", tag, es, admin, writer, urllib3.PoolManager())
    try:
        proc.wait_http(f"{served.base}/_health")
        yield served
    finally:
        proc.stop()
        for pattern in (f".{tag}-*", f"{tag}-*"):
            for name in es.indices.get(index=pattern, expand_wildcards="all", ignore_unavailable=True):
                es.indices.delete(index=name, ignore_unavailable=True)
        es.close()


@pytest.fixture
def recorder() -> Iterator[PasswordRecorder]:
    listening = PasswordRecorder()
    yield listening
    listening.close()


def _put(service: Served, path: str, body: dict[str, Any]) -> None:
    status, answer = service.call("PUT", path, body)
    assert status in (200, 201), answer


def _final(service: Served, ingestion: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        status = service.call("GET", f"/jobs/ingestion/{ingestion}")[1]["status"]
        return status if not status["is_running"] else None

    return wait_until(ended, timeout=60, what=f"the run of {ingestion} to end")


# ---------------------------------------------------------------- F1. passwords follow libpq host options


def _pg_plain(pg: Database) -> str:
    """The test server as a `sql` URL without the fixture's options (host, port and database only)."""
    return pg.sql_url.split("?")[0]


def test_f1_validate_body_with_hostaddr_does_not_send_the_stored_password(
    service: Served, pg: Database, recorder: PasswordRecorder
) -> None:
    _put(service, "/datasource/f1a?overwrite=true", {"sql": {"url": _pg_plain(pg), "password": "F1-Stored-1"}})
    moved = {"sql": {"url": _pg_plain(pg), "properties": {"hostaddr": recorder.host, "port": str(recorder.port)}}}
    status, _ = service.call("POST", "/datasource/f1a/_validate", moved)
    assert status == 400  # host options are not driver options: the URL names the server
    # A connection, had there been one, answered before _validate did: nothing to wait for.
    assert "F1-Stored-1" not in recorder.passwords


def test_f1_an_update_adding_a_host_property_drops_the_stored_password(
    service: Served, pg: Database, recorder: PasswordRecorder
) -> None:
    _put(service, "/datasource/f1b?overwrite=true", {"sql": {"url": _pg_plain(pg), "password": "F1-Stored-2"}})
    moved = {"sql": {"url": _pg_plain(pg), "properties": {"host": recorder.host, "port": str(recorder.port)}}}
    assert service.call("PUT", "/datasource/f1b?overwrite=true", moved)[0] == 400
    moved_url = {"sql": {"url": f"postgresql+psycopg://postgres@{recorder.host}:{recorder.port}/postgres"}}
    assert service.call("PUT", "/datasource/f1b?overwrite=true", moved_url)[0] == 200
    service.call("POST", "/datasource/f1b/_validate")
    assert "F1-Stored-2" not in recorder.passwords


def test_f1_ingestion_credentials_do_not_follow_a_hostaddr_in_the_url_query(
    service: Served, pg: Database, recorder: PasswordRecorder
) -> None:
    _put(service, "/datasource/f1c?overwrite=true", {"sql": {"url": _pg_plain(pg)}})
    ingest = {
        "datasource": "f1c",
        "query": "SELECT 1 AS id",
        "target": f"{service.tag}-f1c",
        "ds_credentials": {"username": "postgres", "password": "F1-Ingest-3"},
    }
    _put(service, "/ingestion/f1c", {"ingest": ingest})
    query = f"?hostaddr={recorder.host}&port={recorder.port}"
    assert service.call("PUT", "/datasource/f1c?overwrite=true", {"sql": {"url": _pg_plain(pg) + query}})[0] == 400
    moved_url = {"sql": {"url": f"postgresql+psycopg://postgres@{recorder.host}:{recorder.port}/postgres"}}
    _put(service, "/datasource/f1c?overwrite=true", moved_url)
    service.call("POST", "/ingestion/f1c/_validate")
    assert "F1-Ingest-3" not in recorder.passwords


# ---------------------------------------------------------------- F2. MariaDB: a value leaves its literal


def _secret_tables(mariadb: Database) -> None:
    mariadb.execute("CREATE TABLE people (id INT PRIMARY KEY, owner VARCHAR(50), name VARCHAR(50))")
    mariadb.execute("INSERT INTO people VALUES (1, 'alice', 'a1'), (2, 'bob', 'b1')")
    mariadb.execute("CREATE TABLE payroll (id INT PRIMARY KEY, owner VARCHAR(50), name VARCHAR(50))")
    mariadb.execute("INSERT INTO payroll VALUES (100, 'root', 'TOP-SECRET')")


# `--` + U+00A0: a comment for the service's lexer, code for MariaDB (only ASCII space/control end `--`).
NBSP_TEMPLATE = "SELECT 1 --\u00a0'\n, {{x}} AS b -- '\nFROM (SELECT 2 AS `\u00a0`) AS t"
# `--` + DEL: code for the lexer, a comment for MariaDB (my_iscntrl(0x7f)).
DEL_TEMPLATE = "SELECT 1 --\x7f /*\n, 'abc */ , {{x}} , ' -- '"
# CONVERT(0x50574e4544 USING utf8mb4) is 'PWNED': the word appears in an answer only if MariaDB evaluated the payload.
PAYLOADS = {
    NBSP_TEMPLATE: ", CONVERT(0x50574e4544 USING utf8mb4) AS injected, 1",
    DEL_TEMPLATE: "AS x, CONVERT(0x50574e4544 USING utf8mb4) AS injected, 1",
}


@pytest.mark.parametrize("template", [NBSP_TEMPLATE, DEL_TEMPLATE], ids=["nbsp", "del"])
def test_f2_a_sample_parameter_stays_inside_its_literal_on_mariadb(
    service: Served, mariadb: Database, template: str
) -> None:
    _put(service, "/datasource/f2?overwrite=true", {"jdbc": {"url": mariadb.jdbc_url, "username": "root"}})
    status, body = service.call(
        "POST", "/datasource/f2/_sample", {"query": template, "params": {"x": PAYLOADS[template]}}
    )
    assert "PWNED" not in orjson.dumps(body).decode(), (status, body)


def test_f2_a_job_writer_cannot_inject_sql_through_run_params(service: Served, mariadb: Database) -> None:
    _secret_tables(mariadb)
    _put(service, "/datasource/f2run?overwrite=true", {"jdbc": {"url": mariadb.jdbc_url, "username": "root"}})
    query = (
        "SELECT id, owner, name FROM people --\x7f /* only one owner\n"
        "WHERE owner = 'x */ AND owner = {{owner}} AND ''=' -- '"
    )
    target = f"{service.tag}-f2run"
    status, body = service.call(
        "PUT",
        "/ingestion/f2run",
        {"ingest": {"datasource": "f2run", "query": query, "target": target, "pk_field": "id"}},
    )
    if status == 400:  # refusing the template at PUT is a fix too
        return
    assert status == 201, body
    params = {"owner": "OR 1=1 UNION SELECT id, owner, name FROM payroll WHERE 1 OR"}
    status, body = service.call("POST", "/ingestion/f2run/_run", {"params": params}, token=service.writer)
    assert status == 202, body
    final = _final(service, "f2run")
    assert "TOP-SECRET" not in orjson.dumps(final).decode()
    if service.es.indices.exists(index=target):
        service.es.indices.refresh(index=target)
        hits = service.es.search(index=target, query={"match_all": {}}, size=10)["hits"]["hits"]
        assert all(hit["_source"].get("name") != "TOP-SECRET" for hit in hits)


# ---------------------------------------------------------------- F3. targets that are aliases


@pytest.mark.parametrize("strategy", ["INCREMENTAL", "REPLACE"])
def test_f3_a_target_alias_over_a_dot_index_is_neither_written_nor_deleted(
    service: Served, sqlite_db: Database, strategy: str
) -> None:
    victim, alias = f".{service.tag}-victim-{strategy.lower()}", f"{service.tag}-shared-{strategy.lower()}"
    # The precondition: an alias that someone else made (not the service), over a dot-prefixed index.
    service.es.indices.create(index=victim, settings={"index.hidden": True}, mappings={"dynamic": "true"})
    service.es.index(index=victim, id="keep", document={"v": 1}, refresh=True)
    service.es.indices.update_aliases(actions=[{"add": {"index": victim, "alias": alias}}])
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    sqlite_db.execute("INSERT INTO t VALUES (7, 2)")
    _put(service, "/datasource/f3?overwrite=true", {"jdbc": {"url": sqlite_db.jdbc_url}})
    ingest = {"datasource": "f3", "query": "SELECT id, v FROM t", "pk_field": "id", "target": alias}
    ingestion = f"f3-{strategy.lower()}"
    status, _ = service.call("PUT", f"/ingestion/{ingestion}", {"ingest": {**ingest, "strategy": strategy}})
    if status == 400:  # refused at PUT: fixed
        return
    assert service.call("POST", f"/ingestion/{ingestion}/_run")[0] == 202
    _final(service, ingestion)
    assert service.es.indices.exists(index=victim), f"the {strategy} run deleted {victim} through alias {alias}"
    service.es.indices.refresh(index=victim)
    assert service.es.count(index=victim)["count"] == 1, f"the {strategy} run wrote into {victim}"


# ---------------------------------------------------------------- F4. the local socket


@pytest.mark.parametrize(
    "spec",
    [
        {"url": "postgresql+psycopg://postgres@/postgres"},
        {"url": "postgresql+psycopg://postgres@127.0.0.1/postgres", "properties": {"host": ""}},
    ],
    ids=["no-host", "empty-host-property"],
)
def test_f4_a_sql_url_cannot_reach_the_local_unix_socket(service: Served, spec: dict[str, Any]) -> None:
    status, body = service.call("PUT", "/datasource/f4?overwrite=true", {"sql": spec})
    if status == 400:
        return
    status, body = service.call("POST", "/datasource/f4/_sample", {"query": "SELECT inet_server_addr() AS a"})
    if status == 200:
        assert body["rows"][0]["a"] is not None, "connected through the local unix socket"


# ---------------------------------------------------------------- F5. linear-time parsing


def test_f5_mustache_parsing_is_linear(service: Served, pg: Database) -> None:
    _put(service, "/datasource/f5?overwrite=true", {"sql": {"url": _pg_plain(pg)}})
    started = time.monotonic()
    status, _ = service.call("POST", "/datasource/f5/_sample", {"query": "SELECT 1 " + "{{{" * 20_000})
    took = time.monotonic() - started
    assert status == 400
    assert took < 5, f"a 60 kB template took {took:.1f} s to refuse (max_sql_bytes allows 256 kB)"


# ---------------------------------------------------------------- F6. masking as an oracle


def test_f6_masking_does_not_confirm_a_guess_built_in_sql(service: Served, pg: Database) -> None:
    _put(service, "/datasource/f6?overwrite=true", {"sql": {"url": _pg_plain(pg), "password": "Right-Guess-7"}})
    answers = {}
    for guess in ("Right-Guess-7", "Wrong-Guess-8"):
        query = f"SELECT CAST(chr({ord(guess[0])}) || '{guess[1:]}' AS int) AS x"  # the guess is never typed whole
        status, body = service.call("POST", "/datasource/f6/_sample", {"query": query})
        assert status == 400
        answers[guess] = body["error"]["reason"]
    assert answers["Right-Guess-7"].replace("Right", "Wrong").replace("-7", "-8") == answers["Wrong-Guess-8"], answers


# ---------------------------------------------------------------- F7. client input answered with 500


@pytest.mark.parametrize(
    "body",
    [
        {"jdbc": {"url": "jdbc:postgresql://h/db?connectTimeout=inf"}},
        {"jdbc": {"url": "jdbc:postgresql://h/db?loginTimeout=nan"}},
        {"jdbc": {"url": "jdbc:mysql://h/db?socketTimeout=1e400"}},
        {"jdbc": {"url": "jdbc:mysql://h/db?connectTimeout=nan"}},
        {"jdbc": {"url": "jdbc:postgresql://h:\u00b2/db"}},
        {"jdbc": {"url": "jdbc:postgresql://h/db", "timezone": "Europe"}},
        {"jdbc": {"url": "jdbc:postgresql://h/db", "timezone": "a" * 5000}},
    ],
    ids=["inf", "nan", "1e400", "mysql-nan", "superscript-port", "tz-directory", "tz-long"],
)
def test_f7_datasource_definitions_never_answer_500(service: Served, body: dict[str, Any]) -> None:
    status, answer = service.call("PUT", "/datasource/f7?overwrite=true", body)
    assert status == 400, answer


def test_f7_ingestion_time_zone_never_answers_500(service: Served, sqlite_db: Database) -> None:
    _put(service, "/datasource/f7s?overwrite=true", {"jdbc": {"url": sqlite_db.jdbc_url}})
    ingest = {
        "datasource": "f7s",
        "query": "SELECT 1 AS id",
        "target": f"{service.tag}-f7",
        "schedule": "0 0 * * * ?",
        "timezone": "Europe",
    }
    status, answer = service.call("PUT", "/ingestion/f7tz", {"ingest": ingest})
    assert status == 400, answer


@pytest.mark.parametrize(
    ("properties", "query"),
    [
        ({"read_timeout": 0}, "SELECT 1 AS x"),
        ({"connect_timeout": 0}, "SELECT 1 AS x"),
        ({"charset": "binary"}, "SELECT 1 AS x"),
        ({"charset": "latin1"}, "SELECT '\u0100' AS x"),
        ({"charset": "ascii"}, "SELECT '\u00e9' AS x"),
    ],
    ids=["read_timeout-0", "connect_timeout-0", "charset-binary", "latin1-text", "ascii-text"],
)
def test_f7_allowed_mysql_options_never_answer_500(
    service: Served, mariadb: Database, properties: dict[str, Any], query: str
) -> None:
    status, answer = service.call(
        "PUT", "/datasource/f7m?overwrite=true", {"sql": {"url": mariadb.sql_url, "properties": properties}}
    )
    if status == 400:  # refusing the option is a fix too
        return
    for method, path, body in (
        ("POST", "/datasource/f7m/_validate", None),
        ("POST", "/datasource/f7m/_sample", {"query": query}),
    ):
        status, answer = service.call(method, path, body)
        assert status < 500, (path, answer)


def test_f7_sample_params_of_any_json_shape_never_answer_500(service: Served, mariadb: Database) -> None:
    _put(service, "/datasource/f7p?overwrite=true", {"sql": {"url": mariadb.sql_url}})
    status, answer = service.call(
        "POST", "/datasource/f7p/_sample", {"query": "SELECT {{x}} AS x", "params": {"x": [[1, [2]], {"a": 1}]}}
    )
    assert status < 500, answer


# ---------------------------------------------------------------- F8. a read-only MariaDB session writes files


def test_f8_a_read_only_mariadb_session_cannot_write_files(service: Served, mariadb: Database) -> None:
    path = Path(f"/tmp/{service.tag}-outfile.txt")
    if mariadb.scalar("SELECT @@secure_file_priv") is not None or not os.path.isdir("/tmp"):
        pytest.skip("the server limits INTO OUTFILE (secure_file_priv) or is not on this host")
    _put(service, "/datasource/f8?overwrite=true", {"sql": {"url": mariadb.sql_url}})
    try:
        service.call("POST", "/datasource/f8/_sample", {"query": f"SELECT 'written' INTO OUTFILE '{path}'"})
        assert not path.exists(), "INTO OUTFILE wrote a file from a read-only session"
    finally:
        if path.exists():
            path.unlink()


# ---------------------------------------------------------------- F9. pipeline ids


def test_f9_two_ingestion_ids_never_share_a_pipeline() -> None:
    assert pipeline_id(".connector-", "Orders") != pipeline_id(".connector-", "orders")
