from __future__ import annotations

import datetime as dt

import pytest

from connector.cron import CronError, Schedule

pytestmark = pytest.mark.unit


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def fire_times(schedule: Schedule, start: dt.datetime, count: int) -> list[dt.datetime | None]:
    """The next ``count`` fire times after ``start``; stops after the first None."""
    out: list[dt.datetime | None] = []
    moment: dt.datetime | None = start
    while len(out) < count and moment is not None:
        moment = schedule.next_after(moment)
        out.append(moment)
    return out


# 2024-06-01 is a Saturday; June 2024 has 30 days and ends on a Sunday.
JUNE_2024 = utc(2024, 6, 1)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # seconds first
        ("30 15 10 * * ?", [utc(2024, 6, 1, 10, 15, 30), utc(2024, 6, 2, 10, 15, 30)]),
        ("0 */15 * * * ?", [utc(2024, 6, 1, 0, 15), utc(2024, 6, 1, 0, 30), utc(2024, 6, 1, 0, 45)]),
        ("*/20 * * * * ?", [utc(2024, 6, 1, 0, 0, 20), utc(2024, 6, 1, 0, 0, 40), utc(2024, 6, 1, 0, 1, 0)]),
        # day of week 1-7 = SUN-SAT
        ("0 0 12 ? * 1", [utc(2024, 6, 2, 12), utc(2024, 6, 9, 12)]),
        ("0 0 12 ? * 7", [utc(2024, 6, 1, 12), utc(2024, 6, 8, 12)]),
        ("0 0 12 ? * 1,7", [utc(2024, 6, 1, 12), utc(2024, 6, 2, 12), utc(2024, 6, 8, 12)]),
        ("0 0 12 ? * 2-6", [utc(2024, 6, 3, 12), utc(2024, 6, 4, 12), utc(2024, 6, 5, 12)]),
        ("0 0 12 ? * MON-FRI", [utc(2024, 6, 3, 12), utc(2024, 6, 4, 12), utc(2024, 6, 5, 12)]),
        ("0 0 12 ? * 5-7", [utc(2024, 6, 1, 12), utc(2024, 6, 6, 12), utc(2024, 6, 7, 12), utc(2024, 6, 8, 12)]),
        # steps in day of week: */2 and 1/2 are 1,3,5,7 = SUN, TUE, THU, SAT
        ("0 0 12 ? * */2", [utc(2024, 6, 1, 12), utc(2024, 6, 2, 12), utc(2024, 6, 4, 12), utc(2024, 6, 6, 12)]),
        ("0 0 12 ? * 1/2", [utc(2024, 6, 1, 12), utc(2024, 6, 2, 12), utc(2024, 6, 4, 12), utc(2024, 6, 6, 12)]),
        # 2/3 is 2,5 = MON, THU; 2-6/2 is 2,4,6 = MON, WED, FRI; */3 is 1,4,7 = SUN, WED, SAT
        ("0 0 12 ? * 2/3", [utc(2024, 6, 3, 12), utc(2024, 6, 6, 12), utc(2024, 6, 10, 12)]),
        ("0 0 12 ? * 2-6/2", [utc(2024, 6, 3, 12), utc(2024, 6, 5, 12), utc(2024, 6, 7, 12), utc(2024, 6, 10, 12)]),
        ("0 0 12 ? * */3", [utc(2024, 6, 1, 12), utc(2024, 6, 2, 12), utc(2024, 6, 5, 12), utc(2024, 6, 8, 12)]),
        # nL: last weekday n of the month
        ("0 0 12 ? * 6L", [utc(2024, 6, 28, 12), utc(2024, 7, 26, 12), utc(2024, 8, 30, 12), utc(2024, 9, 27, 12)]),
        ("0 0 12 ? * 1L", [utc(2024, 6, 30, 12), utc(2024, 7, 28, 12), utc(2024, 8, 25, 12)]),
        ("0 0 12 ? * 7L", [utc(2024, 6, 29, 12), utc(2024, 7, 27, 12), utc(2024, 8, 31, 12)]),
        # #: nth weekday of the month
        ("0 0 12 ? * 2#1", [utc(2024, 6, 3, 12), utc(2024, 7, 1, 12), utc(2024, 8, 5, 12)]),
        ("0 0 12 ? * SUN#2", [utc(2024, 6, 9, 12), utc(2024, 7, 14, 12)]),
        ("0 0 12 ? * 6#5", [utc(2024, 8, 30, 12), utc(2024, 11, 29, 12), utc(2025, 1, 31, 12)]),
        ("0 0 12 ? JAN,JUL MON#1", [utc(2024, 7, 1, 12), utc(2025, 1, 6, 12)]),
        ("0 0 12 ? * 1#1,7L", [utc(2024, 6, 2, 12), utc(2024, 6, 29, 12), utc(2024, 7, 7, 12), utc(2024, 7, 27, 12)]),
        # L, LW, L-n, nW in the day of month
        ("0 0 12 L * ?", [utc(2024, 6, 30, 12), utc(2024, 7, 31, 12), utc(2024, 8, 31, 12)]),
        ("0 0 12 LW * ?", [utc(2024, 6, 28, 12), utc(2024, 7, 31, 12), utc(2024, 8, 30, 12), utc(2024, 9, 30, 12)]),
        ("0 0 12 WL * ?", [utc(2024, 6, 28, 12), utc(2024, 7, 31, 12)]),
        ("0 0 12 L-2 * ?", [utc(2024, 6, 28, 12), utc(2024, 7, 29, 12), utc(2024, 8, 29, 12), utc(2024, 9, 28, 12)]),
        ("0 0 12 15W * ?", [utc(2024, 6, 14, 12), utc(2024, 7, 15, 12), utc(2024, 8, 15, 12), utc(2024, 9, 16, 12)]),
        ("0 0 12 1W * ?", [utc(2024, 6, 3, 12), utc(2024, 7, 1, 12), utc(2024, 8, 1, 12), utc(2024, 9, 2, 12)]),
        # year field
        ("0 0 12 1 1 ? 2025", [utc(2025, 1, 1, 12), None]),
        ("0 0 12 1 1 ? 2026-2027", [utc(2026, 1, 1, 12), utc(2027, 1, 1, 12), None]),
        ("0 0 12 LW * ? 2024", [utc(2024, 6, 28, 12), utc(2024, 7, 31, 12)]),
        # classic 5-field cron: 0-6 = SUN-SAT, 7 = SUN, no translation
        ("30 9 * * 1-5", [utc(2024, 6, 3, 9, 30), utc(2024, 6, 4, 9, 30)]),
        ("30 9 * * 7", [utc(2024, 6, 2, 9, 30), utc(2024, 6, 9, 9, 30)]),
        ("*/20 * * * *", [utc(2024, 6, 1, 0, 20), utc(2024, 6, 1, 0, 40), utc(2024, 6, 1, 1, 0)]),
        ("0 0 L * *", [utc(2024, 6, 30), utc(2024, 7, 31)]),
    ],
)
def test_fire_times(expression: str, expected: list[dt.datetime | None]) -> None:
    schedule = Schedule.parse(expression)
    assert fire_times(schedule, JUNE_2024, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "translated", "shift"),
    [
        ("0 0 12 ? * 6L", "0 0 12 * * L5", None),
        ("0 0 12 ? * 1L", "0 0 12 * * L0", None),
        ("0 0 12 ? * 2#3", "0 0 12 * * 1#3", None),
        ("0 0 12 ? * 1,7", "0 0 12 * * 0,6", None),
        ("0 0 12 ? * 2-6", "0 0 12 * * 1-5", None),
        ("0 0 12 ? * */2", "0 0 12 * * */2", None),
        ("0 0 12 ? * 1/2", "0 0 12 * * 0/2", None),
        ("0 0 12 ? * 2-6/2", "0 0 12 * * 1-5/2", None),
        ("0 0 12 ? * MON-FRI", "0 0 12 * * MON-FRI", None),
        ("0 0 12 LW * ?", "0 0 12 L * *", "LW"),
        ("0 0 12 L-3 * ?", "0 0 12 L * *", "L-3"),
        ("0 0 12 15W * ?", "0 0 12 15W * *", None),
        ("0 0 12 1 1 ? 2030", "0 0 12 1 1 * 2030", None),
        ("0 9 * * 1-5", "0 9 * * 1-5", None),
    ],
)
def test_translation(expression: str, translated: str, shift: str | None) -> None:
    schedule = Schedule.parse(expression)
    assert schedule.expression == expression
    assert schedule.croniter_expression == translated
    assert schedule.dom_shift == shift
    assert schedule.timezone == "UTC"


