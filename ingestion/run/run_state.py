"""Own what a run has done and where it stands: counters, checkpoint, watermark, and where the next read starts.

The checkpoint (written with the status, kept as bookkeeping) holds the
counters at a batch boundary and the *position* there — the read order's
column values of the last row read, as JSON, with their database types so
that a resumed run binds them as the database compares them. The watermark
(SPEC §10, status field ``watermark``) is the position of the last row of
the tracking order; the next run of the ingestion reads after the last
successful run's watermark (a partitioned run's: the last position when it
was planned, ``ingestion/run/partitioned.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.errors import InvalidDefinition
from connector.ingestion_def import IngestBody
from connector.job_state import RunStatus
from ingestion.sink.targets import IncrementalTarget, ReplaceTarget
from ingestion.source.read_order import ReadOrder, later, lowered
from ingestion.source.values import exact_values, shown

Target = ReplaceTarget | IncrementalTarget


@dataclass(slots=True)
class Counters:
    """What a run has done so far; ``target`` is set once its index exists (for clean-up)."""

    rows_read: int = 0
    count: int = 0
    deleted: int = 0
    error_count: int = 0
    recorded_errors: int = 0
    last_id: str | None = None
    position: list[Any] | None = None  # of the last row read, as exact JSON (values.exact_json): the checkpoint
    position_types: list[str | None] | None = None
    watermark: list[Any] | None = None  # (tracking value, key) as exact JSON, when reading by a tracking column
    watermark_shown: list[Any] | None = None  # the same as plain JSON, as the status shows it
    last_record: list[Any] | None = None  # of the last row indexed, in the query's column order
    last_record_timestamp: int | None = None
    target: Target | None = None

    @classmethod
    def resumed(cls, checkpoint: dict[str, Any] | None) -> Counters:
        if not checkpoint:
            return cls()
        return cls(
            rows_read=checkpoint["rows_read"],
            count=checkpoint["count"],
            deleted=checkpoint.get("deleted", 0),
            error_count=checkpoint["error_count"],
            recorded_errors=checkpoint.get("recorded_errors", 0),
            last_id=checkpoint.get("last_id"),
            # Checkpoints written before tracking columns hold the key alone.
            position=checkpoint.get("position") or [checkpoint["pk"]],
            position_types=checkpoint.get("types"),
            watermark=checkpoint.get("watermark"),
            watermark_shown=checkpoint.get("watermark_shown") or checkpoint.get("watermark"),
        )

    @property
    def last_pk(self) -> Any:
        """The key of the last row read, as messages show it."""
        return shown(self.position[-1]) if self.position else None

    def checkpoint(self) -> dict[str, Any] | None:
        """Counters and position at one batch boundary: everything up to ``position`` is accounted for."""
        if self.position is None:
            return None
        return {
            "pk": self.last_pk,
            "position": self.position,
            "types": self.position_types,
            "watermark": self.watermark,
            "watermark_shown": self.watermark_shown,
            "rows_read": self.rows_read,
            "count": self.count,
            "deleted": self.deleted,
            "error_count": self.error_count,
            "recorded_errors": self.recorded_errors,
            "last_id": self.last_id,
        }

    def status_fields(self) -> dict[str, Any]:
        """The counters as one status update: count, last_id and last_record always agree."""
        fields: dict[str, Any] = {
            "count": self.count,
            "last_id": self.last_id,
            "error_count": self.error_count,
            "checkpoint": self.checkpoint(),
        }
        fields["deleted"] = self.deleted
        if self.watermark is not None:
            plain = self.watermark_shown or [shown(v) for v in self.watermark]
            fields["watermark"] = {"value": plain[0], "pk": plain[1]}
            fields["watermark_position"] = self.watermark
        if self.last_record is not None:
            fields.update(last_record=self.last_record, last_record_timestamp=self.last_record_timestamp)
        return fields


@dataclass(frozen=True, slots=True)
class Start:
    """Where a run reads from, and what it compares its new watermark with."""

    order: ReadOrder | None
    previous_watermark: tuple[Any, ...] | None = None  # typed, as the database returns values
    previous_watermark_json: list[Any] | None = None  # exact JSON
    previous_watermark_shown: list[Any] | None = None
    watermark_types: list[str | None] | None = field(default=None)


def tracking_order(definition: IngestBody) -> tuple[str, ...] | None:
    """The columns rows are read in order of, or None (no key)."""
    if not definition.pk_field:
        return None
    if definition.tracking_column and definition.strategy == "INCREMENTAL":
        return (definition.tracking_column, definition.pk_field)
    return (definition.pk_field,)


def start(
    definition: IngestBody,
    counters: Counters,
    previous: RunStatus | None,
    *,
    rebuild: bool,
    server_binds: bool,
    timezone: str,
) -> Start:
    """The read order of this run: after its checkpoint (resume), after the last watermark, or everything."""
    columns = tracking_order(definition)
    if columns is None:
        return Start(None)

    def typed(values: list[Any], types: list[str | None] | None) -> tuple[Any, ...]:
        return exact_values(values, types, server_binds=server_binds, timezone=timezone)

    tracking = len(columns) == 2
    watermark = previous.watermark if previous is not None and tracking and not rebuild else None
    watermark_types = previous.watermark_types if previous is not None else None
    previous_watermark = None
    previous_json = None
    previous_shown = None
    if watermark and "value" in watermark and "pk" in watermark:
        previous_shown = [watermark["value"], watermark["pk"]]
        exact = previous.watermark_position if previous is not None else None
        previous_json = exact if exact and len(exact) == 2 else previous_shown  # runs before exact positions
        previous_watermark = typed(previous_json, watermark_types)
    if counters.position is not None:  # a resume: strictly after the checkpoint
        if len(counters.position) != len(columns):
            raise InvalidDefinition.single(
                "$.ingest.tracking_column",
                "resume",
                "the definition changed since the run being resumed (tracking_column); run it without resume",
            )
        after = typed(counters.position, counters.position_types)
        return Start(
            ReadOrder(columns, after=after), previous_watermark, previous_json, previous_shown, watermark_types
        )
    if previous_watermark is None:
        return Start(ReadOrder(columns))
    if definition.tracking_overlap:
        lower = lowered(previous_watermark[0], definition.tracking_overlap)
        order = ReadOrder(columns, from_value=lower)
    else:
        order = ReadOrder(columns, after=previous_watermark)
    return Start(order, previous_watermark, previous_json, previous_shown, watermark_types)


def keep_watermark(counters: Counters, begin: Start) -> None:
    """Nothing later was read: the watermark stays where the last successful run left it."""
    if counters.watermark is None and begin.previous_watermark_json is not None:
        counters.watermark = begin.previous_watermark_json
        counters.watermark_shown = begin.previous_watermark_shown


def advance_watermark(
    counters: Counters, begin: Start, last: tuple[Any, ...], last_exact: list[Any], last_shown: list[Any]
) -> None:
    """Move the watermark to the last row read when it is later than where the run started from."""
    keep_watermark(counters, begin)
    if begin.previous_watermark is None or later(last, begin.previous_watermark):
        counters.watermark = last_exact
        counters.watermark_shown = last_shown
