"""Own gunicorn's logs: its access and error lines go through the service's secret scrubbing.

gunicorn writes them with loggers of its own that do not propagate to the
root handlers, so the filter installed by ``connector.log_setup`` never saw
them: a password in a request's query string reached the access log in
clear (issue 11). The filter is put on the loggers themselves, which covers
every handler gunicorn gives them.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from connector.redaction import ScrubbingFilter


class ScrubbedLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger class, with :class:`ScrubbingFilter` on the access and error logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, ScrubbingFilter) for f in logger.filters):
                logger.addFilter(ScrubbingFilter())
