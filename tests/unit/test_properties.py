"""Property tests (Hypothesis): JDBC URLs, job-log dates, Quartz schedules, Mustache binding, date transform."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.cron import Schedule
from connector.date_pattern import compile_pattern
from connector.errors import InvalidDefinition
from connector.ingestion_def import Transform
from connector.jdbc_sqlserver import MSSQL_PROPS as _MSSQL_PROPS
from connector.jdbc_url import _MY_PROPS, _PG_PROPS, JdbcUrlError, translate
from connector.job_query import parse_time
from ingestion.sink.transforms import TransformError, _date, compile_transforms, iso_rearrangement
from ingestion.source.query_template import TemplateError, render

pytestmark = pytest.mark.unit

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MS = dt.timedelta(milliseconds=1)


def epoch_ms(moment: dt.datetime) -> int:
    """Exact milliseconds since the epoch (floor), without float arithmetic."""
    return (moment - EPOCH) // MS


# ---------------------------------------------------------------- JDBC URLs

_LABEL = r"[a-z0-9]([a-z0-9-]{0,15}[a-z0-9])?"
hosts = st.from_regex(rf"{_LABEL}(\.{_LABEL}){{0,3}}", fullmatch=True)
ports = st.integers(min_value=1, max_value=65535)
# Any text a database name, user or password can hold (lone surrogates cannot be encoded).
texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)


@dataclass(frozen=True)
class Kind:
    prefix: str
    driver: str
    default_port: int
    properties: dict[str, Any]


KINDS = [
    Kind("jdbc:postgresql:", "postgresql+psycopg", 5432, _PG_PROPS),
    Kind("jdbc:mysql:", "mysql+pymysql", 3306, _MY_PROPS),
    Kind("jdbc:mariadb:", "mysql+pymysql", 3306, _MY_PROPS),
]


@given(
    kind=st.sampled_from(KINDS),
    host=hosts,
    port=st.none() | ports,
    database=texts,
    user=texts,
    password=texts,
    in_query=st.booleans(),
)
def test_jdbc_url_components_round_trip(
    kind: Kind, host: str, port: int | None, database: str, user: str, password: str, in_query: bool
) -> None:
    authority = host if port is None else f"{host}:{port}"
    url = f"{kind.prefix}//{authority}/{quote(database, safe='')}"
    properties: dict[str, Any] = {}
    if in_query:
        url += f"?user={quote(user, safe='')}&password={quote(password, safe='')}"
    else:
        properties = {"user": user, "password": password}
    out = translate(url, properties)
    assert out.url.drivername == kind.driver
    assert (out.url.host, out.url.port, out.url.database) == (host, port or kind.default_port, database)
    assert (out.username, out.password) == (user, password)
    assert out.url.username is None and out.url.password is None  # credentials never ride in the URL


@given(
    host=hosts,
    port=st.none() | ports,
    database=texts.filter(lambda s: ";" not in s and "=" not in s),
    user=texts.filter(lambda s: ";" not in s),
    password=texts.filter(lambda s: ";" not in s),
)
def test_sqlserver_url_components_round_trip(
    host: str, port: int | None, database: str, user: str, password: str
) -> None:
    authority = host if port is None else f"{host}:{port}"
    out = translate(f"jdbc:sqlserver://{authority};databaseName={database};user={user};password={password}")
    assert out.url.drivername == "mssql+pymssql"
    assert (out.url.host, out.url.port, out.url.database) == (host, port or 1433, database)
    assert (out.username, out.password) == (user, password)


@given(path=st.from_regex(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,3}", fullmatch=True))
def test_sqlite_path_round_trip(path: str) -> None:
    out = translate(f"jdbc:sqlite:{quote(path)}")
    assert (out.url.drivername, out.url.database) == ("sqlite", path)


# Properties that name the server rather than configure the driver.
_MSSQL_SERVER = {**_MSSQL_PROPS, **dict.fromkeys(("databaseName", "serverName", "instanceName", "portNumber", "port"))}


def _unknown(table: dict[str, Any]) -> st.SearchStrategy[str]:
    known = {name.lower() for name in table}
    return st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True).filter(lambda n: n.lower() not in known)


@given(data=st.data(), kind=st.sampled_from(["postgresql", "mysql", "mariadb", "sqlserver", "sqlite"]))
def test_unknown_jdbc_properties_are_always_refused(data: st.DataObject, kind: str) -> None:
    table = {"postgresql": _PG_PROPS, "mysql": _MY_PROPS, "mariadb": _MY_PROPS, "sqlserver": _MSSQL_SERVER}.get(
        kind, {}
    )
    name = data.draw(_unknown(table), label="property")
    value = data.draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=10) | st.integers(), label="value")
    url = {"sqlite": "jdbc:sqlite:/tmp/x.db", "sqlserver": "jdbc:sqlserver://h;databaseName=db"}.get(
        kind, f"jdbc:{kind}://h/db"
    )
    in_url = kind != "sqlite" and data.draw(st.booleans(), label="in the URL")
    with pytest.raises(JdbcUrlError) as refused:
        if in_url and kind == "sqlserver":
            translate(f"{url};{name}={str(value).replace(';', '')}")
        elif in_url:
            translate(f"{url}?{quote(name)}={quote(str(value), safe='')}")
        else:
            translate(url, {name: value})
    assert name in str(refused.value) or kind == "sqlite"


# ---------------------------------------------------------------- job-log dates (connector/job_query.py)


def parse(value: str | int, *, end_of_day: bool = False) -> int:
    return parse_time(value, entry="start_time_from", end_of_day=end_of_day)


EPOCH_MS_RANGE = (-62135596800000, 253402300799999)  # years 1 to 9999


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_epoch_ms_is_the_identity_within_the_years_1_to_9999(value: int) -> None:
    if EPOCH_MS_RANGE[0] <= value <= EPOCH_MS_RANGE[1]:
        assert parse(value) == value
    else:
        with pytest.raises(InvalidDefinition):
            parse(value)


@given(st.integers(min_value=10**8, max_value=10**15) | st.integers(min_value=-(10**15), max_value=-(10**8)))
def test_epoch_ms_text_is_the_identity(value: int) -> None:
    if not EPOCH_MS_RANGE[0] <= value <= EPOCH_MS_RANGE[1]:
        return
    assert parse(str(value)) == value
    assert parse(f" {value} ") == value


aware = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.timezones()
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@given(aware)
def test_iso_8601_round_trips(moment: dt.datetime) -> None:
    assert parse(moment.isoformat()) == epoch_ms(moment)
    assert parse(moment.isoformat(timespec="milliseconds")) == epoch_ms(moment)


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)))
def test_iso_8601_without_zone_is_utc(moment: dt.datetime) -> None:
    assert parse(moment.isoformat()) == epoch_ms(moment.replace(tzinfo=dt.UTC))


@given(st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(9999, 12, 30)))
def test_compact_date_is_the_whole_day(day: dt.date) -> None:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    compact = day.strftime("%Y%m%d")
    assert parse(compact) == epoch_ms(midnight)
    assert parse(compact, end_of_day=True) == epoch_ms(midnight + dt.timedelta(days=1)) - 1
    assert parse(day.isoformat(), end_of_day=True) == parse(compact, end_of_day=True)


@given(st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)), st.booleans())
def test_compact_date_time(moment: dt.datetime, with_seconds: bool) -> None:
    moment = moment.replace(microsecond=0, second=moment.second if with_seconds else 0)
    compact = moment.strftime("%Y%m%dT%H%M%S" if with_seconds else "%Y%m%dT%H%M")
    assert parse(compact) == epoch_ms(moment.replace(tzinfo=dt.UTC))
    assert parse(compact, end_of_day=True) == parse(compact)  # a time is not a whole day


# Characters no accepted date format contains: epoch digits, ISO 8601 (- : T . , + Z W and a space).
_NOT_IN_DATES = st.characters(exclude_categories=("Cs",)).filter(lambda c: not re.match(r"[\d\-:Tt.,+Zz W\s]", c))


@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=40))
def test_any_text_is_a_date_or_invalid_definition(text: str) -> None:
    try:
        parse(text)
    except InvalidDefinition as ex:
        assert ex.invalid[0].entry == "start_time_from"


@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=20), _NOT_IN_DATES, st.text(max_size=20))
def test_garbage_is_invalid_definition(before: str, bad: str, after: str) -> None:
    with pytest.raises(InvalidDefinition):
        parse(f"{before}{bad}{after}".strip() or bad)


@given(st.integers(min_value=0, max_value=9999), st.integers(min_value=0, max_value=99), st.integers(0, 99))
def test_impossible_compact_dates_are_invalid_definition(year: int, month: int, day: int) -> None:
    try:
        valid = dt.date(year, month, day)
    except ValueError:
        valid = None
    compact = f"{year:04d}{month:02d}{day:02d}"
    if valid is None:
        with pytest.raises(InvalidDefinition):
            parse(compact)
    else:
        assert parse(compact) == epoch_ms(dt.datetime(year, month, day, tzinfo=dt.UTC))


# ---------------------------------------------------------------- Quartz schedules (connector/cron.py)

Matcher = Callable[[dt.datetime], bool]


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]


def _field(low: int, high: int, *, cycle_high: int | None = None) -> st.SearchStrategy[Field]:
    """A cron field naming values in ``low..high`` and the values it allows (``*`` and ``/`` run to ``cycle_high``)."""
    top = cycle_high or high
    every = st.just(Field("*", frozenset(range(low, top + 1))))
    single = st.integers(low, high).map(lambda v: Field(str(v), frozenset({v})))
    listed = st.sets(st.integers(low, high), min_size=1, max_size=4).map(
        lambda vs: Field(",".join(map(str, sorted(vs))), frozenset(vs))
    )
    ranged = (
        st.tuples(st.integers(low, high), st.integers(low, high))
        .map(sorted)
        .map(lambda ab: Field(f"{ab[0]}-{ab[1]}", frozenset(range(ab[0], ab[1] + 1))))
    )
    stepped = st.tuples(st.integers(low, high), st.integers(1, max(1, high - low))).map(
        lambda sn: Field(f"{sn[0]}/{sn[1]}", frozenset(range(sn[0], top + 1, sn[1])))
    )
    return st.one_of(every, single, listed, ranged, stepped)


def _last_day(moment: dt.datetime) -> int:
    return calendar.monthrange(moment.year, moment.month)[1]


def _quartz_dow(moment: dt.datetime) -> int:
    return (moment.weekday() + 1) % 7 + 1  # Sunday 1 .. Saturday 7


@st.composite
def day_fields(draw: st.DrawFn) -> tuple[str, str, Matcher]:
    """Day-of-month and day-of-week fields (one of them ``?``) and what they allow."""
    kind = draw(st.sampled_from(["dom", "L", "LW", "L-n", "dow", "nL", "n#k"]))
    if kind == "dom":
        days = draw(_field(1, 28, cycle_high=31))  # days that every month has, so that it fires
        return days.text, "?", lambda m: m.day in days.values
    if kind == "L":
        return "L", "?", lambda m: m.day == _last_day(m)
    if kind == "LW":

        def last_weekday(m: dt.datetime) -> bool:
            last = _last_day(m)
            weekdays = [d for d in range(last - 6, last + 1) if calendar.weekday(m.year, m.month, d) < 5]
            return m.day == weekdays[-1]

        return "LW", "?", last_weekday
    if kind == "L-n":
        offset = draw(st.integers(0, 27))
        return f"L-{offset}", "?", lambda m: m.day == _last_day(m) - offset
    if kind == "dow":
        days = draw(_field(1, 7))
        return "?", days.text, lambda m: _quartz_dow(m) in days.values
    weekday = draw(st.integers(1, 7))
    if kind == "nL":
        return "?", f"{weekday}L", lambda m: _quartz_dow(m) == weekday and m.day + 7 > _last_day(m)
    nth = draw(st.integers(1, 4))
    return "?", f"{weekday}#{nth}", lambda m: _quartz_dow(m) == weekday and (m.day - 1) // 7 + 1 == nth


@dataclass(frozen=True)
class Quartz:
    """A generated Quartz expression and, independently, what it allows."""

    expression: str
    second: Field
    minute: Field
    hour: Field
    month: Field
    day_matches: Matcher

    def matches(self, local: dt.datetime) -> bool:
        return (
            local.second in self.second.values
            and local.minute in self.minute.values
            and local.hour in self.hour.values
            and self.fires_on(local)
        )

    def fires_on(self, day: dt.datetime) -> bool:
        return day.month in self.month.values and self.day_matches(day)

    def first_fire_after(self, start: dt.datetime) -> dt.datetime:
        """Brute force, day by day, in ``start``'s zone (one without DST)."""
        times = list(itertools.product(*(sorted(f.values) for f in (self.hour, self.minute, self.second))))
        for offset in range(400):
            day = dt.datetime.combine(start.date() + dt.timedelta(days=offset), dt.time(), tzinfo=start.tzinfo)
            if self.fires_on(day):
                for hour, minute, second in times:
                    fire = day.replace(hour=hour, minute=minute, second=second)
                    if fire > start:
                        return fire
        raise AssertionError(f"{self.expression} does not fire within 400 days")


