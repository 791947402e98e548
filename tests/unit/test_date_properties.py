"""Property test of the date transform's Java patterns, against Java itself (Hypothesis).

For a random moment, zone and supported pattern, java.time formats the moment (``tests/java/FormatDates.java``,
run once per module as a source-file program) and the ``date`` transform parses the text: it must give
the moment back, to the precision the pattern keeps. Without a Java runtime the test is skipped.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import subprocess
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.ingestion_def import Transform
from ingestion.sink.transforms import compile_transforms

pytestmark = pytest.mark.unit

FORMATTER = Path(__file__).resolve().parent.parent / "java" / "FormatDates.java"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Zones with whole-minute offsets since 1970, DST or not, odd offsets included (+05:45, +12:45/+13:45).
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "America/St_Johns",
    "Pacific/Chatham",
    "America/Argentina/Buenos_Aires",
]
# Zones whose abbreviation (as Java prints it) names their offset at every moment of 2000-2099.
ABBREVIATED_ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Athens",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Halifax",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Pacific/Auckland",
    "Africa/Johannesburg",
]


class JavaFormatter:
    """A running ``FormatDates.java``: one line in, one line out."""

    def __init__(self, java: str) -> None:
        self.process = subprocess.Popen(
            [java, str(FORMATTER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )

    def format(self, pattern: str, moment: dt.datetime, zone: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        since = moment - EPOCH
        seconds, micros = since.days * 86_400 + since.seconds, since.microseconds
        self.process.stdin.write(f"{pattern}\t{seconds}\t{micros * 1000}\t{zone}\n")
        self.process.stdin.flush()
        text = self.process.stdout.readline().rstrip("\n")
        assert not text.startswith("!"), f"Java refused {pattern!r}: {text[1:]}"
        return text

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture(scope="module")
def java() -> Iterator[JavaFormatter]:
    found = shutil.which("java")
    if found is None:
        pytest.skip("needs a Java runtime (11 or later) as the independent formatter")
    formatter = JavaFormatter(found)
    yield formatter
    formatter.close()


@dataclass(frozen=True)
class Generated:
    """A pattern and what it keeps of a moment."""

    pattern: str
    time: bool  # hours and minutes
    seconds: bool
    fraction: int  # digits of the second's fraction
    zone: str  # "", "offset", "abbreviation" or "id"
    two_digit_year: bool


@st.composite
def patterns(draw: st.DrawFn) -> Generated:
    """A supported Java pattern: a date (y M d, or y D), maybe a day name, a time and an offset or zone."""
    year = draw(st.sampled_from(["yyyy", "uuuu", "y", "yy"]))
    if draw(st.booleans()):
        month = draw(st.sampled_from(["MM", "M", "MMM", "MMMM"]))
        day = draw(st.sampled_from(["dd", "d"]))
        order = draw(st.sampled_from([[year, month, day], [day, month, year], [month, day, year]]))
    else:
        order = draw(st.sampled_from([[year, "DDD"], [year, "D"], ["DDD", year]]))
    pattern = order[0]
    for previous, token in itertools.pairwise(order):
        fixed = token in ("MM", "dd", "DDD", "yy") and previous not in ("M", "d", "D", "MMM", "MMMM")
        pattern += draw(st.sampled_from(["-", "/", ".", " ", ", ", *([""] if fixed else [])])) + token
    if draw(st.booleans()):
        pattern = draw(st.sampled_from(["EEE, ", "EEEE ", "E "])) + pattern
    time = draw(st.booleans())
    seconds, fraction = False, 0
    if time:
        hour = draw(st.sampled_from(["HH", "H", "hh", "h"]))
        clock = hour + ":" + draw(st.sampled_from(["mm", "m"]))
        seconds = draw(st.booleans())
        if seconds:
            clock += ":" + draw(st.sampled_from(["ss", "s"]))
            if draw(st.booleans()):
                fraction = draw(st.integers(1, 9))
                clock += draw(st.sampled_from([".", ","])) + "S" * fraction
        if hour.startswith("h") or draw(st.booleans()):
            clock += draw(st.sampled_from([" a", "a"]))
        pattern += draw(st.sampled_from([" ", "'T'", " 'at' "])) + clock
    zone_kind = draw(st.sampled_from(["", "offset", "abbreviation", "id"]))
    if zone_kind == "offset":
        pattern += draw(st.sampled_from(["", " "])) + draw(
            st.sampled_from(["X", "XX", "XXX", "XXXX", "XXXXX", "x", "xx", "xxx", "Z", "ZZ", "ZZZ", "ZZZZZ"])
        )
    elif zone_kind == "abbreviation":
        pattern += " " + draw(st.sampled_from(["z", "zz", "zzz"]))
    elif zone_kind == "id":
        pattern += draw(st.sampled_from([" VV", " '['VV']'"]))
    return Generated(pattern, time, seconds, fraction, zone_kind, year == "yy")


@st.composite
def cases(draw: st.DrawFn) -> tuple[Generated, dt.datetime, str]:
    generated = draw(patterns())
    zone = draw(st.sampled_from(ABBREVIATED_ZONES if generated.zone == "abbreviation" else ZONES))
    low = 2000 if generated.two_digit_year or generated.zone == "abbreviation" else 1970
    moment = draw(
        st.datetimes(min_value=dt.datetime(low, 1, 2), max_value=dt.datetime(2099, 12, 30), timezones=st.just(dt.UTC))
    )
    return generated, moment, zone


def kept(wall: dt.datetime, generated: Generated) -> dt.datetime:
    """``wall`` to the precision of the pattern."""
    if not generated.time:
        return wall.replace(hour=0, minute=0, second=0, microsecond=0)
    if not generated.seconds:
        return wall.replace(second=0, microsecond=0)
    digits = min(generated.fraction, 6)
    return wall.replace(microsecond=wall.microsecond - wall.microsecond % 10 ** (6 - digits))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_java_formatted_dates_parse_back(java: JavaFormatter, case: tuple[Generated, dt.datetime, str]) -> None:
    generated, moment, zone_id = case
    zone = zoneinfo.ZoneInfo(zone_id)
    local = moment.astimezone(zone)
    text = java.format(generated.pattern, moment, zone_id)
    transform = Transform.model_validate(
        {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": generated.pattern}}
    )
    (compiled,) = compile_transforms([transform], timezone="UTC")
    parsed = dt.datetime.fromisoformat(compiled.apply({"t": text}))
    wall = kept(local.replace(tzinfo=None), generated)
    if not generated.zone:  # read in the datasource's time zone, UTC here
        assert (parsed.replace(tzinfo=None), parsed.utcoffset()) == (wall, dt.timedelta(0)), (generated.pattern, text)
        return
    if generated.zone == "id":
        # The zone's offset at the wall time kept (midnight may be on the other side of a DST change); a
        # repeated wall time is the earlier pass, a skipped one moves forward (Java's ZonedDateTime.ofLocal).
        expected = wall.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone)
        assert (parsed.replace(tzinfo=None), parsed.utcoffset()) == (
            expected.replace(tzinfo=None),
            expected.utcoffset(),
        )
        return
    assert parsed.replace(tzinfo=None) == wall, (generated.pattern, text)
    assert parsed.utcoffset() == local.utcoffset(), (generated.pattern, text)  # the offset the text names
