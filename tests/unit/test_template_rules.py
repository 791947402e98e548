"""SPEC §14 rules of query templates: lookups, forbidden tags, where a variable may stand."""

from __future__ import annotations

import contextlib
import time

import pytest
import sqlalchemy as sa

from ingestion.source.query_template import TemplateError, check_template, render
from ingestion.source.sql_lexer import GENERIC, MYSQL, POSTGRESQL, SQLITE, Kind, regions

pytestmark = pytest.mark.unit

ATTRIBUTE_WALK = "{{x.__init__.__globals__.chevron.renderer.path.os.environ.CONNECTOR_SECRET_KEY}}"


def _refused(template: str, *, dialect: str = POSTGRESQL, values: dict[str, object] | None = None) -> str:
    with pytest.raises(TemplateError) as caught:
        render(template, values if values is not None else {"x": 1, "y": 2}, dialect=dialect)
    entry = caught.value.invalid[0]
    assert entry.entry == "$.query"
    return entry.rules[0].description


@pytest.mark.parametrize(
    "template",
    [
        f"SELECT $q${ATTRIBUTE_WALK}$q$ AS k",
        "SELECT {{x.__class__}}",
        "{{#x.__init__.__globals__.os.sys.modules.shutil.rmtree}}/tmp{{/x.__init__.__globals__.os.sys.modules.shutil.rmtree}}",
        "SELECT {{params.x.__class__}}",
        "SELECT {{last_record.x}}",
        "SELECT {{last_record.0.real}}",
        "SELECT {{.}}",
        "SELECT {{max_primary_key.bit_length}}",
    ],
)
def test_lookups_beyond_the_allowed_variables_are_refused(template: str) -> None:
    assert "is not allowed" in _refused(template)


def test_attribute_names_are_refused_before_any_value_exists() -> None:
    with pytest.raises(TemplateError):
        check_template(f"SELECT {ATTRIBUTE_WALK}", dialect=POSTGRESQL, entry="$.ingest.query")


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("SELECT '{{> /etc/passwd}}'", "partials"),
        ("{{=<% %>=}}SELECT <% x %>", "delimiter"),
    ],
)
def test_partials_and_delimiter_changes_are_refused(template: str, words: str) -> None:
    assert words in _refused(template)


def test_values_are_never_looked_up_as_attributes() -> None:
    class Loud:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"attribute {name} was looked up")

    out = render("SELECT {{x}}, {{params.x}}", {"x": Loud(), "params": {"x": 1}})
    assert out.sql == "SELECT :p0, :p1"


def test_sections_are_conditions_not_loops() -> None:
    out = render("{{#last_record}}WHERE id > {{last_record.0}}{{/last_record}}", {"last_record": [5, 6, 7]})
    assert (out.sql, out.params) == ("WHERE id > :p0", {"p0": 5})
    assert render("{{#ids}}x{{/ids}}{{^ids}}none{{/ids}}", {"ids": []}).sql == "none"


@pytest.mark.parametrize(
    ("template", "dialect", "place"),
    [
        ("SELECT 1 /* by {{x}} */", POSTGRESQL, "comment"),
        ("SELECT 1 /* /* nested */ {{x}} */", POSTGRESQL, "comment"),
        ("SELECT 1 -- {{x}}\n", POSTGRESQL, "comment"),
        ("SELECT 1 # {{x}}\n", MYSQL, "comment"),
        ("SELECT 1 /* by {{x}} */", MYSQL, "comment"),
        ('SELECT "{{x}}" FROM t', POSTGRESQL, "identifier"),
        ("SELECT `{{x}}` FROM t", MYSQL, "identifier"),
        ("SELECT [{{x}}] FROM t", SQLITE, "identifier"),
        ("SELECT $q${{x}}$q$", POSTGRESQL, "dollar"),
        ("SELECT $${{x}}$$", GENERIC, "dollar"),
        ("SELECT E'{{x}}'", POSTGRESQL, "prefixed"),
        ("SELECT _utf8mb4'{{x}}'", MYSQL, "prefixed"),
        ("SELECT N'{{x}}'", GENERIC, "prefixed"),
        ('SELECT "{{x}}"', MYSQL, "double-quoted"),
    ],
)
def test_a_variable_outside_code_or_a_plain_literal_is_refused(template: str, dialect: str, place: str) -> None:
    assert place in _refused(template, dialect=dialect)


