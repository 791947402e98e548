"""SPEC §14 replayed against a running `connector serve` (token auth): each attack of the report is refused.

Real PostgreSQL, MariaDB, SQLite and the Elasticsearch-API server; a tiny
PostgreSQL-protocol listener on 127.0.0.2 records any password a datasource
sends it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from elasticsearch import Elasticsearch

from connector.es_client import create_client
from connector.indices import IndexNames
from connector.security import new_token
from connector.settings import load_settings
from tests.conftest import Database
from tests.support import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.slow

BASE = "/_siren/connector"
SECRET_WALK = "{{x.__init__.__globals__.chevron.renderer.path.os.environ.CONNECTOR_SECRET_KEY}}"


@dataclass
class Served:
    base: str
    prefix: str
    tag: str
    secret_key: str
    es: Elasticsearch
    http: urllib3.PoolManager = field(default_factory=urllib3.PoolManager)
    token: str = ""

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, dict[str, Any]]:
        resp = self.http.request(
            method,
            self.base + path,
            body=orjson.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}", **headers},
        )
        return resp.status, orjson.loads(resp.data) if resp.data else {}


@pytest.fixture(scope="module")
def service(
    search_server: tuple[str, int | None], secret_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    es_url = search_server[0]
    tag = f"t{uuid.uuid4().hex[:10]}"
    token, hashed = new_token()
    port = free_port()
    env = {
        "CONNECTOR_ES_URL": es_url,
        "CONNECTOR_SECRET_KEY": secret_key,
        "CONNECTOR_INDEX_PREFIX": f".{tag}-s-",
        "CONNECTOR_AUTH_MODE": "token",
        "CONNECTOR_AUTH_TOKENS": json.dumps([{"name": "root", "hash": hashed, "scopes": ["admin"]}]),
        "CONNECTOR_SQL_SQLITE_ROOTS": json.dumps([str(tmp_path_factory.getbasetemp())]),
        "CONNECTOR_WORKER_POLL_INTERVAL_S": "0.2",
    }
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    proc = ServiceProcess(["serve", "--bind", f"127.0.0.1:{port}"], env, log)
    es, _ = create_client(load_settings(environ={"CONNECTOR_ES_URL": es_url}).elasticsearch)
    served = Served(f"http://127.0.0.1:{port}{BASE}", f".{tag}-s-", tag, secret_key, es, token=token)
    try:
        proc.wait_http(f"{served.base}/_health")
        yield served
    finally:
        proc.stop()
        for pattern in (f".{tag}-*", f"{tag}-*"):
            for name in es.indices.get(index=pattern, expand_wildcards="all", ignore_unavailable=True):
                es.indices.delete(index=name, ignore_unavailable=True)
        es.close()
    assert "Traceback" not in proc.output


def _refused(status: int, body: dict[str, Any], entry: str) -> str:
    assert status == 400, body
    entries = [item["entry"] for item in body["error"]["invalid"]]
    assert entry in entries, entries
    return str(body["error"]["reason"])


def _pg_source(service: Served, ds_id: str, pg: Database, **extra: Any) -> None:
    status, body = service.call("PUT", f"/datasource/{ds_id}?overwrite=true", {"jdbc": {"url": pg.jdbc_url, **extra}})
    assert status in (200, 201), body


# ---------------------------------------------------------------- 1. templates


def test_template_attribute_walk_does_not_reach_the_secret_key(service: Served, pg: Database) -> None:
    _pg_source(service, "walk", pg)
    status, body = service.call("POST", "/datasource/walk/_sample", {"query": f"SELECT $q${SECRET_WALK}$q$ AS k"})
    reason = _refused(status, body, "$.query")
    assert "is not allowed" in reason
    assert service.secret_key not in orjson.dumps(body).decode()


def test_template_sections_cannot_call_functions(service: Served, pg: Database, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    _pg_source(service, "rm", pg)
    walk = "x.__init__.__globals__.os.sys.modules.shutil.rmtree"
    query = f"SELECT 1 AS one {{{{#{walk}}}}}{victim}{{{{/{walk}}}}}"
    status, body = service.call("POST", "/datasource/rm/_sample", {"query": query})
    _refused(status, body, "$.query")
    assert victim.is_dir()


def test_template_partials_do_not_read_files(service: Served, pg: Database) -> None:
    _pg_source(service, "part", pg)
    status, body = service.call("POST", "/datasource/part/_sample", {"query": "SELECT '{{> /etc/passwd}}' AS p"})
    assert "partials" in _refused(status, body, "$.query")
    assert "root:" not in orjson.dumps(body).decode()


def test_template_walk_in_an_ingestion_is_refused_at_put(service: Served, pg: Database) -> None:
    _pg_source(service, "ing", pg)
    ingest = {"datasource": "ing", "query": f"SELECT {SECRET_WALK} AS k", "target": f"{service.tag}-walk"}
    status, body = service.call("PUT", "/ingestion/walk", {"ingest": ingest})
    _refused(status, body, "$.ingest.query")
    assert service.call("GET", "/ingestion/walk")[0] == 404


# ---------------------------------------------------------------- 3. driver options


@pytest.mark.parametrize(
    ("properties", "entry"),
    [
        ({"local_infile": True, "client_flag": 65536}, "$.sql.properties.local_infile"),
        ({"init_command": "INSERT INTO t VALUES (1)"}, "$.sql.properties.init_command"),
        ({"read_default_file": "/etc/passwd"}, "$.sql.properties.read_default_file"),
        ({"unix_socket": "/run/mysqld/mysqld.sock"}, "$.sql.properties.unix_socket"),
    ],
)
def test_mysql_driver_options_that_loosen_the_session_are_refused(
    service: Served, mariadb: Database, properties: dict[str, Any], entry: str
) -> None:
    status, body = service.call("PUT", "/datasource/my", {"sql": {"url": mariadb.sql_url, "properties": properties}})
    _refused(status, body, entry)
    assert service.call("GET", "/datasource/my")[0] == 404


def test_mysql_url_query_flags_are_refused(service: Served, mariadb: Database) -> None:
    status, body = service.call("PUT", "/datasource/myq", {"sql": {"url": f"{mariadb.sql_url}?client_flag=65536"}})
    assert "client_flag" in _refused(status, body, "$.sql.url")
    status, body = service.call(
        "PUT", "/datasource/myj", {"jdbc": {"url": mariadb.jdbc_url, "properties": {"allowLoadLocalInfile": "true"}}}
    )
    _refused(status, body, "$.jdbc.properties.allowLoadLocalInfile")


def test_postgresql_options_that_reach_files_are_refused(service: Served, pg: Database) -> None:
    for properties, entry in (
        ({"passfile": "/etc/passwd"}, "$.sql.properties.passfile"),
        ({"service": "x"}, "$.sql.properties.service"),
        ({"sslkey": "/etc/shadow"}, "$.sql.properties.sslkey"),
        ({"options": "-c default_transaction_read_only=off"}, "$.sql.properties.options"),
        ({"host": "/var/run/postgresql"}, "$.sql.properties.host"),
    ):
        status, body = service.call(
            "PUT", "/datasource/pgo", {"sql": {"url": pg.sql_url.split("?")[0], "properties": properties}}
        )
        _refused(status, body, entry)
    status, body = service.call(
        "PUT", "/datasource/pgj", {"jdbc": {"url": pg.jdbc_url, "properties": {"sslrootcert": "/etc/passwd"}}}
    )
    _refused(status, body, "$.jdbc.properties.sslrootcert")


def test_sqlite_is_read_only_and_cannot_reach_other_files(service: Served, sqlite_db: Database, tmp_path: Path) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER)")
    status, body = service.call("PUT", "/datasource/lite", {"jdbc": {"url": sqlite_db.jdbc_url}})
    assert status == 201, body
    for query in (f"ATTACH '{tmp_path}/new.db' AS x", f"VACUUM INTO '{tmp_path}/copy.db'"):
        status, body = service.call("POST", "/datasource/lite/_sample", {"query": query})
        assert status == 400, body
    assert not (tmp_path / "new.db").exists()
    assert not (tmp_path / "copy.db").exists()
    outside = {"jdbc": {"url": "jdbc:sqlite:/etc/passwd"}}
    _refused(*service.call("PUT", "/datasource/outside", outside), "$.jdbc.url")


# ---------------------------------------------------------------- 4. stored passwords


class PasswordRecorder:
    """A PostgreSQL-protocol listener that asks for a clear-text password and records what it gets."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.passwords: list[str] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError, struct.error):
                    self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        self.connections += 1
        while True:
            length, code = struct.unpack("!ii", _read(conn, 8))
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: not here
                conn.sendall(b"N")
                continue
            _read(conn, length - 8)  # the startup parameters
            break
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = _read(conn, 1)
        if kind == b"p":
            (length,) = struct.unpack("!i", _read(conn, 4))
            self.passwords.append(_read(conn, length - 4).rstrip(b"\x00").decode())

    def close(self) -> None:
        self.sock.close()


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


