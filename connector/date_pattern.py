"""Own the Java ``DateTimeFormatter`` patterns of the ``date`` transform: check them, parse text with them.

A pattern is compiled once into one regular expression and the fields it
reads; :meth:`DatePattern.parse` then gives a datetime, aware when the text
has an offset or a zone. The letters follow Java's meaning exactly (in
English, as ``Locale.ENGLISH``). Widths are Java's where digits touch
(``yyyyMMdd``); elsewhere ``MM`` or ``SSS`` also read fewer digits, as Java's
lenient mode does (and strptime did here before). Offsets are read in any
spelling, text (month and day names, AM/PM, zone abbreviations) in any case. Letters outside
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
from collections.abc import Iterator
from dataclasses import dataclass

from connector.date_fields import (
    ABBREVIATIONS,
    LONG_DAYS,
    LONG_MONTHS,
    SHORT_DAYS,
    SHORT_MONTHS,
    Field,
    Reader,
    reader,
)

SUPPORTED = "y u M d D H h a m s S E z VV Z X x"  # and quoted text 'T', '' for a quote

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
class DatePattern:
    """A compiled Java pattern.

    ``tokens`` spells it canonically: letter runs (``u`` as ``y``), and each literal text, quotes
    removed, after one ``'`` (``yyyy-MM-dd'T'HH`` is ``yyyy``, ``'-``, ``MM``, ``'-``, ``dd``, ``'T``, ``HH``).
    """

    pattern: str
    tokens: tuple[str, ...]
    regex: re.Pattern[str]
    fields: tuple[Field, ...]
    read: Reader

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
    fields: list[Field] = []
    lexed = list(_lex(pattern))
    for at, (kind, text) in enumerate(lexed):
        if kind == "literal":
            parts.append(re.escape(text))
            if tokens and tokens[-1].startswith("'"):
                tokens[-1] += text
            else:
                tokens.append("'" + text)
            continue
        letter, count = text[0], len(text)
        alone = not any(_is_number(*neighbour) for neighbour in (lexed[at - 1 : at], lexed[at + 1 : at + 2]))
        parts.append(f"({_letter_regex(letter, count, alone=alone)})")
        fields.append(Field(letter, count))
        tokens.append(text.replace("u", "y"))  # the same years for this service (no era, years 1-9999)
    _check_complete(pattern, {f.letter for f in fields})
    regex = re.compile("".join(parts), re.ASCII)
    return DatePattern(pattern, tuple(tokens), regex, tuple(fields), reader(fields))


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


# Every offset letter reads every spelling of an offset (Z, +02, +0200, +02:00, seconds too), as
# strptime's %z did here before: Java would want XXX's +02:00 and Z's +0200 exactly, but a text
# names the same offset either way, and databases print +01 (PostgreSQL) as often as +01:00.
_ANY_OFFSET = "Z|[+-][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2})?)?"


def _is_number(*lexed: tuple[str, str]) -> bool:
    """Whether a lexed part (none when there is none) is a field of digits."""
    return bool(lexed) and lexed[0][0] == "letters" and _DIGITS.match(lexed[0][1]) is not None


_DIGITS = re.compile(r"^(?:[yudDHhmsS]+|M{1,2})$")


def _names(names: dict[str, int]) -> str:
    return "(?i:" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + ")"


def _letter_regex(letter: str, count: int, *, alone: bool) -> str:
    """The regular expression of ``count`` times ``letter``; DatePatternError if Java's meaning is not read.

    ``alone``: no field of digits is next to this one. Fixed widths (``MM``, ``SSS``) then also read
    fewer digits, as Java's lenient parsing (and strptime before it) did: ``yyyy-MM-dd HH:mm:ss``
    reads ``2024-1-5 3:04:05``. Next to another number (``yyyyMMdd``) the widths split the digits.
    """

    def refuse(why: str) -> DatePatternError:
        return DatePatternError(f'pattern letter "{letter}" {why}', letter=letter)

    def widths(*allowed: int) -> None:
        if count not in allowed:
            raise refuse(f"cannot be written {count} times ({letter * count})")

    if letter in "yu":
        return "[0-9]{2}" if count == 2 else f"[0-9]{{{count},}}"
    if letter in "dHhms" or (letter == "M" and count <= 2):
        widths(1, 2)
        return "[0-9]+" if count == 1 else "[0-9]{1,2}" if alone else "[0-9]{2}"
    if letter == "M":
        widths(3, 4)
        return _names(SHORT_MONTHS if count == 3 else LONG_MONTHS)
    if letter == "D":
        widths(1, 2, 3)
        return "[0-9]+" if count == 1 else "[0-9]{1,3}" if alone else ("[0-9]{2,3}", "[0-9]{3}")[count - 2]
    if letter == "a":
        widths(1)
        return "(?i:AM|PM)"
    if letter == "E":
        widths(1, 2, 3, 4)
        return _names(LONG_DAYS if count == 4 else SHORT_DAYS)
    if letter == "S":
        widths(*range(1, 10))
        return "[0-9]{1,9}" if alone else f"[0-9]{{{count}}}"
    if letter == "z":
        if count == 4:
            raise refuse("(full zone name, zzzz) is not supported; use z (CET, PST), VV (Europe/Paris) or XXX")
        widths(1, 2, 3)
        return _names(dict.fromkeys(ABBREVIATIONS, 0))
    if letter == "V":
        widths(2)
        return _zone_ids()
    if letter == "Z":
        if count == 4:
            raise refuse("(localized offset, ZZZZ) is not supported; use ZZZZZ or XXX (+02:00), or Z (+0200)")
        widths(1, 2, 3, 5)
        return _ANY_OFFSET
    if letter in "Xx":
        widths(1, 2, 3, 4, 5)
        return _ANY_OFFSET
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
