"""Own the Java ``DateTimeFormatter`` patterns of the ``date`` transform: check them, parse text with them.

A pattern is compiled once into one regular expression and the fields it
reads; :meth:`DatePattern.parse` then gives a datetime, aware when the text
has an offset or a zone. The letters follow Java's meaning exactly (in
English, as ``Locale.ENGLISH``), including widths: ``MM`` is two digits,
``M`` any number, ``SSS`` exactly three fraction digits. Text (month and day
names, AM/PM, zone abbreviations) is read in any case. Letters outside
:data:`SUPPORTED`, Java's optional sections ``[...]`` and patterns that
cannot name a moment (no year, ``h`` without ``a``) are refused with
:class:`DatePatternError`, which names the letter: a definition is checked
when it is written, not when every row of a run fails.

Python's ``strptime`` cannot do this: it has no zone abbreviations, zone ids,
``+HH`` offsets, fractions past six digits, day-of-week cross-checks, nor
fixed widths.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

SUPPORTED = "y u M d D H h a m s S E z VV Z X x"  # and quoted text 'T', '' for a quote

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
_SHORT_MONTHS = {name[:3].upper(): number for number, name in enumerate(_MONTHS, 1)} | {"SEPT": 9}
_LONG_MONTHS = {name.upper(): number for number, name in enumerate(_MONTHS, 1)}
_SHORT_DAYS = {name[:3].upper(): weekday for weekday, name in enumerate(_DAYS)}
_LONG_DAYS = {name.upper(): weekday for weekday, name in enumerate(_DAYS)}

# Zone abbreviations as Java prints them with ``z`` in English, each the offset it names. Where one
# abbreviation has several meanings, Java's English choice: CST is US Central (not China), IST is
# India (not Israel or Ireland), PST is US Pacific (not the Philippines), BST is British Summer Time.
# fmt: off
_ABBREVIATIONS: dict[str, tuple[int, int]] = {
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

# Letters Java knows that this service does not read, and what to write instead.
_UNSUPPORTED = {
    "Y": "week-based year; for the calendar year use y",
    "G": "era",
    "L": "stand-alone month; use M",
    "Q": "quarter",
    "q": "quarter",
    "w": "week of year",
    "W": "week of month",
    "e": "localized day of week; use E",
    "c": "localized day of week; use E",
    "F": "aligned week of month",
    "k": "clock hour 1-24; use H (0-23)",
    "K": "hour 0-11; use h (1-12) with a",
    "n": "nano of second; use S (SSSSSSSSS for nanoseconds)",
    "N": "nano of day",
    "A": "milli of day",
    "O": "localized offset such as GMT+2; use XXX (+02:00) or Z (+0200)",
    "B": "period of day",
    "g": "modified Julian day",
    "p": "pad",
    "v": "generic zone name; use z or VV",
}


class DatePatternError(ValueError):
    """The pattern cannot be used; ``letter`` is the pattern letter at fault, if one is."""

    def __init__(self, reason: str, *, letter: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.letter = letter


@dataclass(frozen=True, slots=True)
class _Field:
    letter: str
    count: int


@dataclass(frozen=True, slots=True)
class DatePattern:
    """A compiled Java pattern.

    ``tokens`` spells it canonically: letter runs (``u`` as ``y``), and each literal text, quotes
    removed, after one ``'`` (``yyyy-MM-dd'T'HH`` is ``yyyy``, ``'-``, ``MM``, ``'-``, ``dd``, ``'T``, ``HH``).
    """

    pattern: str
    tokens: tuple[str, ...]
    regex: re.Pattern[str]
    fields: tuple[_Field, ...]
    read: Callable[[tuple[str | Any, ...]], dt.datetime]  # the matched texts of the fields → the datetime

    def parse(self, text: str) -> dt.datetime:
        """Read ``text``: naive without an offset or zone in the pattern. ValueError says why not."""
        match = self.regex.fullmatch(text)
        if match is None:
            raise ValueError(f"does not match the pattern {self.pattern!r}")
        return self.read(match.groups())


_STRPTIME_DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)
_STRPTIME_LETTERS = set("aAwdbBmyYHIpMSfzZjUWcxXGuV%")  # what datetime.strptime reads


def check_format(date_format: str) -> None:
    """Check a ``date`` transform's format: a strptime pattern if it has a ``%``, else a Java pattern.

    DatePatternError names the Java letter, or the strptime directive, that cannot be used.
    """
    if "%" not in date_format:
        compile_pattern(date_format)
        return
    for directive in _STRPTIME_DIRECTIVE.findall(date_format):
        if not directive:
            raise DatePatternError("strptime pattern ends with a lone %; write %% for a %", letter="%")
        if directive not in _STRPTIME_LETTERS:
            raise DatePatternError(f"strptime directive %{directive} is not supported", letter=f"%{directive}")


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> DatePattern:
    """Compile a Java pattern; DatePatternError names the letter that cannot be used."""
    parts: list[str] = []
    tokens: list[str] = []
    fields: list[_Field] = []
    for kind, text in _lex(pattern):
        if kind == "literal":
            parts.append(re.escape(text))
            if tokens and tokens[-1].startswith("'"):
                tokens[-1] += text
            else:
                tokens.append("'" + text)
            continue
        letter, count = text[0], len(text)
        parts.append(f"({_letter_regex(letter, count)})")
        fields.append(_Field(letter, count))
        tokens.append(text.replace("u", "y"))  # the same years for this service (no era, years 1-9999)
    _check_complete(pattern, {f.letter for f in fields})
    read = _numeric_reader(fields) or functools.partial(_resolve, tuple(fields))
    return DatePattern(pattern, tuple(tokens), re.compile("".join(parts), re.ASCII), tuple(fields), read)


def _numeric_reader(fields: list[_Field]) -> Callable[[tuple[str | Any, ...]], dt.datetime] | None:
    """A fast reader for patterns of numbers only (``dd/MM/yyyy HH:mm``), each field once; else None.

    The general :func:`_resolve` costs four times strptime; this costs less than it, and
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
    scale = 10 ** max(0, 6 - fields[fraction].count) if fraction >= 0 else 0  # SSS: milliseconds → µs
    datetime = dt.datetime

    def read(texts: tuple[str | Any, ...]) -> dt.datetime:
        return datetime(
            int(texts[year]) + century,
            int(texts[month]) if month >= 0 else 1,
            int(texts[day]) if day >= 0 else 1,
            int(texts[hour]) if hour >= 0 else 0,
            int(texts[minute]) if minute >= 0 else 0,
            int(texts[second]) if second >= 0 else 0,
            int(texts[fraction][:6]) * scale if fraction >= 0 else 0,
        )

    return read


