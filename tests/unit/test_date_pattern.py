"""Java DateTimeFormatter patterns of the date transform: what each letter reads, and what is refused.

The expected values of the first table are what Java 17 itself parses (``DateTimeFormatter.ofPattern(p,
Locale.ENGLISH)``), except where a comment says how this service differs on purpose.
What the second table refuses, Java refuses too.
"""

from __future__ import annotations

import pytest

from connector.date_pattern import DatePatternError, check_format, compile_pattern

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # 12-hour clock: 12 AM is midnight, 12 PM noon
        ("hh:mm a yyyy-MM-dd", "12:05 AM 2024-07-01", "2024-07-01T00:05:00"),
        ("hh:mm a yyyy-MM-dd", "12:05 PM 2024-07-01", "2024-07-01T12:05:00"),
        ("h:mm a yyyy-MM-dd", "9:05 PM 2024-07-01", "2024-07-01T21:05:00"),
        ("hh:mm a, EEEE d MMMM yyyy", "02:05 PM, Monday 1 July 2024", "2024-07-01T14:05:00"),
        ("hh:mm a, EEEE d MMMM yyyy", "02:05 pm, monday 1 JULY 2024", "2024-07-01T14:05:00"),  # Java: case matters
        ("yyyy-MM-dd HH:mm a", "2024-07-01 14:00 PM", "2024-07-01T14:00:00"),  # a beside H is checked
        # day of year
        ("yyyy-DDD", "2024-366", "2024-12-31T00:00:00"),
        ("yyyy-D", "2024-32", "2024-02-01T00:00:00"),
        ("yyyy-DD", "2024-032", "2024-02-01T00:00:00"),
        ("yyyy-MM-dd DDD", "2024-02-01 032", "2024-02-01T00:00:00"),
        # fractions: exactly as many digits as letters; beyond microseconds, cut
        ("yyyyMMddHHmmss.SSSSSSSSS", "20240701140000.123456789", "2024-07-01T14:00:00.123456"),
        ("yyyy-MM-dd HH:mm:ss.S", "2024-07-14 09:30:15.2", "2024-07-14T09:30:15.200000"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "2024-07-14 09:30:15.250", "2024-07-14T09:30:15.250000"),
        ("yyyy-MM-dd HH:mm:ss.SSSSSS", "2024-07-14 09:30:15.000001", "2024-07-14T09:30:15.000001"),
        # offsets
        ("dd/MM/yyyy HH:mm X", "01/07/2024 14:00 +0530", "2024-07-01T14:00:00+05:30"),
        ("dd/MM/yyyy HH:mm X", "01/07/2024 14:00 +05", "2024-07-01T14:00:00+05:00"),
        ("dd/MM/yyyy HH:mm X", "01/07/2024 14:00 Z", "2024-07-01T14:00:00+00:00"),
        ("dd/MM/yyyy HH:mm XX", "01/07/2024 14:00 -0330", "2024-07-01T14:00:00-03:30"),
        ("dd/MM/yyyy HH:mm XXX", "01/07/2024 14:00 -03:30", "2024-07-01T14:00:00-03:30"),
        ("dd/MM/yyyy HH:mm Z", "01/07/2024 14:00 +0200", "2024-07-01T14:00:00+02:00"),
        ("yyyy-MM-dd HH:mm:ss xxx", "2024-07-01 14:00:00 +00:00", "2024-07-01T14:00:00+00:00"),
        ("yyyy-MM-dd HH:mm:ss ZZZZZ", "2024-07-01 14:00:00 Z", "2024-07-01T14:00:00+00:00"),
        ("EEE, dd MMM yyyy HH:mm:ss Z", "Mon, 01 Jul 2024 14:00:00 +0200", "2024-07-01T14:00:00+02:00"),
        # every offset letter reads every spelling of an offset, as strptime's %z did (Java: each its own)
        ("dd/MM/yyyy HH:mm Z", "01/07/2024 14:00 Z", "2024-07-01T14:00:00+00:00"),
        ("dd/MM/yyyy HH:mm Z", "01/07/2024 14:00 +02:00", "2024-07-01T14:00:00+02:00"),
        ("yyyy-MM-dd HH:mm:ssX", "2024-07-01 14:00:00+01", "2024-07-01T14:00:00+01:00"),
        ("yyyy-MM-dd HH:mm:ssXXX", "2024-07-01 14:00:00-0330", "2024-07-01T14:00:00-03:30"),
        ("yyyy-MM-dd HH:mm:ss xxx", "2024-07-01 14:00:00 Z", "2024-07-01T14:00:00+00:00"),
        # zone abbreviations: the offset each names (Java reads a zone's rules instead: EST in July is -04:00
        # there, IST is Africa/Abidjan and BST Pacific/Bougainville; Java prints IST for India, BST for London)
        ("yyyy-MM-dd HH:mm:ss z", "2024-07-01 14:00:00 CEST", "2024-07-01T14:00:00+02:00"),
        ("yyyy-MM-dd HH:mm:ss z", "2024-07-01 14:00:00 PDT", "2024-07-01T14:00:00-07:00"),
        ("yyyy-MM-dd HH:mm:ss z", "2024-01-01 14:00:00 CST", "2024-01-01T14:00:00-06:00"),
        ("yyyy-MM-dd HH:mm:ss z", "2024-07-01 14:00:00 EST", "2024-07-01T14:00:00-05:00"),
        ("yyyy-MM-dd HH:mm:ss z", "2024-01-01 14:00:00 IST", "2024-01-01T14:00:00+05:30"),
        ("yyyy-MM-dd HH:mm:ss z", "2024-07-01 14:00:00 BST", "2024-07-01T14:00:00+01:00"),
        ("yyyy-MM-dd HH:mm:ss z", "2024-07-01 14:00:00 UTC", "2024-07-01T14:00:00+00:00"),
        ("yyyy-MM-dd HH:mm:ss zzz", "2024-07-01 14:00:00 gmt", "2024-07-01T14:00:00+00:00"),
        # zone ids: a skipped wall time moves forward, a repeated one is the earlier unless an offset says
        ("yyyy-MM-dd HH:mm:ss VV", "2024-03-31 02:30:00 Europe/Paris", "2024-03-31T03:30:00+02:00"),
        ("yyyy-MM-dd HH:mm:ss VV", "2024-10-27 02:30:00 Europe/Paris", "2024-10-27T02:30:00+02:00"),
        ("yyyy-MM-dd HH:mm:ssXXX VV", "2024-10-27 02:30:00+01:00 Europe/Paris", "2024-10-27T02:30:00+01:00"),
        ("yyyy-MM-dd HH:mm VV", "2024-07-01 14:00 America/Argentina/Buenos_Aires", "2024-07-01T14:00:00-03:00"),
        ("yyyy-MM-dd HH:mm VV", "2024-07-01 14:00 Z", "2024-07-01T14:00:00+00:00"),
        ("yyyy-MM-dd HH:mm VV", "2024-07-01 14:00 +02:00", "2024-07-01T14:00:00+02:00"),
        ("VV yyyy-MM-dd HH:mm", "Etc/GMT+5 2024-07-01 14:00", "2024-07-01T14:00:00-05:00"),
        # where no other number touches them, fixed widths also read fewer digits (Java's lenient mode; strict
        # Java refuses these): what strptime read here before
        ("yyyy-MM-dd HH:mm:ss", "2024-1-5 3:04:05", "2024-01-05T03:04:05"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "2024-07-14 09:30:15.25", "2024-07-14T09:30:15.250000"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "2024-07-14 09:30:15.123456789", "2024-07-14T09:30:15.123456"),
        ("yyyy-DDD", "2024-32", "2024-02-01T00:00:00"),
        ("hh:mm a yyyy-MM-dd", "9:05 pm 2024-07-01", "2024-07-01T21:05:00"),
        # numbers: one letter reads any width, two exactly two next to another number; yy is 2000-2099
        ("yy-M-d", "24-7-1", "2024-07-01T00:00:00"),
        ("d/M/yyyy", "1/012/2024", "2024-12-01T00:00:00"),
        ("yyyyMMdd", "20240701", "2024-07-01T00:00:00"),
        ("uuuu-MM-dd", "2024-07-01", "2024-07-01T00:00:00"),
        ("yyyy-MM", "2024-02", "2024-02-01T00:00:00"),  # Java has no day; Elasticsearch's default: the 1st
        ("yyyy MMM dd", "2024 Sept 01", "2024-09-01T00:00:00"),  # Sep, or Sept as in British English
        # quoted text
        ("yyyy-MM-dd'T'HH:mm:ss", "2024-07-01T14:00:00", "2024-07-01T14:00:00"),
        ("dd 'de' MMMM 'de' yyyy", "01 de July de 2024", "2024-07-01T00:00:00"),
        ("yyyy-MM-dd HH 'o''clock'", "2024-07-01 14 o'clock", "2024-07-01T14:00:00"),
        ("''yyyy", "'2024", "2024-01-01T00:00:00"),
    ],
)
def test_parse(pattern: str, text: str, expected: str) -> None:
    assert compile_pattern(pattern).parse(text).isoformat() == expected


