"""Own how the client commands call the service: the client, errors explained, id completion.

They reach the service at ``CONNECTOR_URL`` (default http://127.0.0.1:8080)
with ``CONNECTOR_TOKEN`` when set. Exit codes: 0 done, 1 the service refused
(or, with ``--watch``, the run did not succeed), 2 bad usage, 130 Ctrl-C.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson
from click.shell_completion import CompletionItem

from api.client import DEFAULT_URL, ClientError, ConnectorClient
from api.commands.output import (
    Output,
    echo,
    explain,
    print_json,
)

BASE = "/_siren/connector"
COMPLETION_TIMEOUT_S = 2.0


def client(*, timeout_s: float = 60.0) -> ConnectorClient:
    """The service at CONNECTOR_URL; one per address, token and timeout, so --watch reuses its connection."""
    return _client(os.environ.get("CONNECTOR_URL", DEFAULT_URL), os.environ.get("CONNECTOR_TOKEN"), timeout_s)


@functools.cache
def _client(url: str, token: str | None, timeout_s: float) -> ConnectorClient:
    return ConnectorClient(url, token=token, timeout_s=timeout_s)


def request(
    method: str,
    path: str,
    body: Any = None,
    *,
    params: Mapping[str, Any] | None = None,
    output: Output = "table",
    flags: Mapping[str, str] | None = None,
    hints: Callable[[ClientError], Sequence[str]] | None = None,
) -> Any:
    """Call the service; on an error, explain it on stderr (and print its body for -o json), exit 1."""
    service = client()
    try:
        return service.request(method, BASE + path, body, dict(params or {}))
    except ClientError as ex:
        explain_and_exit(ex, service.url, output=output, flags=flags or {}, hints=hints(ex) if hints else ())


def explain_and_exit(
    ex: ClientError, url: str, *, output: Output, flags: Mapping[str, str], hints: Sequence[str]
) -> NoReturn:
    if output == "json" and ex.body is not None:
        print_json(ex.body)
    for line in explain(ex, flags=flags, hints=hints, url=url):
        echo(line, err=True)
    sys.exit(1)


def ids(kind: str) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """Shell completion of existing ids, asked of the service (nothing if it does not answer)."""

    def complete(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        try:
            found = client(timeout_s=COMPLETION_TIMEOUT_S).request(
                "GET", f"{BASE}/{kind}/_search", None, {"size": 1000}
            )
        except ClientError:
            return []
        return [CompletionItem(h["_id"]) for h in found["hits"]["hits"] if str(h["_id"]).startswith(incomplete)]

    return complete


def read_body(path: str) -> Any:
    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return orjson.loads(raw)
    except OSError as ex:
        raise click.BadParameter(f"{path}: {ex.strerror}", param_hint="--file") from None
    except orjson.JSONDecodeError as ex:
        raise click.BadParameter(f"{path}: not JSON ({ex})", param_hint="--file") from None


def more(found: dict[str, Any], from_: int, shown: int) -> None:
    total = found["hits"]["total"]
    total = total["value"] if isinstance(total, dict) else total
    if from_ + shown < total:
        echo(f"showing {from_ + 1}-{from_ + shown} of {total}; see more with --from {from_ + shown}")


FROM_OPTION = click.option("--from", "from_", type=click.IntRange(min=0), default=0, help="Skip this many first.")


def listing_hint(kind: str) -> Callable[[ClientError], Sequence[str]]:
    def hints(ex: ClientError) -> Sequence[str]:
        return [f"connector {kind} list shows what exists"] if ex.status == 404 else []

    return hints
