"""Own JSON log lines (``log_format = json``): Elastic Common Schema objects, one per line, scrubbed.

The formatter is ``ecs-logging``'s (``@timestamp``, ``log.level``,
``message``, ``log.logger``, ``log.origin.*``, ``process.pid``,
``process.thread.*``, ``error.type``/``error.message``/``error.stack_trace``,
``ecs.version``) with the service's context as fields: ``request_id``,
``job.id``, ``run.id``, ``worker``. ``extra={"run.count": 12}`` on a call
adds ``{"run": {"count": 12}}``.

Scrubbing: the handler's :class:`~connector.redaction.ScrubbingFilter` has
already masked the message and the exception (kept as ``error.*`` fields);
every other string value of the line is scrubbed here, so extra fields and
access log fields cannot carry a secret either.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ecs_logging import StdlibFormatter

from connector.redaction import ScrubbingFilter, scrub

# The message again, unscrubbed by design of ecs-logging; and thread ids nobody reads.
_EXCLUDED = ("log.original", "process.thread.id")
_CONTEXT = ("request_id", "job_id", "run_id", "worker", "context")


class EcsFormatter(StdlibFormatter):
    """One ECS JSON object per record, with request and run context, every string scrubbed."""

    def __init__(self) -> None:
        super().__init__(exclude_fields=_EXCLUDED)

    def format_to_ecs(self, record: logging.LogRecord) -> dict[str, Any]:
        if record.exc_info:  # a handler without the scrubbing filter: scrub here
            ScrubbingFilter().filter(record)
        result: dict[str, Any] = super().format_to_ecs(record)
        context = {name: result.pop(name, None) for name in _CONTEXT}
        if context["request_id"] not in (None, "-"):
            result["request_id"] = context["request_id"]
        if context["job_id"]:
            result.setdefault("job", {})["id"] = context["job_id"]
        if context["run_id"]:
            result.setdefault("run", {})["id"] = context["run_id"]
        if context["worker"]:
            result["worker"] = context["worker"]
        scrubbed: dict[str, Any] = _scrubbed(result)
        return scrubbed


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    return value


class AccessFields(logging.Filter):
    """Turn gunicorn's access log atoms into ECS fields, before the scrubber renders the line.

    gunicorn logs each request with its access format and a dict of atoms
    (``h`` client, ``m`` method, ``U`` path, ``q`` query, ``s`` status, ``B``
    bytes, ``D`` microseconds, ``{name}o`` response headers).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if not isinstance(atoms, Mapping):
            return True
        fields = {
            "http.request.method": atoms.get("m"),
            "url.path": atoms.get("U"),
            "url.query": atoms.get("q") or None,
            "http.response.status_code": _int(atoms.get("s")),
            "http.response.body.bytes": _int(atoms.get("B")),
            "event.duration": _int(atoms.get("D"), scale=1000),  # ECS: nanoseconds
            "client.ip": atoms.get("h"),
            "user_agent.original": atoms.get("{user-agent}i"),
            "request_id": atoms.get("{x-request-id}o"),
        }
        for name, value in fields.items():
            if value is not None:
                record.__dict__[name] = value
        return True


def _int(value: Any, *, scale: int = 1) -> int | None:
    try:
        return int(value) * scale
    except (TypeError, ValueError):
        return None
