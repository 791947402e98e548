"""Own the field-by-field check of schedule expressions: which field is bad, and why.

croniter only says that an expression "is not acceptable". A person needs the
field, its text and the rule it breaks (``day-of-month field "32": value out
of range 1-31``), so each field is read here against its grammar before
croniter evaluates the expression: Quartz (seconds first, day of week 1-7
from Sunday, ``?``, ``L``, ``W``, ``#``, optional year) or classic 5-field
cron (day of week 0-7 from Sunday). The check also refuses what croniter
would accept with a meaning nobody intends: a day of week 0 in Quartz (1-7)
and steps longer than the field (``*/90`` minutes fires once an hour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MAX_LAST_OFFSET = 30  # L-n: as Quartz

_VALUE = r"(\d+|[A-Za-z]+)"
_GENERIC = re.compile(rf"^(?:\*|{_VALUE}(?:-{_VALUE})?)(?:/(\d+|.*))?$")
_LAST_OFFSET = re.compile(r"^L-(.*)$")
_NEAREST_WEEKDAY = re.compile(r"^(\d+)W$")
_QUARTZ_LAST_WEEKDAY = re.compile(rf"^{_VALUE}L$")
_CLASSIC_LAST_WEEKDAY = re.compile(rf"^L{_VALUE}$")
_NTH_WEEKDAY = re.compile(rf"^{_VALUE}#(\d+)$")


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What one field of an expression accepts."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names of low, low + 1, ...
    kind: Literal["plain", "day-of-month", "day-of-week"] = "plain"
    quartz: bool = True

    def allowed(self) -> str:
        """The forms this field accepts, for an error message."""
        values = f"{self.low}-{self.high}"
        if self.names:
            values += f" or {self.names[0]}-{self.names[-1]}"
        forms = f'{values}, "*", a range a-b, a step */n or a/n, a list a,b'
        if self.kind == "day-of-month":
            forms += ', "?", "L", "nW"' + (', "LW", "L-n"' if self.quartz else "")
        elif self.kind == "day-of-week":
            forms += ', "?", ' + ('"L", "nL", "n#k"' if self.quartz else '"Ln", "n#k"')
        return forms


QUARTZ_FIELDS = (
    FieldRule("second", 0, 59),
    FieldRule("minute", 0, 59),
    FieldRule("hour", 0, 23),
    FieldRule("day-of-month", 1, 31, kind="day-of-month"),
    FieldRule("month", 1, 12, _MONTHS),
    FieldRule("day-of-week", 1, 7, _DAYS, kind="day-of-week"),
    FieldRule("year", 1970, 2099),
)
CLASSIC_FIELDS = (
    FieldRule("minute", 0, 59, quartz=False),
    FieldRule("hour", 0, 23, quartz=False),
    FieldRule("day-of-month", 1, 31, kind="day-of-month", quartz=False),
    FieldRule("month", 1, 12, _MONTHS, quartz=False),
    FieldRule("day-of-week", 0, 7, (*_DAYS, "SUN"), kind="day-of-week", quartz=False),
)


class FieldError(ValueError):
    """One field of an expression is invalid: ``str()`` names the field, its text and the rule."""

    def __init__(self, rule: FieldRule, text: str, reason: str) -> None:
        super().__init__(f'{rule.name} field "{text}": {reason}')
        self.field = rule.name
        self.text = text
        self.reason = reason


def check_fields(fields: list[str]) -> None:
    """Raise FieldError for the first field that its grammar refuses (5 fields: classic; 6-7: Quartz)."""
    rules = CLASSIC_FIELDS if len(fields) == 5 else QUARTZ_FIELDS
    for rule, text in zip(rules, fields, strict=False):
        _check_field(rule, text)


def _check_field(rule: FieldRule, text: str) -> None:
    parts = text.split(",")
    for part in parts:
        problem = _part_problem(rule, part, alone=len(parts) == 1)
        if problem is not None:
            reason, token = problem
            raise FieldError(rule, text, reason.format("" if token == text else f" {token}"))


# Why a part is invalid: a reason with "{}" where the bad token is named (left out when
# it is the whole field, so that "32" reads `value out of range`), and that token.
Problem = tuple[str, str]
_NOT_SPECIAL: Problem = ("", "")


def _part_problem(rule: FieldRule, part: str, *, alone: bool) -> Problem | None:
    """Why ``part`` (one item of a list) is invalid in ``rule``'s field, or None."""
    if part == "":
        return "empty item in the list", ""
    if part == "?":
        if rule.kind == "plain":
            return f'"?" is only for day-of-month or day-of-week; use "*" in the {rule.name} field', ""
        return None if alone else ('"?" stands alone, not in a list', "")
    upper = part.upper()
    if rule.kind == "day-of-month" and (special := _day_of_month_problem(rule, upper, alone=alone)) != _NOT_SPECIAL:
        return special
    if rule.kind == "day-of-week" and (special := _day_of_week_problem(rule, upper)) != _NOT_SPECIAL:
        return special
    generic = _GENERIC.match(part)
    if generic is None:
        return f"not a valid value{{}}: expected {rule.allowed()}", part
    first, last, step = generic.groups()
    for value in (first, last):
        if value is not None and (problem := _value_problem(rule, value)) is not None:
            return problem
    if step is not None:
        span = rule.high - rule.low if rule.name == "year" else rule.high
        if not step.isdigit():
            return f"step{{}} is not a number 1-{span}", step
        if not 1 <= int(step) <= span:
            return f"step{{}} out of range 1-{span}", step
    return None