def test_next_after_is_strictly_after() -> None:
    schedule = Schedule.parse("0 0 12 * * ?")
    assert schedule.next_after(utc(2024, 6, 1, 12)) == utc(2024, 6, 2, 12)
    assert schedule.next_after(utc(2024, 6, 1, 11, 59, 59)) == utc(2024, 6, 1, 12)


def test_shifted_day_of_month_around_the_moment() -> None:
    # L-2 of June 2024 is the 28th; the underlying "L" (the 30th) is after it.
    schedule = Schedule.parse("0 0 12 L-2 * ?")
    assert schedule.next_after(utc(2024, 6, 28, 11)) == utc(2024, 6, 28, 12)
    assert schedule.next_after(utc(2024, 6, 28, 12)) == utc(2024, 7, 29, 12)
    assert schedule.next_after(utc(2024, 6, 29)) == utc(2024, 7, 29, 12)


def test_last_weekday_moment_between_shifted_and_last_day() -> None:
    # June 30 2024 is a Sunday: LW is Friday the 28th.
    schedule = Schedule.parse("0 0 12 LW * ?")
    assert schedule.next_after(utc(2024, 6, 29)) == utc(2024, 7, 31, 12)


def test_leap_years() -> None:
    assert Schedule.parse("0 0 12 L 2 ?").next_after(utc(2023, 3, 1)) == utc(2024, 2, 29, 12)
    assert Schedule.parse("0 0 12 L-2 * ?").next_after(utc(2024, 2, 1)) == utc(2024, 2, 27, 12)
    assert Schedule.parse("0 0 12 29 2 ?").next_after(utc(2024, 3, 1)) == utc(2028, 2, 29, 12)


