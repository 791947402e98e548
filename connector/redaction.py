"""Own secret scrubbing: texts, URLs and every log record of the process.

Every secret the process handles in clear (decrypted or received) is
remembered here, and the log filter replaces it wherever it appears, so a
driver message that echoes a password cannot leak it through any log level.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "*****"
_MIN_SECRET_LEN = 3  # shorter values would mask ordinary words and digits
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:)(?P<pw>[^@\s/]+)(?=@)")
_PARAM_PASSWORD = re.compile(r"(?i)(?P<head>\b(?:password|passwd|pwd)\s*[=:]\s*)(?P<pw>'[^']*'|\"[^\"]*\"|[^\s;&,)]+)")

_lock = threading.Lock()
_known: set[str] = set()


def remember_secret(value: str | None) -> None:
    """Register a clear secret so that :func:`scrub` and the log filter hide it."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _known.add(value)


def scrub(text: str, *extra: str | None) -> str:
    """Hide known secrets, ``extra`` values, URL passwords and ``password=`` pairs."""
    with _lock:
        secrets = sorted(_known.union(s for s in extra if s), key=len, reverse=True)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _PARAM_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


class ScrubbingFilter(logging.Filter):
    """Log filter that renders each record's message and scrubs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now so it is scrubbed too.
            formatted = logging.Formatter().formatException(record.exc_info)
            cleaned = f"{cleaned}\n{scrub(formatted)}"
            record.exc_info = None
            record.exc_text = None
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True