@pytest.mark.parametrize(
    "template",
    ["SELECT x{{x}}", "SELECT {{x}}{{y}}", "SELECT 'a'{{x}}", "SELECT {{x}}'a'", "SELECT a-{{x}}", "SELECT @{{x}}"],
)
def test_a_variable_glued_to_a_name_a_literal_or_a_value_is_refused(template: str) -> None:
    for dialect in (POSTGRESQL, MYSQL, SQLITE, GENERIC):
        assert "glued" in _refused(template, dialect=dialect)


@pytest.mark.parametrize("dialect", [MYSQL, GENERIC])
@pytest.mark.parametrize(
    "template",
    [
        "SELECT 'it\\'s' AS a, {{x}} AS b",  # MySQL reads \' as a quote; NO_BACKSLASH_ESCAPES does not
        "SELECT '\\\\' AS a, {{x}} AS b",
        "SELECT /*!50000 'x */ {{x}} AS b",
        "SELECT {{x}} AS b, 'unterminated",
    ],
)
def test_quoting_a_client_side_driver_could_read_two_ways_is_refused(template: str, dialect: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {"x": 1}, dialect=dialect)


def test_backslashes_are_fine_without_variables_or_where_the_server_binds() -> None:
    assert render("SELECT 'a\\b'", {}, dialect=MYSQL).sql == "SELECT 'a\\b'"
    out = render("SELECT 'a\\b' AS a, {{x}} AS b", {"x": 1}, dialect=POSTGRESQL)
    assert out.sql == "SELECT 'a\\b' AS a, :p0 AS b"


def test_placements_that_are_one_value() -> None:
    out = render(
        "SELECT * FROM t WHERE a > {{x}}::int AND b LIKE '%{{y}}%' AND c = - {{x}} AND d IN ({{x}}, {{y}})",
        {"x": 1, "y": "z"},
        dialect=POSTGRESQL,
    )
    assert out.sql == "SELECT * FROM t WHERE a > (:p0)::int AND b LIKE :p1 AND c = - :p2 AND d IN (:p3, :p4)"
    assert out.params == {"p0": 1, "p1": "%z%", "p2": 1, "p3": 1, "p4": "z"}


def test_colons_in_the_users_own_text_are_not_parameters(tmp_path) -> None:
    out = render("SELECT ':abc' AS a, '10:30' AS b, {{x}} AS c", {"x": 7}, dialect=SQLITE)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.connect() as conn:
        row = conn.execute(sa.text(out.sql), out.params).one()
    engine.dispose()
    assert tuple(row) == (":abc", "10:30", 7)


def test_definition_time_check_sees_both_states_of_sections() -> None:
    template = "SELECT 1 {{#x}}/*{{/x}} {{y}} {{#x}}*/{{/x}}"
    with pytest.raises(TemplateError):
        check_template(template, dialect=POSTGRESQL, entry="$.ingest.query")
    check_template("SELECT * FROM t {{#x}}WHERE id > {{x}}{{/x}} {{params.q}}", dialect=MYSQL, entry="$")


def test_lexer_regions_cover_the_text_in_order() -> None:
    text = "SELECT 'a''b', E'\\'', \"i\", $t$ x $t$ -- c\n/* /* n */ */ x"
    found = regions(text, POSTGRESQL)
    assert "".join(text[r.start : r.end] for r in found) == text
    kinds = [r.kind for r in found if r.kind != Kind.CODE]
    assert kinds == [Kind.LITERAL, Kind.LITERAL, Kind.IDENTIFIER, Kind.DOLLAR, Kind.COMMENT, Kind.COMMENT]


@pytest.mark.parametrize("dialect", [POSTGRESQL, MYSQL, SQLITE, GENERIC])
@pytest.mark.parametrize(
    "text",
    [
        "SELECT " + "'" * 64_000 + " {{x}}",
        "SELECT " + "'a" * 64_000 + " {{x}}",
        "SELECT " + "/*" * 60_000 + " {{x}}",
        "SELECT " + "{{x}} " * 40_000,
        "SELECT " + "$a" * 60_000,
        "SELECT " + "E" * 60_000 + "'{{x}}'",
    ],
)
def test_parsing_is_linear_on_hostile_templates(text: str, dialect: str) -> None:
    """The quadratic quoted-literal regex took 24 s on 64,000 quotes; a linear pass takes milliseconds."""
    started = time.perf_counter()
    with contextlib.suppress(TemplateError):
        render(text, {"x": 1}, dialect=dialect)
    assert time.perf_counter() - started < 2.0
