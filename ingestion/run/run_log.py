"""Own the two lines every run execution logs: when it starts and when it ends (SPEC §12).

The end line says the outcome, the counts, how long this execution took and
its rate, and why a run did not succeed. In JSON logs the same facts are
fields (``run.state``, ``run.count``, ``run.error_count``, ``run.rows``,
``run.duration_s``, ``run.rate``, ``run.reason``, ``event.*``); the job id, run
id and worker come from the run's log context.
"""

from __future__ import annotations

import logging

from connector.job_state import RunStatus

log = logging.getLogger("ingestion.run")

_OUTCOMES = {"successful": "success", "error": "failure", "aborted": "failure", "reaped": "failure"}


def count_at_start(status: RunStatus) -> int:
    """Documents already indexed when an execution starts (a resumed run starts from its checkpoint)."""
    return int(status.checkpoint["count"]) if status.checkpoint else 0


def run_started(status: RunStatus) -> None:
    resumed = f", resuming from key {status.checkpoint['pk']}" if status.checkpoint else ""
    log.info(
        "run %s started: %s, %s into %s%s",
        status.run_id,
        status.trigger,
        status.strategy or "-",
        status.target or "-",
        resumed,
        extra={
            "event.action": "run-started",
            "run.trigger": status.trigger,
            "run.strategy": status.strategy,
            "run.target": status.target,
        },
    )


def run_ended(status: RunStatus, outcome: str, *, seconds: float, count_before: int) -> None:
    """Log the end of an execution; ``outcome`` is the metrics' (``connector.metrics.run_outcome``)."""
    indexed_now = max(0, status.count - count_before)
    rate = indexed_now / seconds if seconds > 0 else 0.0
    rows = f", {status.total} rows read" if status.total is not None and outcome == "successful" else ""
    reason = _reason(status, outcome)
    level = logging.INFO if outcome in ("successful", "handed_back") else logging.WARNING
    log.log(
        level,
        "run %s ended %s: %d documents indexed, %d rejected%s, in %.1f s (%.0f docs/s)%s",
        status.run_id,
        outcome,
        status.count,
        status.error_count,
        rows,
        seconds,
        rate,
        f"; {reason}" if reason else "",
        extra={
            "event.action": "run-ended",
            "event.outcome": _OUTCOMES.get(outcome, "unknown"),
            "event.duration": int(seconds * 1e9),  # ECS: nanoseconds
            "run.state": outcome,
            "run.count": status.count,
            "run.error_count": status.error_count,
            "run.rows": status.total if outcome == "successful" else None,
            "run.duration_s": round(seconds, 3),
            "run.rate": round(rate, 1),
            "run.reason": reason,
        },
    )


def _reason(status: RunStatus, outcome: str) -> str | None:
    if outcome == "successful":
        return None
    if outcome == "error" and status.error:
        return " ".join(status.error)
    if outcome == "lost":
        return "the run was taken away from this worker (reaped or taken over); it stopped writing"
    return status.infos
