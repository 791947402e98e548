"""Own `connector ingestion ...`: define, dry-run and run ingestions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from api.client import ClientError
from api.commands.call import FROM_OPTION, ids, listing_hint, more, read_body, request
from api.commands.jobs import watch_run
from api.commands.output import (
    Output,
    echo,
    output_option,
    print_fields,
    print_json,
    print_table,
)

INGESTION_ID = click.argument("ingestion_id", shell_complete=ids("ingestion"))


@click.group()
def ingestion() -> None:
    """Define, dry-run and run ingestions (SQL query → index).

    Against the service at CONNECTOR_URL (default http://127.0.0.1:8080), with CONNECTOR_TOKEN if set.
    """


@ingestion.command("put")
@INGESTION_ID
@click.option("--file", "file_", required=True, help='JSON body {"ingest": {...}}; - for stdin.')
def ingestion_put(ingestion_id: str, file_: str) -> None:
    """Create or replace an ingestion (validated before it is stored); prints the service's answer."""
    print_json(request("PUT", f"/ingestion/{ingestion_id}", read_body(file_)))


@ingestion.command("get")
@INGESTION_ID
@output_option
def ingestion_get(ingestion_id: str, output: Output) -> None:
    """Show an ingestion's definition (never its passwords)."""
    found = request("GET", f"/ingestion/{ingestion_id}", output=output, hints=listing_hint("ingestion"))
    if output == "json":
        print_json(found)
        return
    ingest = found["_source"]["ingest"]
    print_fields(
        [
            ("id", found["_id"]),
            ("datasource", ingest.get("datasource")),
            ("strategy", ingest.get("strategy")),
            ("target", ingest.get("target")),
            ("pk_field", ingest.get("pk_field")),
            ("partitions", ingest.get("partitions")),
            ("tracking", _tracking(ingest)),
            ("deletes", _deletes(ingest)),
            ("on conflict", ingest.get("on_mapping_conflict")),
            ("batch_size", ingest.get("batch_size")),
            ("schedule", _schedule(ingest)),
            ("transforms", len(ingest.get("transforms") or []) or None),
            ("description", ingest.get("description")),
            ("query", ingest.get("query")),
        ]
    )


def _tracking(ingest: dict[str, Any]) -> str | None:
    column = ingest.get("tracking_column")
    if not column:
        return None
    overlap = ingest.get("tracking_overlap")
    return f"{column}, overlap {overlap}" if overlap else str(column)


def _deletes(ingest: dict[str, Any]) -> str | None:
    delete = ingest.get("delete") or {}
    parts = []
    if delete.get("soft"):
        soft = delete["soft"]
        parts.append(f"soft: {soft.get('column')} in {soft.get('values')}")
    if delete.get("reconcile"):
        reconcile = delete["reconcile"]
        ratio = reconcile.get("max_delete_ratio")
        limit = f", at most {ratio * 100:g}% of the target" if isinstance(ratio, int | float) else ""
        parts.append(f"reconcile every {reconcile.get('every_runs') or 1} run(s){limit}")
    return "; ".join(parts) or None


def _schedule(ingest: dict[str, Any]) -> str | None:
    schedule = ingest.get("schedule")
    if not schedule:
        return None
    enabled = ingest.get("enable_scheduler", ingest.get("enable_schedule"))
    zone = f" {ingest['timezone']}" if ingest.get("timezone") else ""
    return f"{schedule}{zone} ({'enabled' if enabled else 'disabled'})"


@ingestion.command("list")
@FROM_OPTION
@click.option("--size", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many.")
@output_option
def ingestion_list(from_: int, size: int, output: Output) -> None:
    """List ingestions, by id."""
    found = request("GET", "/ingestion/_search", params={"from": from_, "size": size}, output=output)
    if output == "json":
        print_json(found)
        return
    print_table(INGESTION_COLUMNS, ingestion_rows(found), empty="no ingestions")
    more(found, from_, len(found["hits"]["hits"]))


INGESTION_COLUMNS = ("ID", "DATASOURCE", "STRATEGY", "TARGET", "SCHEDULE", "DESCRIPTION")


def ingestion_rows(found: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of `ingestion list` from a ``_search`` response."""
    rows = []
    for hit in found["hits"]["hits"]:
        ingest = hit["_source"]["ingest"]
        row = (ingest.get("datasource"), ingest.get("strategy"), ingest.get("target"), _schedule(ingest))
        rows.append((hit["_id"], *row, ingest.get("description")))
    return rows


@ingestion.command("delete")
@INGESTION_ID
def ingestion_delete(ingestion_id: str) -> None:
    """Delete an ingestion (not while it has a queued or running run); prints the service's answer."""

    def hints(ex: ClientError) -> Sequence[str]:
        return [f"abort the run first: connector jobs abort {ingestion_id}"] if ex.status == 409 else []

    print_json(request("DELETE", f"/ingestion/{ingestion_id}", hints=hints))


@ingestion.command("validate")
@INGESTION_ID
@click.option("--size", type=click.IntRange(1, 100), default=5, show_default=True, help="Rows to fetch and convert.")
def ingestion_validate(ingestion_id: str, size: int) -> None:
    """Dry run: rendered SQL, first documents, rejected rows, mapping; writes nothing."""
    print_json(request("POST", f"/ingestion/{ingestion_id}/_validate", {"size": size}))


def _name_values(_ctx: click.Context, _param: click.Parameter, given: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` options as a dict; anything else is refused, never dropped."""
    values: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE")
        values[name] = value
    return values


RUN_FLAGS = {"resume": "--resume", "allow_large": "--allow-large"}


def run_hints(ingestion_id: str, ex: ClientError, *, resume: bool) -> list[str]:
    """What to do when `ingestion run` is refused: follow or abort the active run, or run from the start."""
    if ex.status == 404:
        return ["connector ingestion list shows what exists"]
    if ex.status != 409:
        return []
    job = ex.body.get("job") if isinstance(ex.body, dict) else None
    if isinstance(job, dict) and job.get("status", {}).get("is_running"):
        return [
            f"follow it: connector jobs status {ingestion_id} --watch",
            f"or abort it: connector jobs abort {ingestion_id}",
        ]
    if resume:
        return [f"run it from the start: connector ingestion run {ingestion_id}"]
    return []


@ingestion.command("run")
@INGESTION_ID
@click.option(
    "--param", "params", multiple=True, callback=_name_values, help="NAME=VALUE for the query template; repeatable."
)
@click.option("--resume", is_flag=True, help="Continue the last failed or aborted run from its checkpoint.")
@click.option(
    "--allow-large", is_flag=True, help="Let this run write more rows than ingestion.max_rows_per_run allows."
)
@click.option("--watch", is_flag=True, help="Follow the run live; exit code 0 only if it succeeds.")
@output_option
def ingestion_run(
    ingestion_id: str, params: dict[str, str], resume: bool, allow_large: bool, watch: bool, output: Output
) -> None:
    """Queue a run of an ingestion (a worker executes it)."""

    queued = request(
        "POST",
        f"/ingestion/{ingestion_id}/_run",
        {"params": params} if params else None,
        params={"resume": resume or None, "allow_large": allow_large or None},
        output=output,
        flags=RUN_FLAGS,
        hints=lambda ex: run_hints(ingestion_id, ex, resume=resume),
    )
    if watch:
        watch_run(ingestion_id, queued["status"]["run_id"], output)
    if output == "json":
        print_json(queued)
        return
    echo(f"queued run {queued['status']['run_id']} of [{ingestion_id}]")
    echo(f"hint: follow it: connector jobs status {ingestion_id} --watch")
