"""Own progress and ETA of a run from its row estimate and observed rate (seeds 000, 002)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# Below this much elapsed time the rate is noise (first batch, connection set-up).
MIN_ELAPSED_MS = 500


@dataclass(frozen=True, slots=True)
class Progress:
    total: int | None
    started_ms: int
    done_before: int = 0  # rows a resumed run had already read: not part of this attempt's rate

    def at(self, done: int, now_ms: int) -> dict[str, Any]:
        """``progress``, ``estimated_time_remaining`` (ms) and ``eta``, or nothing when unknown.

        An estimate that the run has already outgrown is wrong, so nothing is said.
        """
        if not self.total or done > self.total:
            return {"progress": None, "estimated_time_remaining": None, "eta": None}
        # Never 1.0 before the end: the estimate may be short and the last batch still running.
        progress = min(round(done / self.total, 4), 0.99)
        elapsed = now_ms - self.started_ms
        done_now = done - self.done_before
        if done_now <= 0 or elapsed < MIN_ELAPSED_MS:
            return {"progress": progress, "estimated_time_remaining": None, "eta": None}
        remaining_ms = int((self.total - done) * elapsed / done_now)
        eta = dt.datetime.fromtimestamp((now_ms + remaining_ms) / 1000, tz=dt.UTC)
        return {
            "progress": progress,
            "estimated_time_remaining": remaining_ms,
            "eta": eta.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
