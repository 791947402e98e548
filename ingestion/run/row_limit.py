"""Own the per-run row limit (``ingestion.max_rows_per_run``) and its refusal.

A cluster that holds everything in memory (the embedded server of
`connector dev`) is taken down by one large run; the limit stops a run before
it writes anything when the estimate already says it is too large, and, when
there is no estimate or it was short, before the batch that would pass it.
A run started with ``allow_large`` is not limited.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import ConnectorError


class TooManyRows(ConnectorError):
    """The run would write more rows than the limit allows; nothing past the limit was written."""

    error_type = "too_many_rows_exception"


@dataclass(frozen=True, slots=True)
class RowLimit:
    job_id: str
    limit: int  # 0: no limit
    allowed: bool  # the run was started with allow_large

    @property
    def active(self) -> bool:
        return self.limit > 0 and not self.allowed

    def check_estimate(self, total: int | None) -> None:
        """Refuse a run whose estimated rows exceed the limit (before anything is written)."""
        if self.active and total is not None and total > self.limit:
            raise TooManyRows(
                f"ingestion [{self.job_id}] would read about {total} rows, more than ingestion.max_rows_per_run "
                f"({self.limit}); nothing was written. {self._how()}"
            )

    def check_batch(self, rows_read: int, batch_rows: int) -> None:
        """Refuse the batch that would take the run past the limit (the estimate was missing or short)."""
        if self.active and rows_read + batch_rows > self.limit:
            raise TooManyRows(
                f"ingestion [{self.job_id}] has more rows than ingestion.max_rows_per_run ({self.limit}); "
                f"stopped after {rows_read} rows (a REPLACE target is left untouched). {self._how()}"
            )

    def _how(self) -> str:
        return (
            f"To run it anyway: POST /_siren/connector/ingestion/{self.job_id}/_run?allow_large=true "
            f"(connector ingestion run {self.job_id} --allow-large), or raise the setting "
            "(CONNECTOR_INGESTION_MAX_ROWS_PER_RUN, 0 = no limit)."
        )
