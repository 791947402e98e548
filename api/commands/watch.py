"""Own `--watch`: one run followed live, then its final state and a short summary.

The live line shows what the service says: the run's state as of the last
status (never a stale "queued"), its progress, documents, the indexing rate
measured over the last polls, and the service's own ETA
(``estimated_time_remaining``) — one ETA, not a second one guessed by the
widget. When stderr is not a terminal, state changes are printed as lines.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from api.commands.output import duration, print_lines, rate, shown

FINAL_STATES = frozenset({"successful", "error", "aborted", "skipped"})
RATE_WINDOW_S = 10.0  # the rate is measured over the polls of this last stretch
STATE_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "aborting": "magenta",
    "successful": "green",
    "error": "red",
    "aborted": "magenta",
}
MARK = {"successful": "✓", "error": "✗", "aborted": "■", "skipped": "-"}


class RateMeter:
    """Documents per second over a sliding window of (time, count) samples."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at_s: float, count: int) -> float | None:
        self._samples.append((at_s, count))
        while len(self._samples) > 2 and at_s - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        first_s, first_count = self._samples[0]
        if at_s - first_s <= 0:
            return None
        return max(0.0, (count - first_count) / (at_s - first_s))


class _Bar(ProgressColumn):
    """A progress bar only when the total is known (no full-looking pulse for an unknown one)."""

    def __init__(self) -> None:
        super().__init__()
        self._bar = BarColumn()

    def render(self, task: Task) -> RenderableType:
        return Text("") if task.total is None else self._bar.render(task)


def live_fields(status: dict[str, Any], docs_per_s: float | None) -> dict[str, Any]:
    """The texts of the live line for one status."""
    state = status.get("state", "?")
    count = int(status.get("count") or 0)
    total = status.get("total")
    progress = status.get("progress")
    remaining = status.get("estimated_time_remaining")
    return {
        "state": f"[{STATE_STYLE.get(state, 'white')}]{escape(shown(str(state), one_line=True))}[/]",
        "pct": f"{progress:.0%}" if isinstance(progress, int | float) else "",
        "docs": f"{count:,}/{total:,} docs" if isinstance(total, int) else f"{count:,} docs",
        "rate": rate(docs_per_s) if state != "queued" else "",
        "eta": f"ETA {duration(remaining)}" if isinstance(remaining, int) and state == "running" else "ETA —",
    }


def follow(
    fetch: Callable[[], dict[str, Any]],
    *,
    job_id: str,
    console: Console,
    interval_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll ``fetch`` (a run's status) until the run ends; return its final status."""
    meter = RateMeter()
    status = fetch()
    if not console.is_terminal:
        return _follow_plain(fetch, status, job_id=job_id, console=console, interval_s=interval_s, sleep=sleep)
    progress = Progress(
        TextColumn("{task.description} {task.fields[state]}"),
        _Bar(),
        TextColumn("{task.fields[pct]:>4}"),
        TextColumn("{task.fields[docs]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[eta]}"),
        console=console,
        transient=True,
        auto_refresh=False,
    )
    with progress:
        task: TaskID = progress.add_task(escape(shown(job_id, one_line=True)), total=None, **live_fields(status, None))
        while status.get("state") not in FINAL_STATES:
            # The rate counts running time only: not the wait in the queue.
            docs_per_s = meter.add(clock(), int(status.get("count") or 0)) if status.get("state") == "running" else None
            _show(progress, task, status, docs_per_s)
            sleep(interval_s)
            status = fetch()
    return status


def _show(progress: Progress, task: TaskID, status: dict[str, Any], docs_per_s: float | None) -> None:
    total = status.get("total")
    done = status.get("progress")
    if isinstance(total, int) and total > 0 and isinstance(done, int | float):
        progress.update(task, total=total, completed=done * total, **live_fields(status, docs_per_s))
    else:
        progress.update(task, total=None, **live_fields(status, docs_per_s))
    progress.refresh()


def _follow_plain(
    fetch: Callable[[], dict[str, Any]],
    status: dict[str, Any],
    *,
    job_id: str,
    console: Console,
    interval_s: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    printed = None
    while True:
        state = status.get("state")
        if state != printed and state not in FINAL_STATES:
            print_lines([f"{job_id} {state}"], console=console)
            printed = state
        if state in FINAL_STATES:
            return status
        sleep(interval_s)
        status = fetch()


def summary(status: dict[str, Any], *, resumable: bool = False) -> list[str]:
    """The final state line, then run, documents, duration and rate, and every error message in full.

    ``resumable``: the status says a resume continues the run from a checkpoint (``--resume``).
    """
    state = str(status.get("state"))
    job_id = status.get("id")
    count = int(status.get("count") or 0)
    rejected = int(status.get("error_count") or 0)
    start, end = status.get("start_time"), status.get("end_time")
    took_ms = end - start if isinstance(start, int) and isinstance(end, int) else None
    docs_per_s = count / (took_ms / 1000) if took_ms else None
    took = "in" if state == "successful" else "after"
    lines = [
        f"{MARK.get(state, '?')} {job_id} {state} {took} {duration(took_ms)}: "
        f"{count:,} documents, {rejected:,} rejected{deleted_text(status)}, {rate(docs_per_s)}",
        f"  run        {status.get('run_id')}",
    ]
    if status.get("target"):
        lines.append(f"  target     {status.get('target')} ({status.get('strategy')})")
    watermark, ranges = watermark_text(status), partitions_text(status)
    if watermark:
        lines.append(f"  watermark  {watermark}")
    if ranges:
        lines.append(f"  partitions {ranges}")
    if status.get("infos") and state != "successful":
        lines.append(f"  infos      {status['infos']}")
    lines += [f"  error      {message}" for message in status.get("error") or []]
    if rejected and status.get("links", {}).get("errors"):
        lines.append(f"  rejected   GET {status['links']['errors']} (NDJSON; ?format=csv)")
    if state in ("error", "aborted") and resumable:
        lines.append(f"hint: continue it from its checkpoint: connector ingestion run {job_id} --resume")
    return lines


def deleted_text(status: dict[str, Any]) -> str:
    """``, N deleted`` when the run deleted documents (change sync), else nothing."""
    deleted = int(status.get("deleted") or 0)
    return f", {deleted:,} deleted" if deleted else ""


def watermark_text(status: dict[str, Any]) -> str | None:
    """Where the next run of a tracking column reads from: ``value (key pk)``."""
    watermark = status.get("watermark")
    if not isinstance(watermark, dict):
        return None
    # Database values: one line each, so a value cannot pass for lines of its own.
    return shown(f"{watermark.get('value')} (key {watermark.get('pk')})", one_line=True)


def partitions_text(status: dict[str, Any]) -> str | None:
    """A partitioned run's ranges by state: ``4 ranges: 3 done, 1 running``."""
    ranges = status.get("partitions")
    if not isinstance(ranges, list) or not ranges:
        return None
    states: dict[str, int] = {}
    for item in ranges:
        state = str(item.get("state")) if isinstance(item, dict) else "?"
        states[state] = states.get(state, 0) + 1
    return f"{len(ranges)} ranges: " + ", ".join(f"{n} {state}" for state, n in states.items())