@st.composite
def quartz(draw: st.DrawFn) -> Quartz:
    second, minute, hour = draw(_field(0, 59)), draw(_field(0, 59)), draw(_field(0, 23))
    month = draw(_field(1, 12))
    dom, dow, day_matches = draw(day_fields())
    expression = f"{second.text} {minute.text} {hour.text} {dom} {month.text} {dow}"
    return Quartz(expression, second, minute, hour, month, day_matches)


def _skipped_wall_time(fire: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """The wall time a DST gap skipped that ``fire`` stands for, if any.

    Like Quartz (Java's lenient calendar), a fire time that does not exist
    (02:30 on the day clocks jump from 02:00 to 03:00) fires as the gap moves it.
    """
    local = fire.astimezone(zone)
    before = (fire - dt.timedelta(hours=6)).astimezone(zone)
    gap = (local.utcoffset() or dt.timedelta(0)) - (before.utcoffset() or dt.timedelta(0))
    if gap <= dt.timedelta(0):
        return None
    wall = local.replace(tzinfo=None) - gap
    exists = wall.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == wall
    return None if exists else wall


ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"]
starts = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.just(dt.UTC))


@settings(max_examples=200, deadline=None)
@given(schedule=quartz(), zone=st.sampled_from(ZONES), start=starts)
def test_quartz_fire_times_increase_and_match_the_schedule(schedule: Quartz, zone: str, start: dt.datetime) -> None:
    parsed = Schedule.parse(schedule.expression, timezone=zone)
    moment = start
    fires: list[dt.datetime] = []
    for _ in range(5):
        fire = parsed.next_after(moment)
        assert fire is not None and fire > moment
        local = fire.astimezone(zoneinfo.ZoneInfo(zone))
        skipped = _skipped_wall_time(fire, zoneinfo.ZoneInfo(zone))
        assert schedule.matches(local) or (skipped is not None and schedule.matches(skipped)), local.isoformat()
        fires.append(fire)
        moment = fire
    assert fires == sorted(set(fires))


