"""Own what the client commands print: tables for people, JSON for scripts, errors with hints.

``-o table`` (the default) renders with rich; ``-o json`` prints the service's
response unchanged. Errors go to stderr as one ``error:`` line in the CLI's
own words: the service names query parameters (``?force=true``), the CLI
names the flag that sets them (``--force``); ``hint:`` lines say what to do
next with a command that exists.

Every text the commands print passes through here, because much of it is
the service's data and the service quotes what others wrote (a database
error quoting a row, a description, a sample row): control characters are
shown as ``\\x1b`` escapes (see :func:`shown`) and rich never reads it as
markup, so a value can neither drive the terminal (title, clear screen,
hyperlinks) nor style, hide or break the output.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from api.client import ClientError

Output = Literal["table", "json"]

output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: for people; json: the service's response unchanged, for scripts.",
)


# Tables sent to a pipe or a file are not cut at 80 columns (rich's default there).
PIPE_WIDTH = 400


# What a terminal acts on rather than shows: C0 controls (ESC starts the sequences that set the
# title, clear the screen or write hyperlinks; CR overwrites a line), DEL, C1 controls (U+009B is
# CSI on some terminals) and the bidirectional overrides and isolates (they reorder what is shown).
# Tab and newline are kept where text may span lines; a one-line text (the live line) loses them too.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# JSON escapes C0 itself; DEL and C1 may be written raw, so -o json escapes them (the same JSON value).
_JSON_RAW_CONTROLS = re.compile(r"[\x7f-\x9f]")


def shown(text: str, *, one_line: bool = False) -> str:
    """Text as the terminal may print it: each control character as a visible ``\\xNN`` escape."""
    return (_LINE_CONTROLS if one_line else _CONTROLS).sub(_escape_control, text)


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def stdout() -> Console:
    console = Console(highlight=False, emoji=False)
    if not console.is_terminal:
        console = Console(highlight=False, emoji=False, width=PIPE_WIDTH)
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False, emoji=False)


def echo(line: str, *, err: bool = False) -> None:
    """One line of text (service data welcome), as :func:`shown`."""
    click.echo(shown(line), err=err)


def print_lines(lines: Iterable[str], *, console: Console, style: str | None = None) -> None:
    """Lines through rich (for its terminal handling and ``style``), never read as markup."""
    for line in lines:
        console.print(Text(shown(line), style=style or ""), soft_wrap=True)


def print_json(value: Any) -> None:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    click.echo(_JSON_RAW_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = "nothing found") -> None:
    """A table with one header row; ``empty`` is printed instead when there are no rows."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:  # a sample's column names are the database's
        table.add_column(Text(shown(header, one_line=True)))
    count = 0
    for row in rows:
        table.add_row(*(Text(shown(cell(value))) for value in row))
        count += 1
    if count:
        stdout().print(table)
    else:
        echo(empty)


def print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Name/value lines (a get), skipping values that are absent."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in pairs:
        if value is not None and value != "":
            table.add_row(Text(shown(name)), Text(shown(cell(value))))
    stdout().print(table)


def cell(value: Any) -> str:
    """A value as plain text (not yet :func:`shown`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def number(value: int | None) -> str:
    """A count for people: ``12,345``."""
    return "" if value is None else f"{value:,}"


def when(epoch_ms: int | None) -> str | None:
    """An epoch-ms time in the local time zone, to the second."""
    if epoch_ms is None:
        return None
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(ms: float | None) -> str:
    """``850 ms``, ``4.3 s``, ``2:05`` or ``1:02:05``."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate(docs: float | None) -> str:
    return "— docs/s" if docs is None else f"{docs:,.0f} docs/s"


# ---------------------------------------------------------------- errors


def explain(error: ClientError, *, flags: Mapping[str, str], hints: Sequence[str] = (), url: str) -> list[str]:
    """The ``error:`` line with flags named as the CLI spells them, the invalid entries, then hints.

    ``flags`` maps the API's query parameters to the command's flags.
    """
    if error.status == 0:
        return [f"error: {error}", f"hint: is the service running there? Set CONNECTOR_URL (now {url})."]
    detail = error_detail(error)
    reason = detail.get("reason")
    message = _cli_words(str(reason), flags) if reason else str(error)
    lines = [f"error: {message}"]
    for entry in detail.get("invalid") or []:
        for rule in entry.get("rules", []):
            lines.append(f"  {entry.get('entry')}: {rule.get('description')}")
    lines += [f"hint: {hint}" for hint in hints]
    if error.status == 401:
        lines.append("hint: set CONNECTOR_TOKEN to a token of this service (connector token create).")
    elif error.status == 403:
        lines.append("hint: the token in CONNECTOR_TOKEN lacks the scope named above.")
    return lines


def error_detail(error: ClientError) -> dict[str, Any]:
    """The ``error`` object of an Elasticsearch-style error body, or {}."""
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("error")
    return detail if isinstance(detail, dict) else {}


def _cli_words(reason: str, flags: Mapping[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        return flags.get(match.group(1), match.group(0))

    return re.sub(r"\?([a-z_]+)=true", swap, reason)
