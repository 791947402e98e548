"""Own `connector jobs ...`: follow, list and abort runs, search the job log."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from api.commands import watch as live
from api.commands.call import FROM_OPTION, ids, listing_hint, more, request
from api.commands.output import (
    Output,
    duration,
    echo,
    number,
    output_option,
    print_fields,
    print_json,
    print_lines,
    print_table,
    rate,
    stderr,
    stdout,
    when,
)


@click.group()
def jobs() -> None:
    """Follow, list and abort runs; search the job log.

    Against the service at CONNECTOR_URL (default http://127.0.0.1:8080), with CONNECTOR_TOKEN if set.
    """


JOB_ID = click.argument("job_id", shell_complete=ids("ingestion"))
TYPE_OPTION = click.option("--type", "job_type", default="ingestion", show_default=True, help="Job type.")


@jobs.command("status")
@JOB_ID
@TYPE_OPTION
@click.option("--watch", is_flag=True, help="Follow the current run live; exit code 0 only if it succeeds.")
@output_option
def jobs_status(job_id: str, job_type: str, watch: bool, output: Output) -> None:
    """Show a job's current run, else its last one."""
    found = request("GET", f"/jobs/{job_type}/{job_id}", output=output, hints=listing_hint("ingestion"))
    status = found["status"]
    if watch and status.get("is_running"):
        watch_run(job_id, status["run_id"], output)
    if output == "json":
        print_json(found)
        return
    print_fields(status_fields(status))  # a resumable run's row "resume" says how
    if watch:
        sys.exit(0 if status.get("state") == "successful" else 1)


def status_fields(status: dict[str, Any]) -> list[tuple[str, Any]]:
    start, end = status.get("start_time"), status.get("end_time")
    took_ms = end - start if isinstance(start, int) and isinstance(end, int) else None
    count = int(status.get("count") or 0)
    total = status.get("total")
    docs = f"{count:,} indexed, {int(status.get('error_count') or 0):,} rejected{live.deleted_text(status)}"
    if isinstance(total, int):
        docs += f", of {total:,} rows{' (estimate)' if status.get('is_running') else ''}"
    progress = status.get("progress")
    remaining = status.get("estimated_time_remaining")
    return [
        ("job", status.get("id")),
        ("state", status.get("state")),
        ("run", status.get("run_id")),
        ("documents", docs),
        ("progress", f"{progress:.0%}" if isinstance(progress, int | float) else None),
        ("ETA", duration(remaining) if status.get("is_running") and isinstance(remaining, int) else None),
        ("created", when(status.get("create_time"))),
        ("started", when(start)),
        ("ended", when(end)),
        ("duration", duration(took_ms) if took_ms is not None else None),
        ("rate", rate(count / (took_ms / 1000)) if took_ms else None),
        ("trigger", status.get("trigger")),
        ("worker", status.get("worker")),
        ("target", f"{status['target']} ({status.get('strategy')})" if status.get("target") else None),
        ("watermark", live.watermark_text(status)),
        ("partitions", live.partitions_text(status)),
        ("infos", status.get("infos")),
        *[("error", message) for message in status.get("error") or []],
        ("resume", f"connector ingestion run {status.get('id')} --resume" if status.get("resumable") else None),
    ]


@jobs.command("list")
@TYPE_OPTION
@output_option
def jobs_list(job_type: str, output: Output) -> None:
    """List the queued and running jobs."""
    found = request("GET", f"/jobs/{job_type}", output=output)
    if output == "json":
        print_json(found)
        return
    print_table(ACTIVE_COLUMNS, active_rows(found), empty="no queued or running jobs")


ACTIVE_COLUMNS = ("ID", "STATE", "DOCS", "PROGRESS", "ETA", "STARTED", "WORKER")


def active_rows(found: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of `jobs list` from ``GET /jobs/<type>``."""
    rows = []
    for job in found["jobs"]:
        status = job["status"]
        progress = status.get("progress")
        remaining = status.get("estimated_time_remaining")
        rows.append(
            (
                job["_id"],
                status.get("state"),
                number(status.get("count")),
                f"{progress:.0%}" if isinstance(progress, int | float) else "",
                duration(remaining) if isinstance(remaining, int) else "",
                when(status.get("start_time")),
                status.get("worker"),
            )
        )
    return rows


@jobs.command("history")
@click.argument("job_id", required=False, shell_complete=ids("ingestion"))
@click.option("--state", help="Only runs in these states (comma list: successful,error,aborted,...).")
@FROM_OPTION
@click.option("--size", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many.")
@output_option
def jobs_history(job_id: str | None, state: str | None, from_: int, size: int, output: Output) -> None:
    """Search the job log, newest run first (all jobs, or JOB_ID's)."""
    params = {"id": job_id, "state": state, "from": from_, "size": size}
    found = request("GET", "/jobs/_search", params=params, output=output)
    if output == "json":
        print_json(found)
        return
    print_table(HISTORY_COLUMNS, history_rows(found), empty="no runs")
    more(found, from_, len(found["hits"]["hits"]))


HISTORY_COLUMNS = ("RUN", "STATE", "STARTED", "DURATION", "DOCS", "REJECTED", "TRIGGER")


def history_rows(found: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of `jobs history` from a job-log ``_search`` response (seed 003 shape)."""
    rows = []
    for hit in found["hits"]["hits"]:
        status = next(iter(hit["_source"].values()))
        start, end = status.get("start_time"), status.get("end_time")
        took = duration(end - start) if isinstance(start, int) and isinstance(end, int) else ""
        rows.append(
            (
                hit["_id"],
                status.get("state"),
                when(start or status.get("create_time")),
                took,
                number(status.get("count")),
                number(status.get("error_count")),
                status.get("trigger"),
            )
        )
    return rows


@jobs.command("abort")
@JOB_ID
@TYPE_OPTION
@output_option
def jobs_abort(job_id: str, job_type: str, output: Output) -> None:
    """Abort the job's queued or running run (it stops between batches)."""
    found = request("POST", f"/jobs/{job_type}/{job_id}/_abort", output=output)
    if output == "json":
        print_json(found)
        return
    status = found.get("status", {})
    echo(f"{job_id} {status.get('state')}: run {status.get('run_id')}, {number(status.get('count'))} documents")


def watch_run(job_id: str, run_id: str, output: Output) -> NoReturn:
    """Follow one run to its end, print its summary (or its envelope), exit 0 only if it succeeded."""
    path = f"/jobs/ingestion/{job_id}/_runs/{run_id}"
    last: dict[str, Any] = {}

    def fetch() -> dict[str, Any]:
        last.update(request("GET", path, output=output))
        return dict(last["status"])

    try:
        final = live.follow(fetch, job_id=job_id, console=stderr())
    except KeyboardInterrupt:
        echo(f"\nstopped watching; the run goes on (abort it: connector jobs abort {job_id})", err=True)
        sys.exit(130)
    if output == "json":
        print_json(last)
    else:
        lines = live.summary(final, resumable=bool(final.get("resumable")))
        style = live.STATE_STYLE.get(str(final.get("state")), "white")
        console = stdout()
        print_lines(lines[:1], console=console, style=f"bold {style}")
        print_lines(lines[1:], console=console)
    sys.exit(0 if final.get("state") == "successful" else 1)
