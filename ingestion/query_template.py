"""Own the rendering of Mustache query templates into SQL with bound parameters.

Variables never reach the SQL text. Each ``{{x}}`` renders as a unique marker;
after rendering, a marker standing alone becomes a named bind parameter, and a
quoted literal containing markers (``'{{x}}'``, ``'%{{x}}%'``) becomes one
bound string with the values substituted, so quoting a variable in the
template changes nothing about safety. Sections (``{{#x}}...{{/x}}``) drop out
when ``x`` is absent; a bare variable without a value is an error, not an
empty string that would silently change the query.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import chevron
from chevron.tokenizer import ChevronError

from connector.errors import InvalidDefinition

_SEPARATOR = "\x1f"  # never in SQL text, so markers made of it cannot clash with the template
_MARKER = "\x1fB{}\x1f"
_MARKER_RE = re.compile("\x1fB(\\d+)\x1f")
_MISSING_RE = re.compile("\x1fM([^\x1f]*)\x1f")
# A single-quoted SQL literal ('' escapes a quote) containing at least one marker.
_QUOTED_RE = re.compile("'((?:[^']|'')*\x1fB\\d+\x1f(?:[^']|'')*)'")


class TemplateError(InvalidDefinition):
    """The query template cannot be rendered (syntax, or a variable without a value)."""


@dataclass(slots=True)
class RenderedQuery:
    """SQL text with ``:name`` placeholders and the values to bind to them."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def inner(self) -> str:
        """The SQL as it can stand in ``FROM (...)``: no trailing semicolon."""
        return self.sql.strip().rstrip(";")


class _Bind:
    """A value in the template context: renders as a marker, remembers the value."""

    __slots__ = ("index", "value")
    # chevron renders falsy values as "" unless they carry this flag.
    _CHEVRON_return_scope_when_falsy = True

    def __init__(self, index: int, value: Any) -> None:
        self.index = index
        self.value = value

    def __bool__(self) -> bool:
        # Mustache semantics for sections: null and false hide them, 0 and "" do not.
        return self.value is not None and self.value is not False

    def __str__(self) -> str:
        return _MARKER.format(self.index)


class _Missing:
    __slots__ = ("name",)
    _CHEVRON_return_scope_when_falsy = True

    def __init__(self, name: str) -> None:
        self.name = name

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"\x1fM{self.name}\x1f"


class _Scope(dict[str, Any]):
    def __missing__(self, key: str) -> _Missing:
        return _Missing(key)


def render(
    template: str, variables: Mapping[str, Any], *, entry: str = "$.query", strict: bool = True
) -> RenderedQuery:
    """Render ``template`` with ``variables`` bound as parameters.

    Raises TemplateError (a 400-class InvalidDefinition) for a syntax error or,
    when ``strict``, a variable used outside a section without a value; when
    not strict such a variable is bound as NULL (to check a query's shape
    before its run-time values exist).
    """
    if _SEPARATOR in template:  # the markers are made of it: the text must not forge one
        raise TemplateError.single(entry, "characters", "must not contain the control character U+001F")
    binds: list[_Bind] = []
    context = _wrap(variables, binds)
    with _mustache_errors(entry):
        text = chevron.render(template, context)
    if not strict:
        text = _MISSING_RE.sub(lambda m: str(_wrap(None, binds)), text)
    missing = _MISSING_RE.search(text)
    if missing:
        name = missing.group(1)
        raise TemplateError.single(
            entry,
            "variable",
            f"template variable {{{{{name}}}}} has no value; wrap it in a section "
            f"{{{{#{name}}}}}...{{{{/{name}}}}} to drop that part when it is absent",
        )
    params: dict[str, Any] = {}

    def quoted(match: re.Match[str]) -> str:
        literal = match.group(1).replace("''", "'")
        inside = [binds[int(index)].value for index in _MARKER_RE.findall(literal)]
        # A null inside a literal makes it NULL (as SQL's '%' || NULL does), not the text "None".
        value = None if None in inside else _MARKER_RE.sub(lambda m: _text(binds[int(m.group(1))].value), literal)
        name = f"p{len(params)}"
        params[name] = value
        return f":{name}"

    def bare(match: re.Match[str]) -> str:
        name = f"p{len(params)}"
        params[name] = binds[int(match.group(1))].value
        return f":{name}"

    sql = _MARKER_RE.sub(bare, _QUOTED_RE.sub(quoted, text))
    return RenderedQuery(sql, params)


def variables_used(template: str) -> set[str]:
    """Return the top-level names a template refers to (for validation)."""
    with _mustache_errors("$.query"):
        tokens = list(chevron.tokenizer.tokenize(template))
    return {
        key.split(".")[0] for kind, key in tokens if kind in ("variable", "no escape", "section", "inverted section")
    }


def _wrap(value: Any, binds: list[_Bind]) -> Any:
    if isinstance(value, Mapping):
        return _Scope({str(k): _wrap(v, binds) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [_wrap(v, binds) for v in value]
    bind = _Bind(len(binds), value)
    binds.append(bind)
    return bind


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextmanager
def _mustache_errors(entry: str) -> Iterator[None]:
    """Turn chevron's template errors into a 400 naming ``entry``."""
    try:
        yield
    except ChevronError as ex:
        raise TemplateError.single(entry, "mustache", f"invalid Mustache template: {ex}") from None
    except IndexError:  # chevron's tokenizer on an empty tag: {{}} (or <%%> after a delimiter change)
        raise TemplateError.single(entry, "mustache", "invalid Mustache template: empty tag") from None
