"""SPEC §14: on MySQL/MariaDB, PyMySQL writes values into the SQL text; prove no value leaves its literal.

Each example renders a template with the service's renderer, runs it through
the service's own read-only session and cursor on the real MariaDB, under
several ``sql_mode`` settings (backslash escapes on and off, ANSI quotes), and
checks that the result has exactly the columns and row the template shapes
and that the value came back as itself. A value that escaped its literal
would change the columns, the rows or the value, or fail the statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.datasource import ConnectionTarget
from ingestion.source.query_template import TemplateError, render
from ingestion.source.sql_lexer import MYSQL
from ingestion.source.sql_source import create_sql_engine, read_only_session, stream_query

pytestmark = pytest.mark.integration

SQL_MODES = ["", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES,PIPES_AS_CONCAT"]

# Where a value may stand, and what column `a` then holds.
SHAPES: dict[str, str] = {
    "bare": "SELECT {{v}} AS a, 'k' AS b",
    "quoted": "SELECT '%{{v}}%' AS a, 'k' AS b",
    "twice": "SELECT {{v}} AS a, 'k' AS b FROM DUAL WHERE {{v}} IS NULL OR 1 = 1",
    "commented": "SELECT {{v}} AS a, -- a comment with ' and \" and */\n 'k' AS b /* ' */",
    "hash": "SELECT {{v}} AS a, # ' unbalanced\n 'k' AS b",
    "in_list": "SELECT {{v}} AS a, 'k' AS b FROM DUAL WHERE 'k' IN ({{v}}, 'k')",
}

_nasty = st.sampled_from(
    ["'", "''", "\\", "\\'", '"', "`", "*/", "/*", "--", "-- ", "#", "\n", "\r", "\x00", "\x1a", "%", ";"]
)
texts = st.lists(st.one_of(_nasty, st.text(st.characters(exclude_categories=("Cs",)), max_size=4)), max_size=8).map(
    "".join
)
values = st.one_of(
    texts,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.none(),
    st.dates(min_value=dt.date(1000, 1, 1)),
)


@pytest.fixture(scope="module")
def engine(mysql_server_url: str) -> Iterator[sa.Engine]:
    url = sa.make_url(mysql_server_url)
    built = create_sql_engine(ConnectionTarget(url, {"charset": "utf8mb4"}, "UTC"), connect_timeout_s=10)
    yield built
    built.dispose()


def _expected(shape: str, value: Any) -> Any:
    if shape == "quoted":
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return None if value is None else f"%{text}%"
    return value


def _same(got: Any, wanted: Any) -> bool:
    if wanted is None or got is None:
        return got is wanted
    if isinstance(wanted, bool):
        return int(got) == int(wanted)
    if isinstance(wanted, float):
        return float(got) == wanted
    if isinstance(wanted, int | Decimal):
        return Decimal(str(got)) == Decimal(str(wanted))
    if isinstance(wanted, dt.date):
        return str(got) == wanted.isoformat()
    return got == wanted


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values, shape=st.sampled_from(sorted(SHAPES)), mode=st.sampled_from(SQL_MODES))
def test_no_value_leaves_its_literal_on_mariadb(engine: sa.Engine, value: Any, shape: str, mode: str) -> None:
    try:
        out = render(SHAPES[shape], {"v": value}, dialect=MYSQL)
    except TemplateError as ex:  # only the quoted shape may refuse nothing; the others never refuse
        raise AssertionError(f"{shape} was refused: {ex.reason}") from None
    with read_only_session(engine) as conn:
        conn.exec_driver_sql(f"SET SESSION sql_mode = '{mode}'")
        result = stream_query(conn, out.sql, out.params)
        columns = list(result.keys())
        rows = [tuple(row) for row in result.fetchall()]
    assert columns == ["a", "b"]
    assert len(rows) == 1
    got, constant = rows[0]
    assert constant == "k"
    assert _same(got, _expected(shape, value)), (got, value)


def test_the_comment_injection_of_the_report_is_refused() -> None:
    """`... /* by {{who}} */` let `*/ UNION SELECT ... /*` out of its literal; now it cannot be written."""
    with pytest.raises(TemplateError) as caught:
        render("SELECT id FROM t /* by {{who}} */", {"who": "*/ UNION SELECT secret FROM s /*"}, dialect=MYSQL)
    assert "comment" in caught.value.reason