def test_nearest_weekday_does_not_leave_the_month() -> None:
    # March 31 2024 is a Sunday: 31W is Friday the 29th.
    assert Schedule.parse("0 0 12 31W * ?").next_after(utc(2024, 3, 1)) == utc(2024, 3, 29, 12)


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        # Paris goes to summer time (UTC+2) on 2024-03-31
        ("0 30 9 * * ?", utc(2024, 3, 29), [utc(2024, 3, 29, 8, 30), utc(2024, 3, 30, 8, 30), utc(2024, 3, 31, 7, 30)]),
        # ... and back to winter time (UTC+1) on 2024-10-27
        ("0 30 9 * * ?", utc(2024, 10, 25, 12), [utc(2024, 10, 26, 7, 30), utc(2024, 10, 27, 8, 30)]),
        ("30 9 * * *", utc(2024, 3, 30, 12), [utc(2024, 3, 31, 7, 30), utc(2024, 4, 1, 7, 30)]),
        ("30 9 * * *", utc(2024, 10, 26, 12), [utc(2024, 10, 27, 8, 30)]),
    ],
)
def test_paris_daily_across_dst(expression: str, start: dt.datetime, expected: list[dt.datetime]) -> None:
    schedule = Schedule.parse(expression, timezone="Europe/Paris")
    assert schedule.timezone == "Europe/Paris"
    assert fire_times(schedule, start, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        # 2024-03-31 02:00 Paris jumps to 03:00: a skipped wall time fires as far after the jump
        ("0 30 2 * * ?", utc(2024, 3, 30, 12), [utc(2024, 3, 31, 1, 30), utc(2024, 4, 1, 0, 30)]),
        ("0 1 2 ? * 1L", utc(2024, 3, 20), [utc(2024, 3, 31, 1, 1)]),  # last Sunday, in the gap
        # ... 02:00, 02:20, 02:40 land on 03:00, 03:20, 03:40, which also match: each fires once
        (
            "0 0/20 2,3 * * ?",
            utc(2024, 3, 30, 23),
            [utc(2024, 3, 31, 1), utc(2024, 3, 31, 1, 20), utc(2024, 3, 31, 1, 40), utc(2024, 4, 1, 0)],
        ),
        # 2024-10-27 03:00 Paris goes back to 02:00: a repeated wall time fires once, the first time
        ("0 30 2 * * ?", utc(2024, 10, 26, 12), [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]),
        (
            "0 0/30 * * * ?",
            utc(2024, 10, 26, 23, 59),
            [utc(2024, 10, 27, 0), utc(2024, 10, 27, 0, 30), utc(2024, 10, 27, 2), utc(2024, 10, 27, 2, 30)],
        ),
    ],
)
def test_dst_gaps_and_repeats(expression: str, start: dt.datetime, expected: list[dt.datetime]) -> None:
    schedule = Schedule.parse(expression, timezone="Europe/Paris")
    assert fire_times(schedule, start, len(expected)) == expected