@pytest.fixture
def recorder() -> Iterator[PasswordRecorder]:
    listening = PasswordRecorder()
    yield listening
    listening.close()


def test_a_stored_password_does_not_follow_a_changed_host(
    service: Served, pg: Database, recorder: PasswordRecorder
) -> None:
    _pg_source(service, "moved", pg, username="postgres", password="Keep-Me-123")
    moved = {"jdbc": {"url": f"jdbc:postgresql://{recorder.host}:{recorder.port}/postgres", "username": "postgres"}}
    status, body = service.call("PUT", "/datasource/moved?overwrite=true", moved)
    assert status == 200, body
    status, body = service.call("POST", "/datasource/moved/_validate")
    assert status == 400, body
    wait_until(lambda: recorder.connections >= 1, what="the validation to reach the listener")
    assert "Keep-Me-123" not in recorder.passwords


def test_ingestion_credentials_do_not_follow_a_changed_datasource(
    service: Served, pg: Database, recorder: PasswordRecorder
) -> None:
    _pg_source(service, "real", pg)
    elsewhere = {"jdbc": {"url": f"jdbc:postgresql://{recorder.host}:{recorder.port}/postgres"}}
    assert service.call("PUT", "/datasource/elsewhere?overwrite=true", elsewhere)[0] in (200, 201)
    ingest = {
        "datasource": "real",
        "query": "SELECT 1 AS id",
        "target": f"{service.tag}-creds",
        "ds_credentials": {"username": "postgres", "password": "Ing-Pass-456"},
    }
    assert service.call("PUT", "/ingestion/creds", {"ingest": ingest})[0] in (200, 201)
    # Same user, no password, another datasource: the PUT's own probe must not send the stored one.
    changed = {**ingest, "datasource": "elsewhere", "ds_credentials": {"username": "postgres"}}
    service.call("PUT", "/ingestion/creds", {"ingest": changed})
    # The datasource itself moved under a stored ingestion password: the dry run must not send it.
    assert service.call("PUT", "/ingestion/creds2", {"ingest": ingest})[0] in (200, 201)
    assert service.call("PUT", "/datasource/real?overwrite=true", elsewhere)[0] == 200
    status, body = service.call("POST", "/ingestion/creds2/_validate")
    _refused(status, body, "$.ingest.ds_credentials.password")
    assert "Ing-Pass-456" not in recorder.passwords


