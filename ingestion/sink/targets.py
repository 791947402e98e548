"""Own what a strategy does to Elasticsearch indices around a run.

REPLACE loads a staging index (no refresh, no replicas while loading), then
restores its settings and, in one ``_aliases`` call, points the ``target``
alias at it and removes the indices the alias (or a concrete index named
``target``) covered. On error or abort the staging index is deleted and
``target`` is untouched. INCREMENTAL writes into ``target`` itself, creating
it with the mapping if it does not exist.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError

from connector.doc_store import store_errors
from connector.errors import ConnectorError

log = logging.getLogger(__name__)

_FLOAT_TYPES = frozenset({"float", "double", "half_float", "scaled_float"})
_LOADING_SETTINGS = {"index": {"refresh_interval": "-1", "number_of_replicas": 0}}


class TargetError(ConnectorError):
    """The target or staging index cannot be prepared or swapped."""

    error_type = "target_index_exception"


def _api_error(action: str, ex: ApiError) -> TargetError:
    return TargetError(f"{action}: {ex.message} ({_reason(ex)})")


def _reason(ex: ApiError) -> str:
    body = ex.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("reason", ""))
    return str(body)[:300]


def staging_name(target: str, staging_prefix: str | None, run_suffix: str) -> str:
    """Name of a run's staging index: ``<staging_prefix><suffix>`` or ``<target>-<suffix>``."""
    return f"{staging_prefix}{run_suffix}" if staging_prefix else f"{target}-{run_suffix}"


def resolve(es: Elasticsearch, name: str) -> tuple[str, list[str]]:
    """Return ``("alias" | "index" | "missing", indices)`` for a target name."""
    with store_errors(f"resolving {name}"):
        try:
            aliases = es.indices.get_alias(name=name)
            return "alias", sorted(aliases.body)
        except NotFoundError:
            pass
        try:
            found = es.indices.get(index=name)
        except NotFoundError:
            return "missing", []
    if name in found:
        return "index", [name]
    # `name` was an alias after all (a race with another swap): report its indices.
    return "alias", sorted(found.body)


def index_created(es: Elasticsearch, indices: list[str]) -> int | None:
    """When the newest of ``indices`` was created (epoch ms, the cluster's clock), if the cluster says."""
    with store_errors(f"reading the creation date of {', '.join(indices)}"):
        try:
            found = es.indices.get_settings(index=",".join(indices), name="index.creation_date")
        except NotFoundError:
            return None
    dates = [settings.get("settings", {}).get("index", {}).get("creation_date") for settings in found.body.values()]
    known = [int(d) for d in dates if isinstance(d, str | int) and str(d).isdigit()]
    return max(known) if known else None


class ReplaceTarget:
    """Staging index per run, swapped into the ``target`` alias at the end."""

    def __init__(self, es: Elasticsearch, target: str, staging: str) -> None:
        self.es = es
        self.target = target
        self.write_index = staging

    def prepare(self, mapping: dict[str, Any], *, resume: bool = False) -> None:
        """Create the staging index (or, resuming, check it still exists)."""
        with store_errors(f"creating staging index {self.write_index}"):
            if resume:
                if not self.es.indices.exists(index=self.write_index):
                    raise TargetError(
                        f"cannot resume: the staging index [{self.write_index}] no longer exists; run without resume"
                    )
                return
            try:
                self.es.indices.create(index=self.write_index, settings=_LOADING_SETTINGS, mappings=mapping)
            except ApiError as ex:
                raise _api_error(f"cannot create staging index [{self.write_index}]", ex) from ex

    def commit(self) -> None:
        """Restore settings, refresh, and swap the alias atomically."""
        kind, previous = resolve(self.es, self.target)
        replicas: Any = None
        if previous:
            with store_errors(f"reading settings of {previous[0]}"):
                settings = self.es.indices.get_settings(index=previous[0])
            for index_settings in settings.body.values():
                replicas = index_settings.get("settings", {}).get("index", {}).get("number_of_replicas")
        actions: list[dict[str, Any]] = [{"add": {"index": self.write_index, "alias": self.target}}]
        actions += [{"remove_index": {"index": old}} for old in previous if old != self.write_index]
        with store_errors(f"swapping {self.target} to {self.write_index}"):
            try:
                self.es.indices.put_settings(
                    index=self.write_index,
                    settings={"index": {"refresh_interval": None, "number_of_replicas": replicas}},
                )
                self.es.indices.refresh(index=self.write_index)
                self.es.indices.update_aliases(actions=actions)
            except ApiError as ex:
                raise _api_error(f"cannot point [{self.target}] at [{self.write_index}]", ex) from ex
        log.info("%s now points at %s (was %s %s)", self.target, self.write_index, kind, previous)

    def discard(self) -> None:
        """Delete the staging index; the target was never touched."""
        with store_errors(f"deleting staging index {self.write_index}"):
            try:
                self.es.indices.delete(index=self.write_index)
            except NotFoundError:
                return


class MappingConflict(ConnectorError):
    """The target maps fields with types the run's documents no longer have (SPEC §10 ``on_mapping_conflict``)."""

    error_type = "mapping_conflict_exception"

    def __init__(self, target: str, conflicts: list[str]) -> None:
        super().__init__(
            f"the mapping of [{target}] conflicts with what the query now produces: {'; '.join(conflicts)}; "
            'nothing was written (on_mapping_conflict "rebuild" loads a new index with the new mapping)'
        )
        self.conflicts = conflicts


