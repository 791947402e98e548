"""Own the rendering of Mustache query templates into SQL with bound parameters (SPEC §5, §14).

A template may only *refer to* the variables of SPEC §5/§10 and ``params``:
``max_primary_key``, ``last_record_timestamp``, ``last_record`` and
``last_record.N``, ``last_value``, ``params.NAME``, and a bare ``NAME`` given
in ``params``. Names are looked up in plain dictionaries and lists by this
module — never through attributes, never by calling anything — so a tag
cannot reach into Python objects. Partials, delimiter changes and the
implicit iterator are refused. Sections are conditions, not loops:
``{{#x}}...{{/x}}`` renders once when ``x`` is present and not null, false
or an empty list; ``{{^x}}`` the opposite.

Values never reach the SQL text. Each tag first renders as a marker; the
rendered text is then read with the database's lexical rules
(``sql_lexer``): a marker in code becomes one named bind parameter, a quoted
literal holding markers (``'%{{x}}%'``) becomes one bound string, and a
marker inside a comment, a quoted identifier, a dollar-quoted body or a
prefixed literal is refused, as is one glued to a word or another value. For
drivers that write values into the SQL on the client (PyMySQL), text whose
quoting could be read two ways (a backslash in quoted text, an executable
comment, an unterminated quote) is refused too, so a value always stays
inside its own literal.

Mustache is parsed here rather than by chevron: chevron resolves names with
``getattr`` and calls what it finds, and its tokenizer is quadratic on long
templates; the subset SQL templates need is a few lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.errors import InvalidDefinition
from ingestion.source.sql_lexer import CLIENT_INTERPOLATION, GENERIC, MYSQL, POSTGRESQL, Kind, Region, regions

# A value given to a template (``_run`` and ``_sample`` params): a scalar or a list of scalars.
ParamScalar = str | int | float | bool | None
ParamValue = ParamScalar | list[ParamScalar]

BUILT_IN_VARIABLES = ("max_primary_key", "last_record_timestamp", "last_record", "last_value", "params")

_SEPARATOR = "\x1f"  # never in SQL text, so markers made of it cannot clash with the template
_MARKER = "\x1f{}\x1f"
_MARKER_RE = re.compile("\x1f(\\d+)\x1f")
_SIGILS = frozenset("#^/&!>=")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# SQLAlchemy's text() reads ":name" as a bind parameter wherever it stands; user text is escaped.
_COLON_WORD = re.compile(r"(?<![:\w\\]):(?=\w)")
# "-" too: pymssql writes -5 for a value, and "--5" starts a comment on SQL Server.
_GLUED_BEFORE = set(":\\$@.'\"`]\x1f-")
_GLUED_AFTER = set("$'\"`[\x1f.")
_EXECUTABLE_COMMENT = re.compile(r"/\*[M]?!")
_DASHES_THEN_WIDE = re.compile(r"--[^\x00-\x7e]")
_FILE_ACCESS = {
    MYSQL: re.compile(r"(?i)\bINTO\s+(?:OUTFILE|DUMPFILE)\b|\bLOAD_FILE\s*\("),
    POSTGRESQL: re.compile(
        r"(?i)\b(?:pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|pg_file_write|lo_import|lo_export"
        r"|dblink\w*)\s*\("
    ),
}
VARIABLE_RULE = (
    "template variables are max_primary_key, last_record_timestamp, last_record, last_record.N, "
    "last_value, params.NAME, and NAME for a value given in params"
)


class TemplateError(InvalidDefinition):
    """The query template cannot be rendered (syntax, a forbidden tag or place, a variable without a value)."""


@dataclass(slots=True)
class RenderedQuery:
    """SQL text with ``:name`` placeholders and the values to bind to them."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def inner(self) -> str:
        """The SQL as it can stand in ``FROM (...)``: no trailing semicolon, ended by a newline
        so that a trailing ``-- comment`` cannot swallow what is written after it."""
        return self.sql.strip().rstrip(";") + "\n"


# ---------------------------------------------------------------- Mustache subset


@dataclass(frozen=True, slots=True)
class _Var:
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Section:
    path: tuple[str, ...]
    inverted: bool
    body: tuple[_Node, ...]