def test_next_after_inside_the_repeated_hour() -> None:
    # 01:15 UTC is 02:15 in the second pass of Paris's repeated hour; 02:30 already fired at 00:30 UTC.
    schedule = Schedule.parse("0 0/30 * * * ?", timezone="Europe/Paris")
    assert schedule.next_after(utc(2024, 10, 27, 1, 15)) == utc(2024, 10, 27, 2)


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        (utc(2024, 10, 27, 1, 15), utc(2024, 10, 27, 0, 30)),  # second pass of 02:xx: the first pass fired
        (utc(2024, 10, 27, 2, 10), utc(2024, 10, 27, 2)),
        (utc(2024, 3, 31, 1, 10), utc(2024, 3, 31, 1)),  # 03:10 after the jump: 02:00 fired at 03:00
    ],
)
def test_latest_between_across_dst(until: dt.datetime, expected: dt.datetime) -> None:
    schedule = Schedule.parse("0 0/30 * * * ?", timezone="Europe/Paris")
    assert schedule.latest_between(until - dt.timedelta(hours=6), until) == expected


def test_fire_times_are_utc() -> None:
    fire = Schedule.parse("0 30 9 * * ?", timezone="Europe/Paris").next_after(utc(2024, 7, 1))
    assert fire == utc(2024, 7, 1, 7, 30)
    assert fire is not None
    assert fire.utcoffset() == dt.timedelta(0)


def test_moment_in_another_offset() -> None:
    # 13:00 at UTC+5 is 08:00 UTC, before that day's noon UTC.
    moment = dt.datetime(2024, 6, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert Schedule.parse("0 0 12 * * ?").next_after(moment) == utc(2024, 6, 1, 12)


def test_weekdays_in_new_york() -> None:
    schedule = Schedule.parse("0 0 9 ? * 2-6", timezone="America/New_York")
    # Saturday June 1 2024; New York is UTC-4 in summer.
    assert fire_times(schedule, JUNE_2024, 2) == [utc(2024, 6, 3, 13), utc(2024, 6, 4, 13)]


def test_last_weekday_in_tokyo() -> None:
    # March 31 2024 is a Sunday: LW is Friday the 29th, midnight in Tokyo (UTC+9).
    schedule = Schedule.parse("0 0 0 LW * ?", timezone="Asia/Tokyo")
    assert schedule.next_after(utc(2024, 3, 1)) == utc(2024, 3, 28, 15)


@pytest.mark.parametrize(
    ("expression", "start"),
    [
        ("0 0 12 1 1 ? 2020", utc(2024, 1, 1)),
        ("0 0 12 * * ? 2024", utc(2024, 12, 31, 12)),
        ("0 0 12 LW * ? 2024", utc(2024, 12, 31, 12)),
        ("0 0 12 L-2 * ? 2024", utc(2024, 12, 29, 12)),
        ("0 0 12 30 2 ?", utc(2024, 1, 1)),
    ],
)
def test_no_fire_time_left(expression: str, start: dt.datetime) -> None:
    assert Schedule.parse(expression).next_after(start) is None


@pytest.mark.parametrize(
    ("expression", "count"),
    [("", 0), ("daily", 1), ("0 0 12 *", 4), ("1 2 3 4 5 6 7 8", 8)],
)
def test_wrong_number_of_fields(expression: str, count: int) -> None:
    with pytest.raises(CronError) as caught:
        Schedule.parse(expression)
    message = str(caught.value)
    assert message.endswith(f"got {count}")
    assert "5 fields" in message
    assert "Quartz 6-7 fields" in message


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 25 * * ?",
        "0 60 * * * ?",
        "60 0 0 * * ?",
        "0 0 12 ? 13 ?",
        "0 0 12 32 * ?",
        "0 0 12 ? * 8",
        "0 0 12 ? * 9L",
        "0 0 12 ? * 2#6",
        "0 0 12 * * ? abc",
        "a b c d e",
        "61 * * * *",
    ],
)
def test_invalid_expression(expression: str) -> None:
    with pytest.raises(CronError) as caught:
        Schedule.parse(expression)
    assert str(caught.value).startswith(f"invalid cron expression {expression!r}")