def _value_problem(rule: FieldRule, value: str, what: str = "value") -> Problem | None:
    """Why ``value`` (a number or a name) is not one of the field's values, or None."""
    if value.isdigit():
        if rule.low <= int(value) <= rule.high:
            return None
        numbering = " (1 = SUN, 7 = SAT)" if rule.kind == "day-of-week" and rule.quartz else ""
        return f"{what}{{}} out of range {rule.low}-{rule.high}{numbering}", value
    if value.upper() in rule.names:
        return None
    if rule.names:
        return f"unknown name{{}} (use {rule.names[0]}-{rule.names[-1]} or {rule.low}-{rule.high})", value
    return f"not a valid value{{}}: expected {rule.allowed()}", value


def _day_of_month_problem(rule: FieldRule, part: str, *, alone: bool) -> Problem | None:
    """Check ``L``, ``LW``, ``L-n`` and ``nW``; _NOT_SPECIAL when ``part`` is none of them."""
    if part == "L" or (rule.quartz and part in ("LW", "WL")):
        return None if alone else (f'"{part}" stands alone, not in a list', "")
    if rule.quartz and (offset := _LAST_OFFSET.match(part)):
        if not offset.group(1).isdigit() or int(offset.group(1)) > MAX_LAST_OFFSET:
            return f"offset from the last day out of range 0-{MAX_LAST_OFFSET}{{}}", part
        return None if alone else (f'"{part}" stands alone, not in a list', "")
    if nearest := _NEAREST_WEEKDAY.match(part):
        if not alone:
            return f'nearest weekday "{part}" takes a single day, not a list', ""
        return _value_problem(rule, nearest.group(1), "day")
    return _NOT_SPECIAL


def _day_of_week_problem(rule: FieldRule, part: str) -> Problem | None:
    """Check ``L``, ``nL`` (Quartz) or ``Ln`` (classic) and ``n#k``; _NOT_SPECIAL when ``part`` is none of them."""
    if rule.quartz and part == "L":
        return None
    last = (_QUARTZ_LAST_WEEKDAY if rule.quartz else _CLASSIC_LAST_WEEKDAY).match(part)
    if last:
        if rule.quartz and not last.group(1).isdigit():
            return "last weekday{} takes a number 1-7 before L", part
        return _value_problem(rule, last.group(1), "weekday")
    if nth := _NTH_WEEKDAY.match(part):
        weekday, occurrence = nth.groups()
        if (problem := _value_problem(rule, weekday, "weekday")) is not None:
            return problem
        return None if 1 <= int(occurrence) <= 5 else ("occurrence{} out of range 1-5", occurrence)
    return _NOT_SPECIAL
