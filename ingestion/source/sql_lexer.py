"""Own the lexical view of SQL text that template rendering needs, per dialect.

The renderer must know, for each template variable, whether it stands in
code, inside a quoted literal, a quoted identifier, a comment or a
dollar-quoted body, because a value may only ever become one bound
parameter (SPEC §14). This module splits SQL text into those regions in one
pass (linear time), the way each database's own lexer does:

- PostgreSQL: ``--`` and nested ``/* */`` comments, ``'...'`` with ``''``,
  ``E'...'`` with backslash escapes, ``"..."`` identifiers, ``$tag$...$tag$``.
- MySQL/MariaDB: ``#``, ``-- `` and (not nested) ``/* */`` comments, ``'...'``
  and ``"..."`` with ``''``/``""`` and backslash escapes, backquoted
  identifiers.
- SQLite: ``--`` and ``/* */``, ``'...'``, ``"..."``, backquoted and ``[...]``
  identifiers.
- DuckDB reads SQL with PostgreSQL's rules (its parser is PostgreSQL's:
  nested comments, ``E'...'``, ``$tag$``) and binds values on the server.
- anything else (SQL Server, Oracle, Trino, Presto, Snowflake, ClickHouse,
  Db2): the union, which errs towards seeing more comments and quotes (a
  variable is then refused rather than misplaced), including Snowflake's
  ``//`` comments and ClickHouse's ``#``. Their drivers interpolate values
  on the client (pymssql, PyHive, Snowflake, clickhouse-connect) or are not
  proven otherwise here, so ambiguous text is refused for all of them.

Where databases may disagree with this view (a backslash in a quoted text of
a database that interpolates values on the client), :func:`regions` reports
it and the renderer refuses the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    CODE = "code"
    LITERAL = "literal"  # '...' (or MySQL "...": a string unless ANSI_QUOTES)
    IDENTIFIER = "identifier"  # "..." `...` [...]
    COMMENT = "comment"
    DOLLAR = "dollar"  # PostgreSQL $tag$...$tag$


@dataclass(frozen=True, slots=True)
class Region:
    """``text[start:end]`` is one region; ``prefix`` is a literal's prefix (E, N, X, _utf8mb4, ...)."""

    kind: Kind
    start: int
    end: int
    prefix: str = ""
    backslash: bool = False  # a backslash inside a quoted region
    terminated: bool = True
    double_quoted: bool = False  # a "..." region (string or identifier depending on the mode)


POSTGRESQL = "postgresql"
MYSQL = "mysql"
SQLITE = "sqlite"
GENERIC = "generic"

# Dialects whose driver writes values into the SQL text on the client (PyMySQL, pymssql):
# there the view of quotes must match the server's exactly, so ambiguous text is refused.
CLIENT_INTERPOLATION = frozenset({MYSQL, GENERIC})


def family(dialect_name: str) -> str:
    """The lexer family of a SQLAlchemy dialect name."""
    if dialect_name in ("postgresql", "redshift", "cockroachdb", "duckdb"):
        return POSTGRESQL
    if dialect_name in ("mysql", "mariadb"):
        return MYSQL
    if dialect_name == "sqlite":
        return SQLITE
    return GENERIC


_OPENERS = {
    POSTGRESQL: re.compile(r"--|/\*|'|\"|\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$"),
    # MySQL/MariaDB: "--" starts a comment only before an ASCII space or control character (0x00-0x20, 0x7f);
    # Python's \s would also take U+00A0 and other Unicode spaces, which the server reads as code.
    MYSQL: re.compile(r"#|--(?=[\x00-\x20\x7f]|$)|/\*|'|\"|`"),
    SQLITE: re.compile(r"--|/\*|'|\"|`|\["),
    GENERIC: re.compile(r"#|--|//|/\*|'|\"|`|\[|\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$"),
}
_PREFIX = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*|U&)$")
_NEWLINE = re.compile(r"\n")
_COMMENT_EDGE = re.compile(r"/\*|\*/")