@pytest.mark.parametrize(
    ("pattern", "text", "why"),
    [
        ("yyyy-DDD", "2023-366", "day of year 366 out of range 1-365"),
        ("EEE, dd MMM yyyy HH:mm:ss Z", "Tue, 01 Jul 2024 14:00:00 +0200", "2024-07-01 is a Monday, not a Tuesday"),
        ("yyyy-MM-dd HH:mm a", "2024-07-01 14:00 AM", "hour 14 is not AM"),
        ("hh:mm a yyyy-MM-dd", "13:05 PM 2024-07-01", "clock hour 13 out of range 1-12"),
        ("hh:mm a yyyy-MM-dd", "00:05 AM 2024-07-01", "clock hour 0 out of range 1-12"),
        ("yyyyMMdd", "2024071", "does not match the pattern 'yyyyMMdd'"),  # digits touch: exact widths
        ("yyyy-MM-dd HHmm", "2024-07-14 930", "does not match"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "2024-07-14 09:30:15.1234567890", "does not match"),
        ("yyyy-MM-dd", "2024-007-01", "does not match"),
        ("dd/MM/yyyy HH:mm Z", "01/07/2024 14:00 +2", "does not match"),
        ("dd/MM/yyyy HH:mm Z", "01/07/2024 14:00 UTC", "does not match"),
        ("yyyy-MM-dd HH:mm:ss z", "2024-07-01 14:00:00 XYZ", "does not match"),
        ("yyyy-MM-dd HH:mm VV", "2024-07-01 14:00 Europe/Atlantis", "does not match"),
        ("yyyy-MM-dd HH:mm X", "2024-07-01 14:00 +1900", "offset hours 19 out of range 0-18"),
        ("yyyy-MM-dd", "2024-02-30", "day is out of range for month"),
        ("yyyy-MM-dd HH:mm", "2024-02-03 24:00", "hour must be in 0..23"),
        ("yyyy-DDD MM", "2024-032 03", "day of year 32 is 2024-02-01, not month 3"),
        ("yyyy-M-d yyyy", "2024-1-1 2025", "year given twice with different values"),
        ("yyyy", "12345", "year 12345 is out of range"),
        ("yyyy-MM-dd", "\uff12\uff10\uff12\uff14-07-01", "does not match"),  # digits are ASCII digits
    ],
)
def test_values_that_do_not_parse(pattern: str, text: str, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        compile_pattern(pattern).parse(text)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "letter", "why"),
    [
        ("YYYY-MM-dd", "Y", 'pattern letter "Y" (week-based year; for the calendar year use y) is not supported'),
        ("yyyy-MM-dd kk:mm", "k", "clock hour 1-24; use H (0-23)"),
        ("yyyy-MM-dd KK:mm a", "K", "hour 0-11; use h (1-12) with a"),
        ("yyyy-MM-dd hh:mm", "h", 'pattern letter "h" (clock hour 1-12) needs a (AM/PM)'),
        ("yyyy-MM-dd HH:mm aa", "a", 'pattern letter "a" cannot be written 2 times (aa)'),
        ("yyyy-MM-dd a", "a", 'pattern letter "a" (AM/PM) needs an hour h'),
        ("yyyy-MM-dd HH:mm zzzz", "z", "(full zone name, zzzz) is not supported"),
        ("yyyy-MM-dd HH:mm V", "V", 'pattern letter "V" cannot be written 1 times (V)'),
        ("yyyy-MM-dd HH:mm ZZZZ", "Z", "(localized offset, ZZZZ) is not supported"),
        ("yyyy-MM-dd HH:mm O", "O", "localized offset such as GMT+2"),
        ("yyyy-MM-dd HH:mm XXXXXX", "X", "cannot be written 6 times"),
        ("yyyy-MMMMM-dd", "M", "cannot be written 5 times"),
        ("yyyy-MM-ddd", "d", "cannot be written 3 times"),
        ("yyyy-DDDD", "D", "cannot be written 4 times"),
        ("yyyy EEEEE", "E", "cannot be written 5 times"),
        ("yyyy-MM-dd HH:mm:ss.SSSSSSSSSS", "S", "cannot be written 10 times"),
        ("yyyy-MM-dd HHH", "H", "cannot be written 3 times"),
        ("yyyy-MM-dd at HH", "t", 'pattern letter "t" is not a pattern letter; quote text'),
        ("yyyy-ww", "w", "week of year"),
        ("yyyy-MM-dd[ HH:mm]", "[", "optional sections [...] are not supported"),
        ("yyyy-MM-dd #", "#", "'#' is not supported"),
        ("MM-dd HH:mm", "y", "has no year: add yyyy"),
        ("yyyy-dd", "d", 'pattern letter "d" (day of month) needs a month M'),
        ("yyyy-MM-dd 'T", None, "unterminated quote"),
    ],
)
def test_refused_patterns_name_the_letter(pattern: str, letter: str | None, why: str) -> None:
    with pytest.raises(DatePatternError) as caught:
        check_format(pattern)
    assert caught.value.letter == letter
    assert why in caught.value.reason


@pytest.mark.parametrize(
    ("date_format", "letter"),
    [("%Y-%m-%d %Q", "%Q"), ("%Y-%m-%d %", "%"), ("%Y-%m-%d %:z", "%:")],
)
def test_strptime_directives_are_checked(date_format: str, letter: str) -> None:
    with pytest.raises(DatePatternError) as caught:
        check_format(date_format)
    assert caught.value.letter == letter


@pytest.mark.parametrize("date_format", ["%Y-%m-%d", "%d/%m/%Y %H:%M:%S.%f%z", "100%% %Y", "%A %j %p %I %b %B %y"])
def test_strptime_formats_pass(date_format: str) -> None:
    check_format(date_format)


def test_tokens_spell_the_pattern_canonically() -> None:
    assert compile_pattern("uuuu-MM-dd'T'HH:mm").tokens == ("yyyy", "'-", "MM", "'-", "dd", "'T", "HH", "':", "mm")
    assert compile_pattern("yyyy'-'MM").tokens == ("yyyy", "'-", "MM")