@pytest.mark.parametrize(
    ("expression", "field", "value", "reason"),
    [
        ("0 0 12 32 * ?", "day-of-month", "32", "value out of range 1-31"),
        ("0 0 12 1,15,32 * ?", "day-of-month", "1,15,32", "value 32 out of range 1-31"),
        ("0 0 12 5-40 * ?", "day-of-month", "5-40", "value 40 out of range 1-31"),
        ("60 0 0 * * ?", "second", "60", "value out of range 0-59"),
        ("0 60 * * * ?", "minute", "60", "value out of range 0-59"),
        ("0 0 24 * * ?", "hour", "24", "value out of range 0-23"),
        ("0 0 12 ? 13 ?", "month", "13", "value out of range 1-12"),
        ("0 0 12 ? JANUARY ?", "month", "JANUARY", "unknown name (use JAN-DEC or 1-12)"),
        ("0 0 12 ? * 8", "day-of-week", "8", "value out of range 1-7 (1 = SUN, 7 = SAT)"),
        # Quartz numbers days 1-7 from Sunday: a classic 0 would silently have meant Sunday
        ("0 0 12 ? * 0-4", "day-of-week", "0-4", "value 0 out of range 1-7 (1 = SUN, 7 = SAT)"),
        ("0 0 12 ? * FRY", "day-of-week", "FRY", "unknown name (use SUN-SAT or 1-7)"),
        ("0 0 12 ? * 9L", "day-of-week", "9L", "weekday 9 out of range 1-7 (1 = SUN, 7 = SAT)"),
        ("0 0 12 ? * FRIL", "day-of-week", "FRIL", "last weekday takes a number 1-7 before L"),
        ("0 0 12 ? * 2#6", "day-of-week", "2#6", "occurrence 6 out of range 1-5"),
        ("0 0 12 ? * 2#0,3", "day-of-week", "2#0,3", "occurrence 0 out of range 1-5"),
        ("0 0 12 L-31 * ?", "day-of-month", "L-31", "offset from the last day out of range 0-30"),
        ("0 0 12 L,15 * ?", "day-of-month", "L,15", '"L" stands alone, not in a list'),
        ("0 0 12 1W,15 * ?", "day-of-month", "1W,15", 'nearest weekday "1W" takes a single day, not a list'),
        ("0 0 12 32W * ?", "day-of-month", "32W", "day 32 out of range 1-31"),
        ("0 0 12 ?,1 * ?", "day-of-month", "?,1", '"?" stands alone, not in a list'),
        ("0 ? 12 * * ?", "minute", "?", '"?" is only for day-of-month or day-of-week; use "*" in the minute field'),
        ("0 */0 * * * ?", "minute", "*/0", "step 0 out of range 1-59"),
        # every 90 minutes cannot be written in cron: */90 would fire once an hour
        ("0 */90 * * * ?", "minute", "*/90", "step 90 out of range 1-59"),
        ("0 0 */x * * ?", "hour", "*/x", "step x is not a number 1-23"),
        ("0 0 12 * * ? 1969", "year", "1969", "value out of range 1970-2099"),
        ("0 0 12 * * ? abc", "year", "abc", 'not a valid value: expected 1970-2099, "*", a range a-b, a step'),
        ("1, * * * *", "minute", "1,", "empty item in the list"),
        ("a b c d e", "minute", "a", "not a valid value: expected 0-59"),
        ("0 0 * * 8", "day-of-week", "8", "value out of range 0-7"),
        ("0 0 LW * *", "day-of-month", "LW", 'not a valid value: expected 1-31, "*", a range a-b, a step */n or a/n, '),
    ],
)
def test_errors_name_the_field_its_text_and_the_rule(expression: str, field: str, value: str, reason: str) -> None:
    with pytest.raises(CronError) as caught:
        Schedule.parse(expression)
    assert str(caught.value).startswith(f'invalid cron expression {expression!r}: {field} field "{value}": {reason}')
    assert (caught.value.field, caught.value.value) == (field, value)


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 12 ? * 1#1,7L",
        "0 0 12 ? * MON-FRI",
        "0 0 12 ? * mon-fri",
        "0 0 22-2 * * ?",  # ranges wrap around, as in Quartz
        "0 0 12 LW * ?",
        "0 0 12 L-30 * ?",
        "0 0 12 ? JAN,JUL MON#1",
        "0 0 12 * * ? 2026-2027",
        "0 0 12 * * ? *",
        "0 0/59 * * * ?",
        "0 0 12 ? * L",
        "0 0 * * L5",  # classic (croniter): last Friday
        "0 0 * * 5#2",
        "0 0 * * 0,7",
        "0 0 15W * *",
        "0 0 ? * ?",
    ],
)
def test_valid_forms_pass_the_field_check(expression: str) -> None:
    assert Schedule.parse(expression).expression == expression