@settings(max_examples=200, deadline=None)
@given(schedule=quartz(), zone=st.sampled_from(["UTC", "Asia/Kolkata"]), start=starts)
def test_quartz_next_fire_is_the_first_one(schedule: Quartz, zone: str, start: dt.datetime) -> None:
    """No fire time is skipped: next_after equals a day-by-day search (in zones without DST)."""
    local = start.astimezone(zoneinfo.ZoneInfo(zone))
    fire = Schedule.parse(schedule.expression, timezone=zone).next_after(start)
    assert fire == schedule.first_fire_after(local)


# ---------------------------------------------------------------- Mustache binding (ingestion/source/query_template.py)

NAMES = ["a", "b", "max_primary_key", "last_record_timestamp"]
# SQL text around the tags: no quote, colon, brace or control character.
sql_text = st.text(st.sampled_from("SELECT *FROMWHEREid<>=,()0123456789 \n\tandorlike%"), max_size=12)
# Values that could change the SQL if spliced: each holds a character the template text never does.
hostile = st.builds(
    lambda left, bad, right: f"{left}{bad}{right}",
    st.text(max_size=8),
    st.sampled_from(["'", ";", "--", "{{a}}", "\x1fB0\x1f", ":p0", "\\", "€"]),
    st.text(max_size=8),
)
scalars = hostile | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()