def regions(text: str, dialect: str) -> list[Region]:
    """Split ``text`` into consecutive regions (code and the rest), in linear time."""
    opener = _OPENERS.get(dialect, _OPENERS[GENERIC])
    backslash_escapes = dialect in (MYSQL, GENERIC)
    nested_comments = dialect in (POSTGRESQL, GENERIC)
    out: list[Region] = []
    pos = 0
    code_start = 0
    length = len(text)
    while pos < length:
        found = opener.search(text, pos)
        if found is None:
            break
        start, token = found.start(), found.group()
        if start > code_start:
            out.append(Region(Kind.CODE, code_start, start))
        if token in ("--", "#", "//"):
            newline = _NEWLINE.search(text, start)
            end = newline.end() if newline else length
            out.append(Region(Kind.COMMENT, start, end))
        elif token == "/*":
            end, closed = _block_comment(text, start, nested=nested_comments)
            out.append(Region(Kind.COMMENT, start, end, terminated=closed))
        elif token.startswith("$"):
            close = text.find(token, found.end())
            end = close + len(token) if close >= 0 else length
            out.append(Region(Kind.DOLLAR, start, end, terminated=close >= 0))
        elif token == "[":
            close = text.find("]", start + 1)
            end = close + 1 if close >= 0 else length
            out.append(Region(Kind.IDENTIFIER, start, end, terminated=close >= 0))
        else:
            # A word glued to the quote is a prefix (E'..', N'..', X'..', _utf8mb4'..'); 32 characters
            # are enough to see one, and looking no further keeps the scan linear.
            glued = _PREFIX.search(text, max(code_start, start - 32), start) if token == "'" else None
            prefix = glued.group() if glued else ""
            escapes = backslash_escapes or (dialect == POSTGRESQL and prefix.upper() == "E")
            end, closed, backslash = _quoted(text, start, token, escapes=escapes)
            # MySQL reads "..." as a string unless the session has ANSI_QUOTES.
            literal = token == "'" or (token == '"' and dialect == MYSQL)
            kind = Kind.LITERAL if literal else Kind.IDENTIFIER
            if prefix and out and out[-1].kind == Kind.CODE and out[-1].end == start:
                code = out.pop()  # the prefix belongs to the literal, not to the code before it
                if code.end - len(prefix) > code.start:
                    out.append(Region(Kind.CODE, code.start, code.end - len(prefix)))
            out.append(
                Region(
                    kind,
                    start - len(prefix),
                    end,
                    prefix=prefix,
                    backslash=backslash,
                    terminated=closed,
                    double_quoted=token == '"',
                )
            )
        pos = code_start = out[-1].end
    if code_start < length:
        out.append(Region(Kind.CODE, code_start, length))
    return out


def _block_comment(text: str, start: int, *, nested: bool) -> tuple[int, bool]:
    if not nested:
        close = text.find("*/", start + 2)
        return (close + 2, True) if close >= 0 else (len(text), False)
    depth = 0
    for edge in _COMMENT_EDGE.finditer(text, start):
        depth += 1 if edge.group() == "/*" else -1
        if depth == 0:
            return edge.end(), True
    return len(text), False


def _quoted(text: str, start: int, quote: str, *, escapes: bool) -> tuple[int, bool, bool]:
    """End of the quoted region opened at ``start``; whether it closed; whether it holds a backslash."""
    closing = "]" if quote == "[" else quote
    pattern = _QUOTED[(closing, escapes)]
    found = pattern.match(text, start + 1)
    assert found is not None  # every pattern matches the empty string
    end = found.end()
    body = text[start + 1 : end]
    closed = end < len(text) and text[end] == closing
    return (end + 1 if closed else len(text)), closed, "\\" in body


def _body(quote: str, escapes: bool) -> re.Pattern[str]:
    q = re.escape(quote)
    if escapes:
        return re.compile(rf"(?:[^{q}\\]|\\.|{q}{q})*", re.DOTALL)
    return re.compile(rf"(?:[^{q}]|{q}{q})*", re.DOTALL)


_QUOTED = {(q, e): _body(q, e) for q in ("'", '"', "`", "]") for e in (False, True)}