@pytest.mark.parametrize(
    ("expression", "warnings"),
    [
        ("0 0 3 * * ?", []),
        ("0 3 * * *", []),
        ("0 0 * * * ?", []),
        ("0 30 * * * ?", []),  # hourly at :30, written the Quartz way (with "?")
        ("0 0 3 * * *", []),  # 03:00 daily, written the Spring way
        ("0 */15 * * * ?", ["fires 4 times an hour (every 15 minutes): more often than hourly"]),
        ("*/20 * * * *", ["fires 3 times an hour (every 20 minutes): more often than hourly"]),
        ("*/30 * 9-17 * * ?", ["fires 120 times an hour (every 30 seconds): more often than hourly"]),
        ("* * * * * ?", ["fires 3600 times an hour (every second): more often than hourly"]),
        ("30 * * * * ?", ["fires 60 times an hour (every minute): more often than hourly"]),
        ("0 0,10,30 * * * ?", ["fires 3 times an hour: more often than hourly"]),
        (
            "0 3 * * * *",
            [
                "fires at minute 3 of every hour (6 fields are Quartz: second minute hour day-of-month month "
                'day-of-week); for 03:00 daily write "0 0 3 * * ?" (or the 5 fields "0 3 * * *")'
            ],
        ),
        (
            "30 8 * * * *",
            [
                "fires at minute 8, second 30, of every hour (6 fields are Quartz: second minute hour day-of-month "
                'month day-of-week); for 08:30 daily write "0 30 8 * * ?" (or the 5 fields "30 8 * * *")'
            ],
        ),
        (
            "0 3,15 * * * *",
            [
                "fires 2 times an hour: more often than hourly",
                "fires at minutes 3,15 of every hour (6 fields are Quartz: second minute hour day-of-month month "
                'day-of-week); for 03:00 and 15:00 daily write "0 0 3,15 * * ?" (or the 5 fields "0 3,15 * * *")',
            ],
        ),
        (
            "0 3 * * 1-5 *",
            [
                "fires at minute 3 of every hour of the days it allows (6 fields are Quartz: second minute hour "
                'day-of-month month day-of-week); for the 5-field reading write the 5 fields "0 3 * * 1-5" alone'
            ],
        ),
        ("0 45 * * * *", []),  # 45 cannot be an hour: read as "every hour at :45"
    ],
)
def test_warnings(expression: str, warnings: list[str]) -> None:
    assert Schedule.parse(expression).warnings() == warnings


def test_fire_times_are_in_the_schedule_zone() -> None:
    schedule = Schedule.parse("0 30 2 * * ?", timezone="Europe/Paris")
    fires = schedule.fire_times(utc(2026, 3, 27, 12), 3)
    assert [f.isoformat() for f in fires] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",  # skipped by the jump: fires after it
        "2026-03-30T02:30:00+02:00",
    ]
    assert Schedule.parse("0 0 12 1 1 ? 2027").fire_times(utc(2026, 1, 1), 5) == [utc(2027, 1, 1, 12)]
    assert Schedule.parse("0 0 12 1 1 ? 2027").fire_times(utc(2027, 1, 1, 12), 5) == []


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "", "not a zone", "../etc/passwd"])
def test_unknown_time_zone(timezone: str) -> None:
    with pytest.raises(CronError) as caught:
        Schedule.parse("0 0 12 * * ?", timezone=timezone)
    assert str(caught.value) == f"unknown time zone {timezone!r}"


def test_cron_error_is_a_value_error() -> None:
    assert issubclass(CronError, ValueError)


def test_quartz_last_alone_in_day_of_week_is_saturday() -> None:
    schedule = Schedule.parse("0 0 12 ? * L")
    assert fire_times(schedule, JUNE_2024, 2) == [utc(2024, 6, 1, 12), utc(2024, 6, 8, 12)]


@pytest.mark.parametrize("expression", ["0 0 12 L-31 * ?", "0 0 12 L-40 * ?"])
def test_last_day_offset_above_30_is_rejected(expression: str) -> None:
    with pytest.raises(CronError):
        Schedule.parse(expression)


@pytest.mark.parametrize("expression", ["0 0 12 ? * 0", "0 */90 * * * ?"])
def test_stored_schedules_parse_without_the_field_check(expression: str) -> None:
    """What the field check refuses today was accepted before: a stored schedule keeps firing as croniter reads it."""
    with pytest.raises(CronError):
        Schedule.parse(expression)
    assert Schedule.parse(expression, check_fields=False).next_after(JUNE_2024) is not None
