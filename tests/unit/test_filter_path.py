"""``filter_path`` as Elasticsearch documents and implements it, and against a regex-based model."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.filter_path import MAX_NODES, FilterPath
from connector.errors import InvalidDefinition

pytestmark = pytest.mark.unit

SEARCH = {
    "took": 3,
    "timed_out": False,
    "_shards": {"total": 1, "successful": 1, "failed": 0},
    "hits": {
        "total": 2,
        "hits": [
            {"_id": "a", "_source": {"ingestion": {"state": "successful", "count": 5}}},
            {"_id": "b", "_source": {"ingestion": {"state": "error", "count": 0, "error": ["x"]}}},
        ],
    },
}


def fp(text: str, value: Any) -> Any:
    compiled = FilterPath.parse(text)
    assert compiled is not None
    return compiled.apply(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hits.total", {"hits": {"total": 2}}),
        ("took,hits.total", {"took": 3, "hits": {"total": 2}}),
        ("hits.hits._id", {"hits": {"hits": [{"_id": "a"}, {"_id": "b"}]}}),
        ("hits.hits._source.ingestion.error", {"hits": {"hits": [{"_source": {"ingestion": {"error": ["x"]}}}]}}),
        (
            "**.state",
            {
                "hits": {
                    "hits": [
                        {"_source": {"ingestion": {"state": "successful"}}},
                        {"_source": {"ingestion": {"state": "error"}}},
                    ]
                }
            },
        ),
        ("_sh*.t*", {"_shards": {"total": 1}}),
        ("*.total", {"_shards": {"total": 1}, "hits": {"total": 2}}),
        ("-hits,-_shards", {"took": 3, "timed_out": False}),
        ("-hits.hits._source,-_shards,-took,-timed_out", {"hits": {"total": 2, "hits": [{"_id": "a"}, {"_id": "b"}]}}),
        (
            "-**.count,hits.hits._source",
            {
                "hits": {
                    "hits": [
                        {"_source": {"ingestion": {"state": "successful"}}},
                        {"_source": {"ingestion": {"state": "error", "error": ["x"]}}},
                    ]
                }
            },
        ),
        ("nothing.here", {}),
        ("took.deeper", {}),  # a scalar where a path goes on is dropped
        ("-*", {}),
    ],
)
def test_documented_behaviour(text: str, expected: Any) -> None:
    assert fp(text, SEARCH) == expected


def test_missing_or_blank_means_no_filtering() -> None:
    assert FilterPath.parse(None) is None
    assert FilterPath.parse("") is None
    assert FilterPath.parse(" , ,- ") is None


def test_given_several_times_and_with_spaces() -> None:
    compiled = FilterPath.parse(["took", " hits.total "])
    assert compiled is not None
    assert compiled.apply(SEARCH) == {"took": 3, "hits": {"total": 2}}


def test_escaped_dot_is_part_of_a_field_name() -> None:
    doc = {"a.b": 1, "a": {"b": 2}}
    assert fp(r"a\.b", doc) == {"a.b": 1}
    assert fp("a.b", doc) == {"a": {"b": 2}}


def test_double_wildcard_needs_at_least_one_level() -> None:
    doc = {"version": 1, "x": {"version": 2, "y": {"version": 3}}}
    assert fp("**.version", doc) == {"x": {"version": 2, "y": {"version": 3}}}
    assert fp("x.**.version", doc) == {"x": {"y": {"version": 3}}}


def test_emptied_containers_are_dropped_untouched_ones_kept() -> None:
    doc = {"a": {"b": 1}, "c": {}, "d": [], "e": [{"f": 1}]}
    assert fp("-a.b", doc) == {"c": {}, "d": [], "e": [{"f": 1}]}
    assert fp("-e.f", doc) == {"a": {"b": 1}, "c": {}, "d": []}
    assert fp("c,d", doc) == {"c": {}, "d": []}
    assert fp("c.x,d.x", doc) == {}


def test_a_complete_path_wins_over_a_longer_one() -> None:
    doc = {"a": {"b": 1, "c": 2}}
    assert fp("a.b,a", doc) == doc
    assert fp("a,a.b", doc) == doc


def test_input_is_not_modified() -> None:
    doc = {"a": {"b": 1, "c": [1, {"d": 2}]}}
    before = repr(doc)
    fp("-a.c.d", doc)
    fp("a.c.d", doc)
    assert repr(doc) == before


def test_too_many_segments_is_a_parameter_error() -> None:
    text = ",".join(f"f{i}" for i in range(MAX_NODES + 1))
    with pytest.raises(InvalidDefinition) as caught:
        FilterPath.parse(text)
    assert caught.value.invalid[0].entry == "filter_path"


def test_pathological_patterns_filter_quickly() -> None:
    """Wildcards that would backtrack, and chains of ** that multiply states, on a wide response."""
    hits = [{f"field{j}": {"a" * 200: {"b": j}} for j in range(30)} for _ in range(300)]
    doc = {"hits": {"hits": hits}}
    patterns = [
        ",".join(["*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c"] * 10),
        ".".join(["**"] * 120),
        ",".join(f"{'*' * (i % 7 + 1)}x{i}" for i in range(MAX_NODES // 2)),
    ]
    for text in patterns:
        started = time.perf_counter()
        fp(text, doc)
        assert time.perf_counter() - started < 2.0, text[:40]


# ---------------------------------------------------------------- a model built differently: regexes over key paths

KEYS = ["a", "b", "ab", "ba", "x"]
SEGMENTS = ["a", "b", "x", "*", "a*", "*b", "**"]
SEP = "\x00"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["s", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
expressions = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map(".".join)


def _regex(expression: str) -> re.Pattern[str]:
    parts = []
    for segment in expression.split("."):
        if segment == "**":
            parts.append(f"[^{SEP}]+(?:{SEP}[^{SEP}]+)*")
        else:
            parts.append("".join(f"[^{SEP}]*" if c == "*" else re.escape(c) for c in segment))
    return re.compile(SEP.join(parts))


def _model_include(value: Any, path: tuple[str, ...], patterns: list[re.Pattern[str]]) -> Any:
    """Keep a value whole when its key path fully matches; else keep what is kept inside it."""
    if path and any(p.fullmatch(SEP.join(path)) for p in patterns):
        return value
    if isinstance(value, dict):
        kept = {k: _model_include(v, (*path, k), patterns) for k, v in value.items()}
        kept = {k: v for k, v in kept.items() if v is not None}
        return kept or None
    if isinstance(value, list):
        items = [_model_include(v, path, patterns) for v in value]
        items = [v for v in items if v is not None]
        return items or None
    return None


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v, path)]
    return [(path, value)]


def _wrap_scalars(value: Any) -> Any:
    """Model values use None for 'dropped', so compare with scalars boxed."""
    if isinstance(value, dict):
        return {k: _wrap_scalars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_scalars(v) for v in value]
    return ("scalar", value)


@settings(max_examples=400, deadline=None)
@given(documents, st.lists(expressions, min_size=1, max_size=3))
def test_inclusion_equals_the_regex_model(doc: dict[str, Any], exprs: list[str]) -> None:
    boxed = _wrap_scalars(doc)
    expected = _model_include(boxed, (), [_regex(e) for e in exprs])
    assert fp(",".join(exprs), boxed) == (expected if expected is not None else {})


@settings(max_examples=400, deadline=None)
@given(documents, st.lists(expressions, min_size=1, max_size=3))
def test_exclusion_keeps_exactly_the_leaves_no_pattern_reaches(doc: dict[str, Any], exprs: list[str]) -> None:
    patterns = [_regex(e) for e in exprs]

    def excluded(path: tuple[str, ...]) -> bool:
        return any(p.fullmatch(SEP.join(path[:n])) for p in patterns for n in range(1, len(path) + 1))

    boxed = _wrap_scalars(doc)
    expected = sorted(repr(leaf) for leaf in _leaves(boxed) if not excluded(leaf[0]))
    assert sorted(repr(leaf) for leaf in _leaves(fp(",".join(f"-{e}" for e in exprs), boxed))) == expected


@settings(max_examples=200, deadline=None)
@given(documents)
def test_naming_every_top_level_field_keeps_everything(doc: dict[str, Any]) -> None:
    if doc:
        assert fp(",".join(doc), doc) == doc
        assert fp(",".join(f"-{k}" for k in doc), doc) == {}