_Node = str | _Var | _Section


def parse(template: str, *, entry: str = "$.query") -> tuple[_Node, ...]:
    """Parse ``template`` into literal text, variables and sections; TemplateError if not allowed.

    One forward scan with ``str.find`` (linear time, SPEC §14): a regular
    expression with a lazy ``.*?`` would rescan to the end from every
    unclosed ``{{``.
    """
    if _SEPARATOR in template:  # markers are made of it: the text must not forge one
        raise TemplateError.single(entry, "characters", "must not contain the control character U+001F")
    stack: list[tuple[tuple[str, ...] | None, bool, list[_Node]]] = [(None, False, [])]
    position = 0
    while (opening := template.find("{{", position)) >= 0:
        if opening > position:
            stack[-1][2].append(template[position:opening])
        triple = template.startswith("{{{", opening)
        closer = "}}}" if triple else "}}"
        closing = template.find(closer, opening + len(closer))
        if closing < 0:
            raise _syntax(entry, "unclosed tag {{")
        body = template[opening + len(closer) : closing]
        position = closing + len(closer)
        sigil, raw = ("&", body) if triple else ((body[:1], body[1:]) if body[:1] in _SIGILS else ("", body))
        if sigil == "!":
            continue
        if sigil == ">":
            raise TemplateError.single(entry, "mustache", "partials ({{> name}}) are not allowed in query templates")
        if sigil == "=":
            raise TemplateError.single(entry, "mustache", "delimiter changes ({{=...=}}) are not allowed")
        path = _path(raw.strip(), entry)
        if sigil in ("#", "^"):
            stack.append((path, sigil == "^", []))
        elif sigil == "/":
            opened, inverted, children = stack.pop() if len(stack) > 1 else (None, False, [])
            if opened != path:
                where = ".".join(opened) if opened else "no open section"
                raise _syntax(entry, f"{{{{/{'.'.join(path)}}}}} closes {where}")
            stack[-1][2].append(_Section(path, inverted, tuple(children)))
        else:
            stack[-1][2].append(_Var(path))
    if position < len(template):
        stack[-1][2].append(template[position:])
    if len(stack) > 1:
        raise _syntax(entry, f"section {{{{#{'.'.join(stack[-1][0] or ())}}}}} is never closed")
    return tuple(stack[0][2])


def _syntax(entry: str, detail: str) -> TemplateError:
    return TemplateError.single(entry, "mustache", f"invalid Mustache template: {detail}")


def _path(name: str, entry: str) -> tuple[str, ...]:
    """Check a tag's name against the variables a template may use (SPEC §14)."""
    if not name:
        raise _syntax(entry, "empty tag")
    parts = tuple(name.split("."))
    head, rest = parts[0], parts[1:]
    allowed = bool(_NAME.fullmatch(head)) and (
        not rest
        or (
            len(rest) == 1
            and (
                (head == "params" and bool(_NAME.fullmatch(rest[0])))
                or (head == "last_record" and rest[0].isascii() and rest[0].isdigit())
            )
        )
    )
    if not allowed:
        raise TemplateError.single(entry, "variable", f"{{{{{name}}}}} is not allowed: {VARIABLE_RULE}")
    return parts