@st.composite
def template_parts(draw: st.DrawFn, *, depth: int = 0) -> list[tuple[str, Any]]:
    parts: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["text", "var", "quoted"] + (["section"] if depth == 0 else [])))
        if kind == "text":
            parts.append(("text", draw(sql_text)))
        elif kind == "var":
            parts.append(("var", draw(st.sampled_from(NAMES))))
        elif kind == "quoted":
            parts.append(("quoted", draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))))
        else:
            parts.append(("section", (draw(st.sampled_from(NAMES)), draw(template_parts(depth=1)))))
    return parts


def _source(parts: list[tuple[str, Any]]) -> str:
    out = []
    for kind, value in parts:
        if kind == "text":
            out.append(value)
        elif kind == "var":
            out.append(f" {{{{{value}}}}} ")
        elif kind == "quoted":
            out.append(" '%" + "-".join(f"{{{{{n}}}}}" for n in value) + "%' ")
        else:
            name, inner = value
            out.append(f"{{{{#{name}}}}}{_source(inner)}{{{{/{name}}}}}")
    return "".join(out)


def _as_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _expected_params(parts: list[tuple[str, Any]], values: dict[str, Any]) -> list[Any]:
    """Bare tags bind their value; a quoted literal binds one string (NULL if a value in it is null)."""
    params: list[Any] = []
    for kind, value in parts:
        if kind == "var":
            params.append(values[value])
        elif kind == "quoted":
            inside = [values[n] for n in value]
            params.append(None if None in inside else "%" + "-".join(map(_as_text, inside)) + "%")
        elif kind == "section":
            name, inner = value
            if values[name] is not None and values[name] is not False:
                params.extend(_expected_params(inner, values))
    return params