# ---------------------------------------------------------------- 5. MySQL client-side binding


def test_a_variable_inside_a_comment_is_refused_on_mariadb(service: Served, mariadb: Database) -> None:
    mariadb.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    assert service.call("PUT", "/datasource/maria", {"jdbc": {"url": mariadb.jdbc_url}})[0] == 201
    ingest = {"datasource": "maria", "query": "SELECT id FROM t /* by {{who}} */", "target": f"{service.tag}-c"}
    status, body = service.call("PUT", "/ingestion/comment", {"ingest": ingest})
    assert "comment" in _refused(status, body, "$.ingest.query")
    sample = {"query": "SELECT id FROM t /* by {{who}} */", "params": {"who": "*/ UNION SELECT 1 /*"}}
    _refused(*service.call("POST", "/datasource/maria/_sample", sample), "$.query")


# ---------------------------------------------------------------- 6. index names


def test_ingestions_cannot_write_the_services_or_system_indices(service: Served, sqlite_db: Database) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    assert service.call("PUT", "/datasource/src", {"jdbc": {"url": sqlite_db.jdbc_url}})[0] in (200, 201)
    own = IndexNames(service.prefix)
    base = {"datasource": "src", "query": "SELECT id FROM t", "pk_field": "id"}
    for target in (own.datasources, own.datasources.lstrip("."), ".security", ".kibana_1", "_all", "logs-*", "a,b"):
        status, body = service.call("PUT", "/ingestion/bad", {"ingest": {**base, "target": target}})
        _refused(status, body, "$.ingest.target")
    status, body = service.call(
        "PUT", "/ingestion/bad", {"ingest": {**base, "target": f"{service.tag}-ok", "staging_prefix": service.prefix}}
    )
    _refused(status, body, "$.ingest.staging_prefix")
    for processor in (
        {"script": {"source": "ctx._index = 'x'"}},
        {"reroute": {"destination": "x"}},
        {"pipeline": {"name": "x"}},
    ):
        pipeline = {"processors": [processor]}
        status, body = service.call(
            "PUT", "/ingestion/bad", {"ingest": {**base, "target": f"{service.tag}-ok", "pipeline": pipeline}}
        )
        _refused(status, body, "$.ingest.pipeline")
    status, body = service.call("GET", "/datasource/_search")
    assert status == 200 and body["hits"]["total"] >= 1