def variables_used(template: str) -> set[str]:
    """Return the top-level names a template refers to (for validation and to compute only those)."""
    found: set[str] = set()

    def walk(nodes: Sequence[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _Var):
                found.add(node.path[0])
            elif isinstance(node, _Section):
                found.add(node.path[0])
                walk(node.body)

    walk(parse(template))
    return found


class _Missing:
    """A variable without a value."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _lookup(variables: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """A plain dictionary/list lookup: no attributes, no calls."""
    name = ".".join(path)
    if path[0] == "params":
        params = variables.get("params")
        if len(path) == 1:
            return params if isinstance(params, Mapping) else _Missing(name)
        return params[path[1]] if isinstance(params, Mapping) and path[1] in params else _Missing(name)
    value = variables[path[0]] if path[0] in variables else _Missing(name)
    if len(path) == 2:  # last_record.N
        index = int(path[1])
        value = value[index] if isinstance(value, list | tuple) and index < len(value) else _Missing(name)
    return value


def _shown(value: Any) -> bool:
    # Mustache semantics for sections: null, false and empty lists hide them; 0 and "" do not.
    if isinstance(value, _Missing) or value is None or value is False:
        return False
    return not isinstance(value, list) or len(value) > 0


# ---------------------------------------------------------------- rendering


def render(
    template: str,
    variables: Mapping[str, Any],
    *,
    dialect: str = GENERIC,
    entry: str = "$.query",
    strict: bool = True,
) -> RenderedQuery:
    """Render ``template`` with ``variables`` bound as parameters, for a ``sql_lexer`` dialect family.

    Raises TemplateError (a 400-class InvalidDefinition) for a syntax error,
    a forbidden tag, a variable in a place where it cannot be one bound value,
    or, when ``strict``, a variable used outside a section without a value;
    when not strict such a variable is bound as NULL (to check a query's
    shape before its run-time values exist).
    """
    values: list[Any] = []
    pieces: list[str] = []

    def emit(nodes: Sequence[_Node]) -> None:
        for node in nodes:
            if isinstance(node, str):
                pieces.append(node)
            elif isinstance(node, _Var):
                value = _lookup(variables, node.path)
                if isinstance(value, _Missing):
                    if strict:
                        name = value.name
                        raise TemplateError.single(
                            entry,
                            "variable",
                            f"template variable {{{{{name}}}}} has no value; wrap it in a section "
                            f"{{{{#{name}}}}}...{{{{/{name}}}}} to drop that part when it is absent",
                        )
                    value = None
                if isinstance(value, Mapping):
                    raise TemplateError.single(
                        entry, "variable", f"{{{{{'.'.join(node.path)}}}}} is an object; use {{{{params.NAME}}}}"
                    )
                pieces.append(_MARKER.format(len(values)))
                values.append(value)
            elif _shown(_lookup(variables, node.path)) != node.inverted:
                emit(node.body)

    emit(parse(template, entry=entry))
    text = "".join(pieces)
    _refuse_file_access(text, dialect, entry)
    return _bind(text, values, dialect=dialect, entry=entry)


def check_template(template: str, *, dialect: str, entry: str) -> None:
    """Refuse at definition time what a run would refuse: syntax, names, and places of variables.

    The template is rendered twice, with every variable present and with
    none, so that what sections add or drop is checked in both states.
    """
    nodes = parse(template, entry=entry)
    present: dict[str, Any] = {"params": _Everything(), "last_record": _AnyList()}

    def fill(nodes: Sequence[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _Var | _Section) and node.path[0] not in present:
                present[node.path[0]] = "x"
            if isinstance(node, _Section):
                fill(node.body)

    fill(nodes)
    render(template, present, dialect=dialect, entry=entry)
    render(template, {}, dialect=dialect, entry=entry, strict=False)


class _Everything(dict[str, Any]):
    """``params`` with a value for every name (definition-time checks)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        return "x"


class _AnyList(list[Any]):
    """``last_record`` with a value at every index (definition-time checks)."""

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, index: Any) -> Any:
        return "x"


