from __future__ import annotations

import pytest
import sqlalchemy as sa

from ingestion.source.query_template import TemplateError, render, variables_used

pytestmark = pytest.mark.unit

HOSTILE = "1; DROP TABLE t; --' OR '1'='1"


def test_section_drops_out_when_absent() -> None:
    out = render("SELECT * FROM t{{#max_primary_key}} WHERE id > {{max_primary_key}}{{/max_primary_key}}", {})
    assert (out.sql, out.params) == ("SELECT * FROM t", {})


def test_variable_is_bound_not_spliced() -> None:
    out = render("SELECT * FROM t WHERE id > {{max_primary_key}}", {"max_primary_key": 41})
    assert out.sql == "SELECT * FROM t WHERE id > :p0"
    assert out.params == {"p0": 41}


def test_zero_keeps_its_section() -> None:
    out = render("{{#k}}WHERE id > {{k}}{{/k}}", {"k": 0})
    assert out.sql == "WHERE id > :p0"


def test_quoted_variable_is_bound_too() -> None:
    out = render("SELECT * FROM t WHERE name = '{{name}}'", {"name": HOSTILE})
    assert out.sql == "SELECT * FROM t WHERE name = :p0"
    assert out.params == {"p0": HOSTILE}


def test_variable_inside_a_literal_binds_the_whole_literal() -> None:
    out = render("SELECT * FROM t WHERE name LIKE '%{{q}}%' AND note = 'it''s'", {"q": HOSTILE})
    assert out.sql == "SELECT * FROM t WHERE name LIKE :p0 AND note = 'it''s'"
    assert out.params == {"p0": f"%{HOSTILE}%"}


def test_list_and_nested_values() -> None:
    out = render(
        "WHERE (ts, id) > ({{last_record.0}}, {{last_record.1}}) AND c = {{params.country}}",
        {"last_record": ["2024-01-01", 7], "params": {"country": "IE"}},
    )
    assert out.sql == "WHERE (ts, id) > (:p0, :p1) AND c = :p2"
    assert list(out.params.values()) == ["2024-01-01", 7, "IE"]


def test_null_value_is_bound_as_null_and_hides_sections() -> None:
    out = render("x = {{v}} {{#v}}hidden{{/v}}{{^v}}shown{{/v}}", {"v": None})
    assert out.sql == "x = :p0 shown"
    assert out.params == {"p0": None}


def test_missing_bare_variable_is_an_error() -> None:
    with pytest.raises(TemplateError) as caught:
        render("SELECT * FROM t WHERE id > {{max_primary_key}}", {})
    assert "{{max_primary_key}} has no value" in caught.value.reason
    assert caught.value.invalid[0].entry == "$.query"


@pytest.mark.parametrize("template", ["SELECT {{#open}}", "SELECT {{}}", "SELECT {{a}", "{{#a}}{{/b}}", "{{/a}}"])
def test_syntax_error(template: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, {})
    assert "invalid Mustache template" in caught.value.reason
    with pytest.raises(TemplateError):
        variables_used(template)


def test_variables_used() -> None:
    assert variables_used("{{#a}}{{a}} {{params.c}}{{/a}} {{^d}}{{/d}}") == {"a", "params", "d"}


def test_hostile_value_cannot_change_the_sql_in_a_real_database(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER, name TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        for template in ("SELECT * FROM t WHERE name = '{{x}}'", "SELECT * FROM t WHERE name = {{x}}"):
            out = render(template, {"x": "a' OR '1'='1"})
            assert conn.execute(sa.text(out.sql), out.params).fetchall() == []
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    engine.dispose()