@given(parts=template_parts(), values=st.fixed_dictionaries({n: scalars for n in NAMES}))
def test_values_are_bound_never_spliced(parts: list[tuple[str, Any]], values: dict[str, Any]) -> None:
    template = _source(parts)
    out = render(template, values)
    outside_placeholders = re.sub(r":p\d+", "\x00", out.sql)  # a value ":p0" is not the placeholder :p0
    for value in values.values():
        if isinstance(value, str):
            assert value not in outside_placeholders
    assert "\x1f" not in out.sql
    placeholders = re.findall(r":(p\d+)", out.sql)
    expected = _expected_params(parts, values)
    assert len(out.params) == len(placeholders) == len(expected)
    assert sorted(placeholders) == sorted(out.params)  # each bound parameter used exactly once
    assert [out.params[name] for name in placeholders] == expected


# Pieces of Mustache and of the renderer's own markers (U+001F B<n> U+001F), shuffled into any order.
_PIECES = [
    "{{a}}", "{{#a}}", "{{/a}}", "{{^b}}", "{{/b}}", "{{", "}}", "{{{a}}}", "{{> p}}", "{{=| |=}}", "{{a.b}}",
    "'", "''", '"', "`", "[", "]", "$$", "$q$", "E'", "/*", "*/", "--", "#", "\n", "\\", "::", ":x",
    "\x1f", "B", "M", "0", "7", ":p0", " ",
]  # fmt: skip
any_template = st.lists(st.sampled_from(_PIECES) | st.text(max_size=5), max_size=12).map("".join)


@given(
    any_template,
    st.dictionaries(st.sampled_from(NAMES), scalars),
    st.sampled_from(["postgresql", "mysql", "sqlite", "generic"]),
)
def test_any_template_renders_or_is_refused_as_invalid(template: str, values: dict[str, Any], dialect: str) -> None:
    try:
        out = render(template, values, dialect=dialect)
    except TemplateError as ex:
        assert ex.invalid[0].entry == "$.query"
        return
    assert "\x1f" not in out.sql
    for value in values.values():
        if isinstance(value, str) and value not in template:
            assert value not in out.sql


# ---------------------------------------------------------------- date transform

_ISO_PATTERNS = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"]


def _date_text(moment: dt.datetime, pattern: str) -> str:
    """``moment`` written in ``pattern`` (strftime does not pad years before 1000)."""
    day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    clock = f"{moment.hour:02d}:{moment.minute:02d}"
    return {
        _ISO_PATTERNS[0]: f"{day} {clock}:{moment.second:02d}",
        _ISO_PATTERNS[1]: f"{day}T{clock}:{moment.second:02d}",
        _ISO_PATTERNS[2]: f"{day} {clock}",
        _ISO_PATTERNS[3]: day,
    }[pattern]


_near_iso = st.one_of(
    st.builds(_date_text, st.datetimes(), st.sampled_from(_ISO_PATTERNS)),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?", fullmatch=True),
    st.text(alphabet="0123456789-: T\uff12", min_size=8, max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(pattern=st.sampled_from(_ISO_PATTERNS), text=_near_iso)
def test_iso_fast_path_is_the_general_date_transform(pattern: str, text: str) -> None:
    """The UTC fast paths for ISO-shaped patterns give what the Java pattern parser gives, or the same error."""
    transform = Transform.model_validate(
        {"input": [{"source": "t"}], "output": "when", "transform": "date", "params": {"format": pattern}}
    )
    (fast,) = compile_transforms([transform], timezone="UTC")
    try:
        expected: Any = _date("when", text, compile_pattern(pattern).parse, None)
    except TransformError as ex:
        expected = ex.reason
    try:
        got: Any = fast.apply({"t": text})
    except TransformError as ex:
        got = ex.reason
    assert got == expected
    rearrangement = iso_rearrangement(transform, "UTC")
    assert rearrangement is not None
    if rearrangement.check([text]):  # then what PostgreSQL writes (sql_json) is the transform's output
        assert text[:10] + "T" + text[11:] + rearrangement.tail == expected