class IncrementalTarget:
    """Upserts by id into ``target``."""

    def __init__(self, es: Elasticsearch, target: str) -> None:
        self.es = es
        self.target = target
        self.write_index = target

    def prepare(self, mapping: dict[str, Any], *, kind: str | None = None) -> None:
        """Create the target with ``mapping`` if missing; else check it and add the fields it lacks.

        ``kind``: what ``resolve`` just said the target is, if the caller asked. Raises MappingConflict
        naming every field whose type would change.
        """
        kind = kind or resolve(self.es, self.target)[0]
        with store_errors(f"preparing {self.target}"):
            try:
                if kind == "missing":
                    self.es.indices.create(index=self.target, mappings=mapping)
                    return
                existing = current_properties(self.es, self.target)
                conflicts = mapping_conflicts(existing, mapping.get("properties", {}))
                if conflicts:
                    raise MappingConflict(self.target, conflicts)
                added = {k: v for k, v in mapping.get("properties", {}).items() if k not in existing}
                if added:
                    self.es.indices.put_mapping(index=self.target, properties=added)
            except ApiError as ex:
                if kind == "missing" and "already exists" in _reason(ex):
                    return  # created concurrently by another run's first batch
                raise _api_error(f"cannot prepare target [{self.target}]", ex) from ex

    def commit(self) -> None:
        with store_errors(f"refreshing {self.target}"):
            self.es.indices.refresh(index=self.target)

    def discard(self) -> None:
        """Nothing to undo: documents written so far stay (re-running is idempotent)."""


_INTEGRAL = ("byte", "short", "integer", "long")
_STRINGS = frozenset({"keyword", "text", "constant_keyword", "wildcard"})


def current_properties(es: Elasticsearch, target: str) -> dict[str, Any]:
    """The mapped fields of ``target`` (an index or the indices behind an alias), merged."""
    found = es.indices.get_mapping(index=target).body
    merged: dict[str, Any] = {}
    for index_mapping in found.values():
        merged.update(index_mapping.get("mappings", {}).get("properties", {}))
    return merged


def mapping_conflicts(existing: dict[str, Any], needed: dict[str, Any], prefix: str = "") -> list[str]:
    """Fields whose type in ``needed`` the ``existing`` mapping cannot hold: "[field] is X in the target, the
    run needs Y". Widening an integer, float to double, and text/keyword among strings are not conflicts."""
    conflicts: list[str] = []
    for name, wanted in needed.items():
        have = existing.get(name)
        if not isinstance(have, dict) or not isinstance(wanted, dict):
            continue
        if "properties" in wanted and "properties" in have:
            conflicts += mapping_conflicts(have["properties"], wanted["properties"], f"{prefix}{name}.")
            continue
        old, new = have.get("type", "object"), wanted.get("type", "object")
        if not _holds(old, new):
            conflicts.append(f"[{prefix}{name}] is {old} in the target, the run needs {new}")
    return conflicts


def _holds(old: str, new: str) -> bool:
    if old == new or (old in _STRINGS and new in _STRINGS):
        return True
    if new in _INTEGRAL and old in _INTEGRAL:
        return _INTEGRAL.index(old) >= _INTEGRAL.index(new)
    if new in (*_INTEGRAL, "float", "half_float") and old == "double":
        return True
    if new == "half_float" and old == "float":
        return True
    return {old, new} == {"date", "date_nanos"}


def drop_staging(es: Elasticsearch, index: str) -> bool:
    """Delete a kept staging index unless an alias now points at it (it became live). True if gone."""
    with store_errors(f"dropping staging index {index}"):
        try:
            if es.indices.get_alias(index=index).body.get(index, {}).get("aliases"):
                log.warning("staging index %s is live behind an alias; not deleting it", index)
                return False
            es.indices.delete(index=index)
        except NotFoundError:
            pass
    return True


def sortable_field(es: Elasticsearch, index: str, field: str) -> tuple[str, str | None]:
    """The field to sort ``field`` by in ``index`` (its ``keyword`` sub-field for text) and its type."""
    with store_errors(f"reading the mapping of {index}.{field}"):
        try:
            found = es.indices.get_field_mapping(index=index, fields=[field, f"{field}.keyword"]).body
        except NotFoundError:
            return field, None
    mappings: dict[str, Any] = {}
    for index_mapping in found.values():
        mappings.update(index_mapping.get("mappings", {}))
    kind = (mappings.get(field, {}).get("mapping", {}).get(field.rsplit(".", 1)[-1]) or {}).get("type")
    if kind == "text" and f"{field}.keyword" in mappings:
        return f"{field}.keyword", "keyword"
    return field, kind


def max_value(es: Elasticsearch, index: str, field: str) -> Any:
    """The largest ``field`` value in ``index`` in its sort order (None when empty or missing).

    Numbers, keywords (text keys, sorted by their UTF-8 bytes as Elasticsearch
    does) and dates (returned as an aware datetime); a text field without a
    keyword sub-field cannot be sorted and is refused with a TargetError.
    """
    sort_by, kind = sortable_field(es, index, field)
    if kind == "text":
        raise TargetError(
            f"cannot compute max_primary_key on [{index}].{field}: a text field cannot be sorted; map it as keyword"
        )
    with store_errors(f"reading max({field}) of {index}"):
        try:
            resp = es.search(
                index=index,
                size=1,
                sort=[{sort_by: {"order": "desc", "unmapped_type": "keyword", "missing": "_last"}}],
                source=False,
                query={"exists": {"field": sort_by}},
                track_total_hits=False,
            )
        except NotFoundError:
            return None
        except ApiError as ex:
            raise _api_error(f"cannot compute max_primary_key on [{index}].{field}", ex) from ex
    hits = resp.get("hits", {}).get("hits", [])
    if not hits or not hits[0].get("sort"):
        return None
    value = hits[0]["sort"][0]
    if kind in ("date", "date_nanos") and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    if (
        isinstance(value, float)
        and value.is_integer()
        and kind not in ("float", "double", "half_float", "scaled_float")
    ):
        return int(value)
    return value
