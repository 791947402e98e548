"""Own the job-log search request: filters, their date formats, paging limits.

Dates are accepted as epoch milliseconds, ISO 8601 (``2022-02-21T06:15:00Z``),
``20220221`` or ``20220221T061500`` (seed 001); without a zone they are UTC.
A date without a time as ``start_time_to`` means the end of that day.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from connector.errors import InvalidDefinition
from connector.job_state import ACTIVE, INGESTION, TERMINAL, JobState

JOB_TYPES = (INGESTION,)
SORT_FIELDS = ("create_time", "start_time", "end_time", "count", "error_count")
MAX_Q_CHARS = 1024
SORT_PATTERN = f"^({'|'.join(SORT_FIELDS)})(:(asc|desc))?$"  # what the OpenAPI document and the models declare

_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_COMPACT_DATETIME = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})?$")
_EPOCH_MS = re.compile(r"^-?\d{9,}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
# Years 0001 to 9999, the dates Elasticsearch's epoch_millis accepts.
_MIN_MS = (dt.datetime(1, 1, 1, tzinfo=dt.UTC) - _EPOCH) // _MS
_MAX_MS = (dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC) - _EPOCH) // _MS


def check_type(job_type: str, *, entry_type: str = "path_parameter") -> None:
    """Refuse a job type this service does not run."""
    if job_type not in JOB_TYPES:
        raise InvalidDefinition.single(
            "type",
            "one_of",
            f"unknown job type [{job_type}]; known types: {', '.join(JOB_TYPES)}",
            entry_type=entry_type,
            params=list(JOB_TYPES),
        )


def parse_time(value: str | int, *, entry: str, end_of_day: bool = False, entry_type: str = "query_parameter") -> int:
    """Epoch ms for one of the accepted date formats; InvalidDefinition otherwise."""
    if isinstance(value, bool):
        raise _bad_time(entry, value, entry_type)
    if isinstance(value, int):
        return _in_range(value, entry, entry_type)
    text = value.strip()
    date_only = False
    moment: dt.datetime | None = None
    if match := _COMPACT_DATE.fullmatch(text):
        moment, date_only = _build(entry, value, entry_type, *map(int, match.groups())), True
    elif match := _COMPACT_DATETIME.fullmatch(text):
        moment = _build(entry, value, entry_type, *(int(g or 0) for g in match.groups()))
    elif _EPOCH_MS.fullmatch(text):
        return _in_range(int(text), entry, entry_type)
    else:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _bad_time(entry, value, entry_type) from None
        date_only = len(text) == 10
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if date_only and end_of_day:
        moment += dt.timedelta(days=1) - _MS
    # Exact: int(timestamp() * 1000) loses the last millisecond of some days to float rounding.
    return (moment - _EPOCH) // _MS


def _in_range(epoch_ms: int, entry: str, entry_type: str) -> int:
    if not _MIN_MS <= epoch_ms <= _MAX_MS:
        raise InvalidDefinition.single(
            entry, "date_range", "must be a date between the years 1 and 9999", entry_type=entry_type
        )
    return epoch_ms


def _build(entry: str, value: Any, entry_type: str, *parts: int) -> dt.datetime:
    try:
        return dt.datetime(*parts)  # type: ignore[arg-type]
    except ValueError:
        raise _bad_time(entry, value, entry_type) from None


def _bad_time(entry: str, value: Any, entry_type: str) -> InvalidDefinition:
    return InvalidDefinition.single(
        entry,
        "date",
        f"[{value}] is not a date: use epoch milliseconds, ISO 8601, 20220221 or 20220221T061500",
        entry_type=entry_type,
    )


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A validated job-log search."""

    job_type: str | None = None
    ids: tuple[str, ...] = ()
    states: tuple[JobState, ...] = ()
    start_time_from: int | None = None
    start_time_to: int | None = None
    ended: bool | None = None
    text: str | None = None  # q: Elasticsearch simple query string over infos and error
    sort_field: str = "create_time"
    sort_order: str = "desc"

    @classmethod
    def parse(cls, raw: dict[str, Any], *, entry_type: str) -> JobQuery:
        """Build from request values (query-string text or JSON values)."""
        job_type = raw.get("type")
        if job_type is not None:
            check_type(job_type, entry_type=entry_type)
        states = tuple(JobState(s) for s in _strings(raw.get("state"), "state", entry_type, list(JobState)))
        ended = raw.get("ended")
        if isinstance(ended, str):
            lowered = ended.lower()
            if lowered not in ("true", "false", "1", "0", ""):
                raise InvalidDefinition.single("ended", "boolean", "must be true or false", entry_type=entry_type)
            ended = lowered in ("true", "1", "")
        elif ended is not None and not isinstance(ended, bool):
            raise InvalidDefinition.single("ended", "boolean", "must be true or false", entry_type=entry_type)
        query = cls(
            job_type=job_type,
            ids=tuple(_strings(raw.get("id"), "id", entry_type, None)),
            states=states,
            start_time_from=_time(raw.get("start_time_from"), "start_time_from", entry_type, end_of_day=False),
            start_time_to=_time(raw.get("start_time_to"), "start_time_to", entry_type, end_of_day=True),
            ended=ended,
            text=_text(raw.get("q"), entry_type),
            **_sort(raw.get("sort"), entry_type),
        )
        if (
            query.start_time_from is not None
            and query.start_time_to is not None
            and query.start_time_from > query.start_time_to
        ):
            raise InvalidDefinition.single(
                "start_time_from", "before", "start_time_from is after start_time_to", entry_type=entry_type
            )
        return query

    def states_wanted(self) -> frozenset[JobState] | None:
        """The states allowed by ``state`` and ``ended`` together (None: any)."""
        wanted: frozenset[JobState] | None = frozenset(self.states) if self.states else None
        if self.ended is not None:
            by_end = TERMINAL if self.ended else ACTIVE
            wanted = by_end if wanted is None else wanted & by_end
        return wanted


def _strings(value: Any, name: str, entry_type: str, allowed: list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidDefinition.single(name, "string_list", "must be a string or a comma list", entry_type=entry_type)
    items = [i.strip() for i in items if i.strip()]
    if allowed is not None:
        bad = [i for i in items if i not in allowed]
        if bad:
            raise InvalidDefinition.single(
                name,
                "one_of",
                f"unknown {name} {bad}; one of {', '.join(allowed)}",
                entry_type=entry_type,
                params=list(allowed),
            )
    return items


def _text(value: Any, entry_type: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_Q_CHARS:
        raise InvalidDefinition.single(
            "q", "text", f"must be a text of at most {MAX_Q_CHARS} characters", entry_type=entry_type
        )
    return value.strip() or None


def _sort(value: Any, entry_type: str) -> dict[str, str]:
    if value is None:
        return {}
    field, _, order = value.partition(":") if isinstance(value, str) else ("", "", "")
    order = order or "asc"
    if field not in SORT_FIELDS or order not in ("asc", "desc"):
        raise InvalidDefinition.single(
            "sort",
            "sort",
            f"must be FIELD or FIELD:asc|desc with FIELD one of {', '.join(SORT_FIELDS)}",
            entry_type=entry_type,
            params=list(SORT_FIELDS),
        )
    return {"sort_field": field, "sort_order": order}


def _time(value: Any, name: str, entry_type: str, *, end_of_day: bool) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _bad_time(name, value, entry_type)
    return parse_time(value, entry=name, end_of_day=end_of_day, entry_type=entry_type)
