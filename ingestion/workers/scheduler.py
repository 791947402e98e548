"""Own scheduled runs: each fire time of each enabled schedule produces one job-log entry.

There is no coordinator: every worker process runs a scheduler. A fire time
``F`` of ingestion ``I`` has a deterministic run id (``I`` + a UUID derived
from ``I`` and ``F``), and the job store creates the job-log document with
that id only once (``op_type=create``): the queued run, or a ``skipped``
record when the previous run is still active (one run at a time). So a fire
time gives one entry whatever the number of schedulers.

Only the latest due fire time is considered, and only if it is at most
``misfire_grace_s`` old and not older than the definition's last change: fire
times missed while every instance was down fire once on start-up, and a
changed schedule takes effect at the next tick without firing the past.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

from connector import metrics
from connector.cron import CronError
from connector.errors import ConnectorError
from connector.ingestion_def import Ingestion
from connector.ingestion_store import IngestionStore
from connector.job_state import INGESTION
from connector.job_store import JobStore, NewRun
from connector.settings import WorkerSettings

log = logging.getLogger(__name__)

FIRE_NAMESPACE = uuid.UUID("6f1c9a36-5b1e-4c1e-9a55-0c9b2f6a7d10")


def fire_run_uuid(ingestion_id: str, fire_time_ms: int) -> uuid.UUID:
    """The run UUID of a fire time: the same in every scheduler instance."""
    return uuid.uuid5(FIRE_NAMESPACE, f"{ingestion_id}@{fire_time_ms}")


class Scheduler:
    def __init__(
        self,
        jobs: JobStore,
        ingestions: IngestionStore,
        settings: WorkerSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jobs = jobs
        self.ingestions = ingestions
        self.settings = settings
        self._clock = clock

    def tick(self) -> list[str]:
        """Create the runs that are due; return the run ids this instance created."""
        now = dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC)
        created = []
        for ingestion in self.ingestions.scheduled():
            try:
                run_id = self._fire(ingestion, now)
            except ConnectorError as ex:
                log.warning("scheduling %s failed: %s", ingestion.id, ex.reason)
                continue
            if run_id:
                created.append(run_id)
        return created

    def _fire(self, ingestion: Ingestion, now: dt.datetime) -> str | None:
        definition = ingestion.definition
        try:
            schedule = definition.parsed_schedule()
        except CronError as ex:
            log.error("ingestion %s has an invalid schedule: %s", ingestion.id, ex)
            return None
        if schedule is None:
            return None
        since = max(
            now - dt.timedelta(seconds=self.settings.misfire_grace_s),
            dt.datetime.fromtimestamp(ingestion.updated_at / 1000, tz=dt.UTC),
        )
        fire = schedule.latest_between(since, now)
        if fire is None:
            return None
        fire_ms = int(fire.timestamp() * 1000)
        new = NewRun(
            INGESTION,
            ingestion.id,
            target=definition.target,
            strategy=definition.strategy,
            trigger="schedule",
            fire_time=fire_ms,
        )
        run = self.jobs.fire(new, fire_run_uuid(ingestion.id, fire_ms))
        if run is None:
            return None
        metrics.scheduler_fired(ingestion.id)
        log.info("scheduled run %s for %s fire time %s", run.status.run_id, ingestion.id, fire.isoformat())
        return run.status.run_id
