"""Own what the fields of a date pattern name: the datetime that their matched texts give.

``date_pattern.py`` finds each field's text in a value; this module turns the texts into a
datetime, checked as Java checks them: ranges, the day of week against the date, AM/PM
against a 24-hour hour, the day of year against the month, one offset. It also holds the
English names and the zone abbreviations that the pattern's regular expression lists.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # datetime.weekday() order
SHORT_MONTHS = {name[:3].upper(): number for number, name in enumerate(_MONTHS, 1)} | {"SEPT": 9}
LONG_MONTHS = {name.upper(): number for number, name in enumerate(_MONTHS, 1)}
SHORT_DAYS = {name[:3].upper(): weekday for weekday, name in enumerate(_DAYS)}
LONG_DAYS = {name.upper(): weekday for weekday, name in enumerate(_DAYS)}

# Zone abbreviations as Java prints them with ``z`` in English, each the offset it names. Where one
# abbreviation has several meanings, Java's English choice: CST is US Central (not China), IST is
# India (not Israel or Ireland), PST is US Pacific (not the Philippines), BST is British Summer Time.
# fmt: off
ABBREVIATIONS: dict[str, tuple[int, int]] = {
    "UTC": (0, 0), "UT": (0, 0), "GMT": (0, 0), "Z": (0, 0),
    "EST": (-5, 0), "EDT": (-4, 0), "CST": (-6, 0), "CDT": (-5, 0), "MST": (-7, 0), "MDT": (-6, 0),
    "PST": (-8, 0), "PDT": (-7, 0), "AKST": (-9, 0), "AKDT": (-8, 0), "HST": (-10, 0), "HDT": (-9, 0),
    "AST": (-4, 0), "ADT": (-3, 0), "NST": (-3, -30), "NDT": (-2, -30),
    "BRT": (-3, 0), "ART": (-3, 0), "CLT": (-4, 0), "CLST": (-3, 0), "COT": (-5, 0), "PET": (-5, 0),
    "WET": (0, 0), "WEST": (1, 0), "BST": (1, 0), "CET": (1, 0), "CEST": (2, 0), "EET": (2, 0), "EEST": (3, 0),
    "MSK": (3, 0), "TRT": (3, 0), "GST": (4, 0), "PKT": (5, 0), "IST": (5, 30), "ICT": (7, 0), "WIB": (7, 0),
    "SGT": (8, 0), "HKT": (8, 0), "AWST": (8, 0), "JST": (9, 0), "KST": (9, 0), "ACST": (9, 30),
    "ACDT": (10, 30), "AEST": (10, 0), "AEDT": (11, 0), "NZST": (12, 0), "NZDT": (13, 0),
    "WAT": (1, 0), "CAT": (2, 0), "SAST": (2, 0), "EAT": (3, 0), "IDT": (3, 0),
}
# fmt: on
_MAX_OFFSET_HOURS = 18  # as java.time.ZoneOffset
_NUMBER_NAMES = {"d": "day", "D": "day_of_year", "H": "hour", "h": "clock_hour", "m": "minute", "s": "second"}


@dataclass(frozen=True, slots=True)
class Field:
    """A run of one pattern letter: ``MMM`` is ``Field("M", 3)``."""

    letter: str
    count: int


Reader = Callable[[tuple[str | Any, ...]], dt.datetime]  # the matched texts of the fields → the datetime


def reader(fields: Sequence[Field]) -> Reader:
    """The reader of a pattern's fields: a fast one for numbers only, else the general :func:`resolve`."""
    fast = _numeric_reader(fields)
    if fast is not None:
        return fast
    frozen = tuple(fields)
    return lambda texts: resolve(frozen, texts)


def _numeric_reader(fields: Sequence[Field]) -> Reader | None:
    """A fast reader for patterns of numbers only (``dd/MM/yyyy HH:mm``), each field once; else None.

    The general :func:`resolve` costs four times strptime; this costs less than it, and
    ``datetime`` checks the ranges (month 1-12, day in the month, hour 0-23, ...).
    """
    at = {field.letter: index for index, field in enumerate(fields)}
    if len(at) != len(fields) or not set(at) <= set("yuMdHmsS") or {"y", "u"} <= set(at):
        return None
    if "M" in at and fields[at["M"]].count > 2:
        return None
    year = at.get("y", at.get("u"))
    assert year is not None  # _check_complete
    century = 2000 if fields[year].count == 2 else 0
    month, day, hour, minute, second = (at.get(letter, -1) for letter in "MdHms")
    fraction = at.get("S", -1)
    datetime = dt.datetime

    def read(texts: tuple[str | Any, ...]) -> dt.datetime:
        return datetime(
            int(texts[year]) + century,
            int(texts[month]) if month >= 0 else 1,
            int(texts[day]) if day >= 0 else 1,
            int(texts[hour]) if hour >= 0 else 0,
            int(texts[minute]) if minute >= 0 else 0,
            int(texts[second]) if second >= 0 else 0,
            int(texts[fraction][:6].ljust(6, "0")) if fraction >= 0 else 0,  # a fraction: .25 is 250000 µs
        )

    return read


