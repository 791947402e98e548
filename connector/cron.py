"""Own schedule expressions: Quartz cron (seconds first) and classic 5-field cron.

croniter evaluates them; this module only translates what croniter spells
differently or lacks:

- Quartz has 6 or 7 fields (``sec min hour dom month dow [year]``) and numbers
  days of week 1-7 from Sunday; croniter (``second_at_beginning``) numbers
  them 0-6. ``nL`` (last weekday n of the month) is croniter's ``L(n-1)``.
- ``LW`` (last weekday of the month) and ``L-n`` (n days before the last day)
  are evaluated as ``L`` and then moved back, which keeps fire times ordered.
- ``?`` means "no specific value" and is ``*``.
- A range whose ends are equal (``5-5``, ``MON-MON``, ``5-5/2``) is that one
  value in Quartz and classic cron; croniter reads it as the whole cycle, so
  it is written as the single value.

Each field is checked first (``cron_fields.py``) so that an error names the
field, its text and the rule; :meth:`Schedule.warnings` tells about valid
expressions that are easily misread.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from croniter import croniter
from croniter.croniter import CroniterError

from connector import cron_fields

_DOW_NUMBER = re.compile(r"(?<![#\w/])([1-7])(?=$|[,\-/#L])")
_LAST_OFFSET = re.compile(r"^L-(\d+)$")
_EQUAL_RANGE = re.compile(r"^(\w+)-(\w+)(?:/\d+)?$")
_NUMBER = re.compile(r"^\d{1,2}$")
_NUMBERS = re.compile(r"^\d{1,2}(?:,\d{1,2})*$")
# How far apart two fire times of one expression can be, for croniter's search.
_MAX_YEARS_BETWEEN_MATCHES = 50


class CronError(ValueError):
    """The expression is not a valid Quartz or 5-field cron expression.

    ``field`` and ``value`` name the field of the expression at fault and its
    text, when one field is (``day-of-month``, ``"32"``).
    """

    def __init__(self, reason: str, *, field: str | None = None, value: str | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.value = value


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule in a time zone; :meth:`next_after` gives fire times."""

    expression: str
    croniter_expression: str
    timezone: str
    dom_shift: str | None = None  # "LW" or "L-n": move the "L" fire time back

    @classmethod
    def parse(cls, expression: str, *, timezone: str = "UTC", check_fields: bool = True) -> Schedule:
        """Parse ``expression``; raise CronError with a reason a person can act on.

        ``check_fields=False`` skips the field-by-field check, for schedules stored before it
        existed: they keep firing as croniter reads them rather than stop on an upgrade.
        """
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CronError(f"unknown time zone {timezone!r}") from None
        fields = expression.split()
        if len(fields) not in (5, 6, 7):
            raise CronError(
                f"expected 5 fields (minute hour day month weekday) or Quartz 6-7 fields "
                f"(second minute hour day month weekday [year]), got {len(fields)}"
            )
        try:
            if check_fields:
                cron_fields.check_fields(fields)
        except cron_fields.FieldError as ex:
            raise CronError(f"invalid cron expression {expression!r}: {ex}", field=ex.field, value=ex.text) from None
        translated, shift = (fields, None) if len(fields) == 5 else _from_quartz(fields)
        text = " ".join(_single_values(field) for field in translated)
        schedule = cls(expression, text, timezone, shift)
        try:
            if not croniter.is_valid(text, second_at_beginning=len(fields) > 5):
                raise CronError(f"invalid cron expression {expression!r}")
            schedule.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        except (CroniterError, ValueError, KeyError) as ex:
            if isinstance(ex, CronError):
                raise
            raise CronError(f"invalid cron expression {expression!r}: {ex}") from None
        return schedule

    def latest_between(self, since: dt.datetime, until: dt.datetime) -> dt.datetime | None:
        """The last fire time in ``[since, until]`` (aware datetimes), or None."""
        if since > until:
            return None
        if not self.dom_shift:
            previous = self._previous(until)
            return previous if previous is not None and previous >= since else None
        # Monthly shifts (LW, L-n) move fire times back: walk forward from ``since``.
        latest = None
        moment = since - dt.timedelta(microseconds=1)
        while (fire := self.next_after(moment)) is not None and fire <= until:
            latest, moment = fire, fire
        return latest

    def _previous(self, moment: dt.datetime) -> dt.datetime | None:
        """The last fire time at or before ``moment``."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        # In the second pass of a repeated hour, all of that hour's wall times already fired.
        base = _end_of_repeat(local) if local.fold else local.replace(tzinfo=None) + dt.timedelta(seconds=1)
        iterator = croniter(
            self.croniter_expression,
            base,
            second_at_beginning=self._has_seconds,
            max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES,
            is_prev=True,
        )
        try:
            while (previous := _instant(iterator.get_prev(dt.datetime), zone)) > moment:
                pass  # a wall time skipped by a DST gap, which fires after ``moment``
        except CroniterError:
            return None
        return previous

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first fire time strictly after ``moment`` (aware), or None if none is left.

        Fire times are wall-clock times in the schedule's zone. A wall time that a
        DST gap skips fires as far after the jump as it was after the gap's start
        (02:30 fires at 03:30, as Quartz does); a wall time that occurs twice fires
        once, the first time.
        """
        zone = zoneinfo.ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        # Wall times up to ``after`` all map to instants at or before ``moment``
        # (the mapping from wall time to instant never goes backwards).
        after = _end_of_repeat(local) - dt.timedelta(seconds=1) if local.fold else local.replace(tzinfo=None)
        base = after
        while True:
            iterator = croniter(
                self.croniter_expression,
                base,
                second_at_beginning=self._has_seconds,
                max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES,
            )
            try:
                candidate: dt.datetime = iterator.get_next(dt.datetime)
            except CroniterError:
                return None
            fire = _shift(candidate, self.dom_shift) if self.dom_shift else candidate
            if fire > after:
                return _instant(fire, zone)
            # Every candidate of that last day moves back as far (a wall-clock shift): skip them
            # at once rather than one by one (86,400 of them for `* * * L-3 * ?`). Always forward.
            base = max(candidate, after + (candidate - fire))

    def fire_times(self, moment: dt.datetime, count: int) -> list[dt.datetime]:
        """The next ``count`` fire times after ``moment``, in the schedule's zone (fewer if it ends)."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        fires: list[dt.datetime] = []
        while len(fires) < count and (fire := self.next_after(moment)) is not None:
            fires.append(fire.astimezone(zone))
            moment = fire
        return fires

    def warnings(self) -> list[str]:
        """What a person may misread in this valid expression: one sentence each.

        - It fires more than once in an hour (its seconds and minutes allow
          more than one moment): how often.
        - It looks like a 5-field expression with a sixth ``*`` appended
          (``0 3 * * * *``): six fields are Quartz, seconds first, so that
          fires at minute 3 of every hour, not at 03:00. Precisely: 6 fields,
          the hour and the day-of-week fields are ``*``, the seconds field one
          number and the minutes field numbers that could be hours (0-23).
        """
        found = []
        if frequency := self._frequency():
            found.append(frequency)
        if misread := _seconds_misread(self.expression.split()):
            found.append(misread)
        return found

    def _frequency(self) -> str | None:
        expanded = croniter(self.croniter_expression, second_at_beginning=self._has_seconds).expanded
        # croniter's order: minute, hour, day, month, day of week[, second, year]
        minutes = range(60) if expanded[0] == ["*"] else expanded[0]
        seconds = [0] if not self._has_seconds else range(60) if expanded[5] == ["*"] else expanded[5]
        moments = sorted(60 * minute + second for minute in minutes for second in seconds)
        if len(moments) < 2:
            return None
        gaps = {b - a for a, b in zip(moments, [*moments[1:], moments[0] + 3600], strict=True)}
        every = f" (every {_duration(gaps.pop())})" if len(gaps) == 1 else ""
        return f"fires {len(moments)} times an hour{every}: more often than hourly"

    @property
    def _has_seconds(self) -> bool:
        return len(self.croniter_expression.split()) > 5


def _duration(seconds: int) -> str:
    if seconds % 60:
        return "second" if seconds == 1 else f"{seconds} seconds"
    minutes = seconds // 60
    return "minute" if minutes == 1 else f"{minutes} minutes"


def _seconds_misread(fields: list[str]) -> str | None:
    """The warning for 6 fields that read like 5-field cron plus a sixth ``*`` (see Schedule.warnings)."""
    if len(fields) != 6 or fields[2] != "*" or fields[5] != "*":
        return None
    second, minutes = fields[0], fields[1]
    if not _NUMBER.match(second) or not _NUMBERS.match(minutes):
        return None
    hours = [int(m) for m in minutes.split(",")]
    if max(hours) > 23:
        return None
    moment = f"minute{'s' if len(hours) > 1 else ''} {minutes}"
    if int(second):
        moment += f", second {int(second)},"
    every_day = fields[3] in ("*", "?") and fields[4] in ("*", "?")
    warning = f"fires at {moment} of every hour{'' if every_day else ' of the days it allows'}"
    warning += " (6 fields are Quartz: second minute hour day-of-month month day-of-week)"
    five = " ".join(fields[:5])
    if every_day:
        times = " and ".join(f"{hour:02d}:{int(second):02d}" for hour in hours)
        return f'{warning}; for {times} daily write "0 {second} {minutes} * * ?" (or the 5 fields "{five}")'
    try:
        cron_fields.check_fields(fields[:5])
    except cron_fields.FieldError:
        return warning
    return f'{warning}; for the 5-field reading write the 5 fields "{five}" alone'


def _instant(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant of a naive wall time: the first if it occurs twice, moved forward if skipped.

    ``fold=0`` is exactly that (PEP 495): the offset in force before the transition.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)


def _end_of_repeat(local: dt.datetime) -> dt.datetime:
    """The first naive wall time after ``local`` (in a repeated hour) that occurs only once."""
    zone = local.tzinfo

    def repeated(seconds: int) -> bool:
        wall = start + dt.timedelta(seconds=seconds)
        return wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset()

    start = local.replace(tzinfo=None, fold=0, microsecond=0)
    low, high = 0, 6 * 3600  # repeated at ``low``, not at ``high``: no zone repeats 6 hours
    while high - low > 1:
        middle = (low + high) // 2
        if repeated(middle):
            low = middle
        else:
            high = middle
    return start + dt.timedelta(seconds=high)


def _from_quartz(fields: list[str]) -> tuple[list[str], str | None]:
    second, minute, hour, dom, month, dow, *year = fields
    shift = None
    if dom in ("LW", "WL"):
        dom, shift = "L", "LW"
    elif _LAST_OFFSET.match(dom):  # its offset was checked with the fields
        shift, dom = dom, "L"
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else _quartz_dow(dow)
    return [second, minute, hour, dom, month, dow, *year], shift


def _quartz_dow(dow: str) -> str:
    parts = []
    for part in dow.split(","):
        if part == "L":  # alone in day-of-week, Quartz's L is the last day of the week: Saturday
            parts.append("6")
            continue
        last = re.fullmatch(r"([1-7])L", part)
        if last:
            parts.append(f"L{int(last.group(1)) - 1}")
            continue
        parts.append(_DOW_NUMBER.sub(lambda m: str(int(m.group(1)) - 1), part))
    return ",".join(parts)


def _single_values(field: str) -> str:
    """Write each equal range of a field (``5-5``, ``mon-MON/2``) as its one value."""
    parts = []
    for part in field.split(","):
        equal = _EQUAL_RANGE.match(part)
        if equal and equal.group(1).lower() == equal.group(2).lower():
            part = equal.group(1)
        parts.append(part)
    return ",".join(parts)


def _shift(candidate: dt.datetime, shift: str) -> dt.datetime:
    if shift == "LW":
        weekday = candidate.weekday()  # Monday 0 .. Sunday 6
        return candidate - dt.timedelta(days=max(0, weekday - 4))
    return candidate - dt.timedelta(days=int(shift[2:]))
