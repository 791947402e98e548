"""Own what an ingestion may name and run in Elasticsearch: index names and ingest pipelines (SPEC §14).

``target`` and ``staging_prefix`` follow Elasticsearch's naming rules and
never name the service's own indices, a dot-prefixed (system or hidden)
index, a wildcard, ``_all`` or anything that Elasticsearch would expand or
template. Pipelines may use only the listed processors; ``script``
processors and ``if`` conditions (both Painless) only when
``ingestion.allow_script_processors`` is set; and the service pins each
document's ``_index`` to the run's write index at the end of the pipeline
(:func:`pinned_pipeline`), so no processor can send a row elsewhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

MAX_INDEX_NAME_BYTES = 255
STAGING_SUFFIX_BYTES = 40  # room left in a staging prefix for the run's suffix

# Elasticsearch refuses these in index names; "{" and "}" would be templates in a pipeline's set.
_FORBIDDEN = set(' "*\\<|,>/?#:{}')

PROCESSORS = frozenset(
    {
        "append",
        "attachment",
        "bytes",
        "circle",
        "community_id",
        "convert",
        "csv",
        "date",
        "dissect",
        "dot_expander",
        "drop",
        "fail",
        "fingerprint",
        "foreach",
        "geo_grid",
        "geoip",
        "grok",
        "gsub",
        "html_strip",
        "join",
        "json",
        "kv",
        "lowercase",
        "network_direction",
        "registered_domain",
        "remove",
        "rename",
        "set",
        "sort",
        "split",
        "trim",
        "uppercase",
        "uri_parts",
        "urldecode",
        "user_agent",
    }
)
SCRIPT_PROCESSORS = frozenset({"script"})
_PIPELINE_KEYS = frozenset({"description", "processors", "on_failure", "version", "_meta"})
PIN_TAG = "connector-pin-index"


class RuleBroken(ValueError):
    """A name or pipeline breaks a rule; ``path`` is where, relative to the checked value."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def check_index_name(value: str, *, service_prefix: str | None = None, prefix_only: bool = False) -> str:
    """Return ``value`` if an ingestion may write an index of that name (or prefix), else raise RuleBroken."""
    if not value:
        raise RuleBroken("must not be empty")
    if value != value.lower():
        raise RuleBroken("must be lowercase")
    bad = sorted(_FORBIDDEN.intersection(value))
    if bad:
        raise RuleBroken(f"must not contain {' '.join(repr(c) for c in bad)}")
    if value[0] in "-_+":
        raise RuleBroken("must not start with '-', '_' or '+'")
    if value[0] == ".":
        raise RuleBroken("must not start with '.': dot-prefixed indices are system or hidden indices")
    limit = MAX_INDEX_NAME_BYTES - (STAGING_SUFFIX_BYTES if prefix_only else 0)
    if len(value.encode()) > limit:
        raise RuleBroken(f"must be at most {limit} bytes (including the staging suffix)")
    if service_prefix is not None:
        own = service_prefix.lstrip(".")
        # A staging index is <staging_prefix><hex> or <target>-<hex>: neither may become a service index.
        staging = value if prefix_only else f"{value}-"
        if own and (value.startswith(own) or _completes(own, staging)):
            raise RuleBroken(f"must not name the service's own indices (prefix {service_prefix})")
    return value


def _completes(own: str, prefix: str) -> bool:
    """Whether ``prefix`` followed by a run's hexadecimal suffix could start with ``own``."""
    return own.startswith(prefix) and all(c in "0123456789abcdef" for c in own[len(prefix) :])


def check_pipeline(pipeline: Mapping[str, Any], *, allow_scripts: bool) -> None:
    """Raise RuleBroken unless ``pipeline`` is ``{"processors": [...]}`` of allowed processors."""
    unknown = sorted(set(pipeline) - _PIPELINE_KEYS)
    if unknown:
        raise RuleBroken(f"unknown pipeline field {unknown[0]}", f".{unknown[0]}")
    processors = pipeline.get("processors")
    if not isinstance(processors, list) or not processors:
        raise RuleBroken('must be an ingest pipeline: {"processors": [...]}', ".processors")
    _check_processors(processors, ".processors", allow_scripts)
    if "on_failure" in pipeline:
        _check_processors(pipeline["on_failure"], ".on_failure", allow_scripts)


def _check_processors(processors: Any, path: str, allow_scripts: bool) -> None:
    if not isinstance(processors, list):
        raise RuleBroken("must be a list of processors", path)
    for index, processor in enumerate(processors):
        _check_processor(processor, f"{path}[{index}]", allow_scripts)


def _check_processor(processor: Any, path: str, allow_scripts: bool) -> None:
    if not isinstance(processor, dict) or len(processor) != 1:
        raise RuleBroken('each processor is {"<type>": {...}}', path)
    ((kind, config),) = processor.items()
    allowed = PROCESSORS | (SCRIPT_PROCESSORS if allow_scripts else frozenset())
    if kind not in allowed:
        hint = " (scripts need ingestion.allow_script_processors)" if kind in SCRIPT_PROCESSORS else ""
        raise RuleBroken(f"processor {kind} is not allowed{hint}; allowed: {', '.join(sorted(allowed))}", path)
    if not isinstance(config, dict):
        raise RuleBroken("a processor's configuration is an object", f"{path}.{kind}")
    if "if" in config and not allow_scripts:
        raise RuleBroken(
            "conditions (if) are Painless scripts: they need ingestion.allow_script_processors", f"{path}.{kind}.if"
        )
    if config.get("tag") == PIN_TAG:
        raise RuleBroken(f"the tag {PIN_TAG} is reserved", f"{path}.{kind}.tag")
    if "on_failure" in config:
        _check_processors(config["on_failure"], f"{path}.{kind}.on_failure", allow_scripts)
    if kind == "foreach" and "processor" in config:
        _check_processor(config["processor"], f"{path}.{kind}.processor", allow_scripts)


def pinned_pipeline(pipeline: Mapping[str, Any], write_index: str) -> dict[str, Any]:
    """The pipeline as registered for one run: every path through it ends by setting ``_index`` back.

    Processors can set ``_index`` from a row's own data (``set``, ``rename``,
    ``kv``, ``grok``, ``json`` at the root...); the last processor, and the
    last of the pipeline's ``on_failure`` (which runs instead of the rest),
    restore the run's write index.
    """
    pin = {"set": {"field": "_index", "value": write_index, "override": True, "tag": PIN_TAG}}
    registered = {key: value for key, value in pipeline.items() if key in _PIPELINE_KEYS}
    registered["processors"] = [*pipeline["processors"], pin]
    if pipeline.get("on_failure"):
        registered["on_failure"] = [*pipeline["on_failure"], pin]
    return registered


_PIPELINE_ID_UNSAFE = re.compile(r"[^a-z0-9_.-]")


def pipeline_id(index_prefix: str, ingestion_id: str) -> str:
    """The ingest pipeline id registered for an ingestion's ``pipeline`` (derived, never user-given).

    Readable, plus a digest of the exact id: ``Orders`` and ``orders`` are two ingestions, two pipelines.
    """
    digest = hashlib.sha256(ingestion_id.encode()).hexdigest()[:8]
    return _PIPELINE_ID_UNSAFE.sub("_", f"{index_prefix.strip('.')}{ingestion_id}".lower()) + f"-{digest}"