def resolve(fields: Sequence[Field], texts: tuple[str | None, ...]) -> dt.datetime:
    """The datetime that the matched field texts name, checked as Java checks them."""
    values: dict[str, int] = {}
    offset: dt.timedelta | None = None
    zone: dt.tzinfo | None = None

    def put(name: str, value: int) -> None:
        if values.setdefault(name, value) != value:
            raise ValueError(f"{name} given twice with different values")

    for field, text in zip(fields, texts, strict=True):
        assert text is not None  # every group is a whole field, never optional
        letter, count = field.letter, field.count
        if letter in "yu":
            put("year", int(text) + (2000 if count == 2 else 0))
        elif letter == "M":
            upper = text.upper()
            put("month", int(text) if count <= 2 else (SHORT_MONTHS if count == 3 else LONG_MONTHS)[upper])
        elif letter == "E":
            put("weekday", (LONG_DAYS if count == 4 else SHORT_DAYS)[text.upper()])
        elif letter == "a":
            put("pm", int(text.upper() == "PM"))
        elif letter == "S":
            put("microsecond", int(text[:6].ljust(6, "0")))  # beyond microseconds: cut, as Python keeps µs
        elif letter == "z":
            hours, minutes = ABBREVIATIONS[text.upper()]
            offset = _same(offset, dt.timedelta(hours=hours, minutes=minutes))
        elif letter in "ZXx":
            offset = _same(offset, _offset(text))
        elif letter == "V":
            found = _zone(text)
            if isinstance(found, dt.timedelta):
                offset = _same(offset, found)
            else:
                zone = found
        else:
            put(_NUMBER_NAMES[letter], int(text))
    moment = dt.datetime.combine(_date(values), _time(values))
    if "weekday" in values and moment.weekday() != values["weekday"]:
        raise ValueError(f"{moment.date()} is a {_DAYS[moment.weekday()]}, not a {_DAYS[values['weekday']]}")
    return _zoned(moment, offset, zone)


def _same(previous: dt.timedelta | None, offset: dt.timedelta) -> dt.timedelta:
    if previous is not None and previous != offset:
        raise ValueError("two different offsets")
    return offset


def _in_range(what: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{what} {value} out of range {low}-{high}")
    return value


def _date(values: dict[str, int]) -> dt.date:
    year = _in_range("year", values["year"], 1, 9999)
    if "day_of_year" not in values:
        return dt.date(year, _in_range("month", values.get("month", 1), 1, 12), values.get("day", 1))
    length = 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365
    day = dt.date(year, 1, 1) + dt.timedelta(days=_in_range("day of year", values["day_of_year"], 1, length) - 1)
    if values.get("month", day.month) != day.month or values.get("day", day.day) != day.day:
        raise ValueError(f"day of year {values['day_of_year']} is {day}, not month {values.get('month')}")
    return day


def _time(values: dict[str, int]) -> dt.time:
    hour = values.get("hour")
    if "clock_hour" in values:
        from_clock = _in_range("clock hour", values["clock_hour"], 1, 12) % 12 + 12 * values["pm"]
        if hour is not None and hour != from_clock:
            raise ValueError(f"hour {hour} is not clock hour {values['clock_hour']} {'PM' if values['pm'] else 'AM'}")
        hour = from_clock
    elif hour is not None and "pm" in values and (hour >= 12) != bool(values["pm"]):
        raise ValueError(f"hour {hour} is not {'PM' if values['pm'] else 'AM'}")
    return dt.time(
        _in_range("hour", hour or 0, 0, 23),
        _in_range("minute", values.get("minute", 0), 0, 59),
        _in_range("second", values.get("second", 0), 0, 59),
        values.get("microsecond", 0),
    )


def _offset(text: str) -> dt.timedelta:
    """``Z``, ``+HH``, ``+HHMM``, ``+HH:MM``, ``+HHMMSS`` or ``+HH:MM:SS`` as a signed duration."""
    if text == "Z":
        return dt.timedelta(0)
    digits = text[1:].replace(":", "")
    hours = _in_range("offset hours", int(digits[:2]), 0, _MAX_OFFSET_HOURS)
    minutes = _in_range("offset minutes", int(digits[2:4] or 0), 0, 59)
    seconds = _in_range("offset seconds", int(digits[4:6] or 0), 0, 59)
    size = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if size > dt.timedelta(hours=_MAX_OFFSET_HOURS):
        raise ValueError(f"offset {text} beyond ±{_MAX_OFFSET_HOURS}:00")
    return -size if text[0] == "-" else size


def _zone(text: str) -> zoneinfo.ZoneInfo | dt.timedelta:
    """A zone id read by ``VV``: a region, or an offset (``Z``, ``+02:00``, ``UTC+2``)."""
    if text == "Z":
        return dt.timedelta(0)
    offset = re.fullmatch(r"(?:UTC|GMT|UT)?([+-])([0-9]{1,2}):?([0-9]{2})?", text)
    if offset:
        sign, hours, minutes = offset.groups()
        return _offset(f"{sign}{int(hours):02d}{minutes or '00'}")
    return zoneinfo.ZoneInfo(text)  # one of zoneinfo's own ids: the regular expression lists them


def _zoned(moment: dt.datetime, offset: dt.timedelta | None, zone: dt.tzinfo | None) -> dt.datetime:
    """``moment`` with its offset or zone; a zone's skipped wall time moves forward, a repeated one takes the offset
    given, else the earlier one (Java's ``ZonedDateTime.ofLocal``)."""
    if zone is None:
        return moment if offset is None else moment.replace(tzinfo=dt.timezone(offset))
    local = moment.replace(tzinfo=zone)
    if offset is not None and local.utcoffset() != offset and local.replace(fold=1).utcoffset() == offset:
        local = local.replace(fold=1)
    return local.astimezone(dt.UTC).astimezone(zone)
