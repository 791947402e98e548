"""Own what the client commands print: tables for people, JSON for scripts, errors with hints.

``-o table`` (the default) renders with rich; ``-o json`` prints the service's
response unchanged. Errors go to stderr as one ``error:`` line in the CLI's
own words: the service names query parameters (``?force=true``), the CLI
names the flag that sets them (``--force``); ``hint:`` lines say what to do
next with a command that exists.
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


def stdout() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=PIPE_WIDTH)
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = "nothing found") -> None:
    """A table with one header row; ``empty`` is printed instead when there are no rows."""
    table = Table(*headers, box=None, pad_edge=False, header_style="bold")
    count = 0
    for row in rows:
        table.add_row(*(cell(value) for value in row))
        count += 1
    if count:
        stdout().print(table)
    else:
        click.echo(empty)


def print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Name/value lines (a get), skipping values that are absent."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in pairs:
        if value is not None and value != "":
            table.add_row(name, cell(value))
    stdout().print(table)


def cell(value: Any) -> str:
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