def _bind(text: str, values: list[Any], *, dialect: str, entry: str) -> RenderedQuery:
    """Replace each marker of ``text`` by a bind parameter, as the dialect's lexer places it."""
    if not values:
        return RenderedQuery(_escape_colons(text))
    spans = regions(text, dialect)
    client_side = dialect in CLIENT_INTERPOLATION
    if client_side:
        _refuse_ambiguous(text, spans, entry)
    params: dict[str, Any] = {}
    out: list[str] = []

    def bind(value: Any, end: int) -> str:
        name = f"p{len(params)}"
        params[name] = value
        # ":p0::int" would not be read as a parameter by SQLAlchemy; "(:p0)::int" is.
        return f"(:{name})" if text.startswith(":", end) else f":{name}"

    for span in spans:
        part = text[span.start : span.end]
        if _SEPARATOR not in part:
            out.append(_escape_colons(part))
        elif span.kind == Kind.CODE:
            position = 0
            for marker in _MARKER_RE.finditer(part):
                before = part[marker.start() - 1] if marker.start() else text[span.start - 1 : span.start]
                after = part[marker.end() : marker.end() + 1] or text[span.end : span.end + 1]
                if _glued(before, after):
                    raise _misplaced(entry, "glued to a name, a literal or another variable (put spaces around it)")
                out.append(_escape_colons(part[position : marker.start()]))
                out.append(bind(values[int(marker.group(1))], span.start + marker.end()))
                position = marker.end()
            out.append(_escape_colons(part[position:]))
        elif span.kind == Kind.LITERAL and not span.prefix and not span.double_quoted:
            if not span.terminated:
                raise _misplaced(entry, "inside a quoted literal that is never closed")
            if span.backslash:
                raise _misplaced(entry, "inside a quoted literal holding a backslash, which databases read differently")
            literal = part[1:-1].replace("''", "'")
            inside = [values[int(index)] for index in _MARKER_RE.findall(literal)]
            # A null inside a literal makes it NULL (as SQL's '%' || NULL does), not the text "None".
            whole = None if None in inside else _MARKER_RE.sub(lambda m: _text(values[int(m.group(1))]), literal)
            out.append(bind(whole, span.end))
        else:
            raise _misplaced(entry, _PLACES.get(span.kind, "inside a prefixed or double-quoted literal"))
    return RenderedQuery("".join(out), params)


_PLACES = {
    Kind.COMMENT: "inside an SQL comment",
    Kind.IDENTIFIER: "inside a quoted identifier",
    Kind.DOLLAR: "inside a dollar-quoted string",
}


def _glued(before: str, after: str) -> bool:
    return (bool(before) and (before.isalnum() or before == "_" or before in _GLUED_BEFORE)) or (
        bool(after) and (after.isalnum() or after == "_" or after in _GLUED_AFTER)
    )


def _refuse_ambiguous(text: str, spans: list[Region], entry: str) -> None:
    """For client-side interpolation: refuse quoting that the server might read another way."""
    for span in spans:
        if span.kind != Kind.CODE and not span.terminated:
            raise _misplaced(entry, f"in a query with an unterminated {span.kind.value}", subject="a template variable")
        if span.kind in (Kind.LITERAL, Kind.IDENTIFIER) and span.backslash:
            raise TemplateError.single(
                entry,
                "template_quoting",
                "a query with template variables must not hold backslashes in quoted text on this database "
                "(their meaning depends on the server's sql_mode); pass such text as a variable instead",
            )
        if span.kind == Kind.COMMENT and _EXECUTABLE_COMMENT.match(text, span.start):
            raise TemplateError.single(
                entry, "template_quoting", "a query with template variables must not hold executable comments /*! */"
            )
    if _DASHES_THEN_WIDE.search(text):  # "--" then a character servers disagree on: a comment or not?
        raise TemplateError.single(
            entry,
            "template_quoting",
            "a query with template variables must not have -- followed by a non-ASCII character "
            "(databases disagree on whether that starts a comment); put a space after --",
        )


def _refuse_file_access(text: str, dialect: str, entry: str) -> None:
    """Refuse SQL that reads or writes files on the database host (defense in depth: a read-only
    transaction does not stop ``SELECT ... INTO OUTFILE`` or ``pg_read_file``; the datasource's user
    should hold no such privilege in the first place)."""
    pattern = _FILE_ACCESS.get(dialect)
    if pattern is None or not pattern.search(text):
        return
    for span in regions(text, dialect):
        if span.kind == Kind.CODE and (found := pattern.search(text, span.start, span.end)):
            raise TemplateError.single(
                entry,
                "file_access",
                f"{found.group().strip()}... reads or writes files on the database host; it is not allowed",
            )


def _misplaced(entry: str, where: str, *, subject: str = "a template variable") -> TemplateError:
    return TemplateError.single(
        entry, "variable_place", f"{subject} cannot stand {where}; it must stand alone as one value of the SQL"
    )


def _escape_colons(sql: str) -> str:
    """Keep SQLAlchemy from reading the user's own ``:word`` as a bind parameter (``\\:`` is its escape)."""
    return _COLON_WORD.sub(r"\\:", sql) if ":" in sql else sql


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