def _lex(pattern: str) -> Iterator[tuple[str, str]]:
    """Split a pattern into ("letters", run of one letter) and ("literal", text) parts."""
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "'":
            end = at + 1
            text = ""
            while True:
                close = pattern.find("'", end)
                if close == -1:
                    raise DatePatternError(f"unterminated quote in {pattern!r}: close it with ' (write '' for a quote)")
                text += pattern[end:close]
                if pattern.startswith("''", close):  # a doubled quote inside quotes is one quote
                    text += "'"
                    end = close + 2
                    continue
                break
            yield "literal", text if close > at + 1 else "'"
            at = close + 1
        elif char.isascii() and char.isalpha():
            end = at
            while end < len(pattern) and pattern[end] == char:
                end += 1
            yield "letters", pattern[at:end]
            at = end
        elif char in "[]{}#":
            what = "optional sections [...] are" if char in "[]" else f"{char!r} is"
            raise DatePatternError(f"{what} not supported; quote it ('{char}') to match it as text", letter=char)
        else:
            yield "literal", char
            at += 1


def _names(names: dict[str, int]) -> str:
    return "(?i:" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + ")"


def _letter_regex(letter: str, count: int) -> str:
    """The regular expression of ``count`` times ``letter``; DatePatternError if Java's meaning is not read."""

    def refuse(why: str) -> DatePatternError:
        return DatePatternError(f'pattern letter "{letter}" {why}', letter=letter)

    def widths(*allowed: int) -> None:
        if count not in allowed:
            raise refuse(f"cannot be written {count} times ({letter * count})")

    if letter in "yu":
        return "[0-9]{2}" if count == 2 else f"[0-9]{{{count},}}"
    if letter in "dHhms":
        widths(1, 2)
        return "[0-9]+" if count == 1 else "[0-9]{2}"
    if letter == "M":
        widths(1, 2, 3, 4)
        return (
            "[0-9]+"
            if count == 1
            else "[0-9]{2}"
            if count == 2
            else _names(_SHORT_MONTHS if count == 3 else _LONG_MONTHS)
        )
    if letter == "D":
        widths(1, 2, 3)
        return ("[0-9]+", "[0-9]{2,3}", "[0-9]{3}")[count - 1]
    if letter == "a":
        widths(1)
        return "(?i:AM|PM)"
    if letter == "E":
        widths(1, 2, 3, 4)
        return _names(_LONG_DAYS if count == 4 else _SHORT_DAYS)
    if letter == "S":
        widths(*range(1, 10))
        return f"[0-9]{{{count}}}"
    if letter == "z":
        if count == 4:
            raise refuse("(full zone name, zzzz) is not supported; use z (CET, PST), VV (Europe/Paris) or XXX")
        widths(1, 2, 3)
        return _names(dict.fromkeys(_ABBREVIATIONS, 0))
    if letter == "V":
        widths(2)
        return _zone_ids()
    if letter == "Z":
        if count == 4:
            raise refuse("(localized offset, ZZZZ) is not supported; use ZZZZZ or XXX (+02:00), or Z (+0200)")
        widths(1, 2, 3, 5)
        return "[+-][0-9]{4}" if count <= 3 else "Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?"
    if letter in "Xx":
        widths(1, 2, 3, 4, 5)
        offset = (
            "[+-][0-9]{2}(?:[0-9]{2})?",
            "[+-][0-9]{4}",
            "[+-][0-9]{2}:[0-9]{2}",
            "[+-][0-9]{4}(?:[0-9]{2})?",
            "[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?",
        )[count - 1]
        return f"Z|{offset}" if letter == "X" else offset
    if letter in _UNSUPPORTED:
        raise refuse(f"({_UNSUPPORTED[letter]}) is not supported; supported: {SUPPORTED}")
    raise refuse(f"is not a pattern letter; quote text to match it as is ('{letter}'); supported: {SUPPORTED}")


