"""JSON log lines (log_format = json): ECS fields, request and run context, scrubbing, access log fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from connector.log_json import AccessFields
from connector.log_setup import configure_logging, gunicorn_logconfig, logging_config, request_id_var, run_context
from connector.redaction import MASK, remember_secret

pytestmark = pytest.mark.unit


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The service's JSON logging config, into a buffer."""
    stream = io.StringIO()
    configure_logging("INFO", log_format="json")
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_ecs_fields_and_request_id(json_log: io.StringIO) -> None:
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("connector.x").info("hello %s", "world")
    finally:
        request_id_var.reset(token)
    logging.getLogger("connector.x").warning("no request")
    first, second = _lines(json_log)
    assert list(first)[:3] == ["@timestamp", "log.level", "message"]  # ECS: these first
    assert (first["log.level"], first["message"], first["log"]["logger"]) == ("info", "hello world", "connector.x")
    assert first["@timestamp"].endswith("Z") and isinstance(first["process"]["pid"], int)
    assert first["ecs.version"] and first["request_id"] == "req-42"
    assert "log.original" not in json_log.getvalue()  # the message once, not twice
    assert "request_id" not in second and "job" not in second and "run" not in second


def test_run_context_and_extra_fields(json_log: io.StringIO) -> None:
    with run_context(job_id="orders", run_id="orders-1234", worker="host:1:abc"):
        logging.getLogger("ingestion.run").info("ended", extra={"run.count": 12, "event.action": "run-ended"})
    (line,) = _lines(json_log)
    assert line["job"] == {"id": "orders"}
    assert line["run"] == {"id": "orders-1234", "count": 12}
    assert line["worker"] == "host:1:abc"
    assert line["event"] == {"action": "run-ended"}


def test_exceptions_are_error_fields_and_scrubbed(json_log: io.StringIO) -> None:
    remember_secret("Json-Secret-9")
    try:
        raise ValueError("cannot log in with Json-Secret-9")
    except ValueError:
        logging.getLogger("connector.x").exception("failed for %s", "Json-Secret-9")
    logging.getLogger("connector.x").info("extra", extra={"run.reason": "password Json-Secret-9 refused"})
    assert "Json-Secret-9" not in json_log.getvalue()
    failed, extra = _lines(json_log)
    assert failed["message"] == f"failed for {MASK}"
    assert failed["error"]["type"] == "ValueError"
    assert failed["error"]["message"] == f"cannot log in with {MASK}"
    assert "Traceback" in failed["error"]["stack_trace"] and "test_log_json.py" in failed["error"]["stack_trace"]
    assert extra["run"]["reason"] == f"password {MASK} refused"


def test_text_lines_name_the_request_or_the_run() -> None:
    stream = io.StringIO()
    configure_logging("INFO")
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        with run_context(job_id="orders", run_id="orders-1234", worker="w"):
            logging.getLogger("ingestion.run").info("in a run")
        logging.getLogger("connector.x").info("outside")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
    in_run, outside = stream.getvalue().splitlines()
    assert "[run orders-1234] ingestion.run: in a run" in in_run
    assert "[-] connector.x: outside" in outside


def test_access_log_atoms_become_fields_before_the_scrubber() -> None:
    atoms = {
        "h": "10.0.0.1",
        "m": "GET",
        "U": "/_siren/connector/jobs",
        "q": "password=Access-Secret-3",
        "s": "200",
        "B": 512,
        "D": 1500,
        "{user-agent}i": "curl/8",
        "{x-request-id}o": "rid-7",
        "r": "GET /_siren/connector/jobs?password=Access-Secret-3 HTTP/1.1",
    }
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s', (atoms,), None)
    assert AccessFields().filter(record)
    fields = record.__dict__
    assert (fields["http.request.method"], fields["url.path"], fields["http.response.status_code"]) == (
        "GET",
        "/_siren/connector/jobs",
        200,
    )
    assert (fields["http.response.body.bytes"], fields["event.duration"], fields["request_id"]) == (
        512,
        1_500_000,
        "rid-7",
    )


def test_gunicorn_logs_are_json_only_in_json_mode() -> None:
    assert gunicorn_logconfig("INFO", log_format="text") == {}
    config = gunicorn_logconfig("DEBUG", log_format="json")
    access = config["loggers"]["gunicorn.access"]
    assert access["filters"] == ["access_fields", "scrub"] and access["propagate"] is False
    assert config["handlers"]["access"]["formatter"] == "json"
    assert config["loggers"]["gunicorn.error"]["level"] == "DEBUG"
    assert all(h["formatter"] == "json" for h in logging_config("INFO", log_format="json")["handlers"].values())