def test_a_definition_stored_before_the_rules_cannot_run_into_a_service_index(
    service: Served, sqlite_db: Database
) -> None:
    sqlite_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    sqlite_db.execute("INSERT INTO t VALUES (1)")
    assert service.call("PUT", "/datasource/old", {"jdbc": {"url": sqlite_db.jdbc_url}})[0] in (200, 201)
    ingest = {"datasource": "old", "query": "SELECT id FROM t", "pk_field": "id", "target": f"{service.tag}-fine"}
    assert service.call("PUT", "/ingestion/legacy", {"ingest": ingest})[0] in (200, 201)
    own = IndexNames(service.prefix)
    stored = service.es.get(index=own.ingestions, id="legacy")["_source"]
    stored["definition"]["target"] = own.datasources  # as an older version accepted it
    service.es.index(index=own.ingestions, id="legacy", document=stored, refresh="wait_for")
    before = service.es.count(index=own.datasources)["count"]
    assert service.call("POST", "/ingestion/legacy/_run")[0] == 202

    def ended() -> dict[str, Any] | None:
        status = service.call("GET", "/jobs/ingestion/legacy")[1]["status"]
        return status if not status["is_running"] else None

    final = wait_until(ended, timeout=60, what="the run to end")
    assert final["state"] == "error"
    assert final["error"][1].startswith("$.ingest.target: must not start with '.'"), final["error"]
    assert service.es.count(index=own.datasources)["count"] == before
    assert service.call("GET", "/datasource/_search")[0] == 200


# ---------------------------------------------------------------- 8. passwords inside URLs


def test_passwords_written_inside_urls_are_moved_out_and_never_returned(service: Served, pg: Database) -> None:
    plain = pg.sql_url.split("?")[0]
    for ds_id, body in (
        ("q1", {"sql": {"url": f"{plain}?password=Url-Query-1"}}),
        ("q2", {"jdbc": {"url": f"{pg.jdbc_url}&%70assword=Url-Query-2"}}),
        ("q3", {"jdbc": {"url": pg.jdbc_url.replace("//", "//postgres:Url-Query-3@", 1)}}),
    ):
        status, created = service.call("PUT", f"/datasource/{ds_id}", body)
        assert status == 201, created
        got = service.call("GET", f"/datasource/{ds_id}")[1]
        assert "Url-Query" not in orjson.dumps(got).decode()
    status, body = service.call("PUT", "/datasource/bad", {"jdbc": {"url": "jdbc:postgresql://u:Pw-Echo-4@h:x/db"}})
    assert status == 400
    assert "Pw-Echo-4" not in orjson.dumps(body).decode()


# ---------------------------------------------------------------- 10. error texts


def test_sql_errors_neither_confirm_guesses_nor_quote_cursor_names(service: Served, pg: Database) -> None:
    _pg_source(service, "guess", pg, username="postgres", password="Right-Guess-5")
    answers = {}
    for guess in ("Right-Guess-5", "Wrong-Guess-6"):
        status, body = service.call("POST", "/datasource/guess/_sample", {"query": f'SELECT * FROM "{guess}"'})
        assert status == 400
        answers[guess] = body["error"]["reason"]
    assert "Right-Guess-5" in answers["Right-Guess-5"]  # echoed as typed, like any other name
    assert answers["Right-Guess-5"].replace("Right", "Wrong").replace("-5", "-6") == answers["Wrong-Guess-6"]
    status, body = service.call("POST", "/datasource/guess/_sample", {"query": "SELECT 1/0 AS boom"})
    assert status == 400
    assert "division by zero" in body["error"]["reason"]
    assert "c_" not in body["error"]["reason"].replace("division", "")