@functools.cache
def _zone_ids() -> str:
    """Every zone id (longest first, as Java reads the longest one), or an offset, for ``VV``."""
    ids = sorted(zoneinfo.available_timezones(), key=len, reverse=True)
    return "|".join([*map(re.escape, ids), "(?:(?:UTC|GMT|UT)[+-][0-9]{1,2}|[+-][0-9]{2})(?::?[0-9]{2})?", "Z"])


def _check_complete(pattern: str, letters: set[str]) -> None:
    """Refuse a pattern that cannot name a moment on its own."""
    if "h" in letters and "a" not in letters:
        raise DatePatternError(
            f'pattern letter "h" (clock hour 1-12) needs a (AM/PM) in {pattern!r}; for 0-23 use H', letter="h"
        )
    if "a" in letters and not letters & {"h", "H"}:
        raise DatePatternError(f'pattern letter "a" (AM/PM) needs an hour h in {pattern!r}', letter="a")
    if not letters & {"y", "u"}:
        raise DatePatternError(f"{pattern!r} has no year: add yyyy (or uuuu)", letter="y")
    if "d" in letters and "M" not in letters:
        raise DatePatternError(f'pattern letter "d" (day of month) needs a month M in {pattern!r}', letter="d")


def _resolve(fields: tuple[_Field, ...], texts: tuple[str | None, ...]) -> dt.datetime:
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
            put("month", int(text) if count <= 2 else (_SHORT_MONTHS if count == 3 else _LONG_MONTHS)[upper])
        elif letter == "E":
            put("weekday", (_LONG_DAYS if count == 4 else _SHORT_DAYS)[text.upper()])
        elif letter == "a":
            put("pm", int(text.upper() == "PM"))
        elif letter == "S":
            put("microsecond", int(text[:6].ljust(6, "0")))  # beyond microseconds: cut, as Python keeps µs
        elif letter == "z":
            hours, minutes = _ABBREVIATIONS[text.upper()]
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
