"""Own secret scrubbing: texts, URLs and every log record of the process.

Every secret the process handles in clear (decrypted or received) is
remembered here, and the log filter replaces it wherever it appears, so a
driver message that echoes a password cannot leak it through any log level.

A secret is masked only where it stands as a whole value (``bob:s3cret@``,
``"s3cret"``), never inside a longer word. Messages returned to a caller
(:func:`scrub_for_caller`: API errors, job statuses) mask the secrets of the
connection they are about, plus URL and ``password=`` forms, but leave alone
what the caller itself wrote in the request (:func:`caller_input`): masking
a guess that happens to be right would tell the caller it was right.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MASK = "*****"
_MIN_SECRET_LEN = 3  # shorter values would mask ordinary words and digits
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:)(?P<pw>[^@\s/]+)(?=@)")
_PARAM_PASSWORD = re.compile(r"(?i)(?P<head>\b(?:password|passwd|pwd)\s*[=:]\s*)(?P<pw>'[^']*'|\"[^\"]*\"|[^\s;&,)]+)")

_WORD = re.compile(r"\w")
_lock = threading.Lock()
_known: set[str] = set()
_caller_input: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("caller_input", default=())


def remember_secret(value: str | None) -> None:
    """Register a clear secret so that :func:`scrub` and the log filter hide it."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _known.add(value)


def scrub(text: str, *extra: str | None) -> str:
    """Hide known secrets, ``extra`` values, URL passwords and ``password=`` pairs (for logs)."""
    with _lock:
        secrets = _known.union(s for s in extra if s)
    return _mask(text, secrets)


def scrub_for_caller(text: str, *extra: str | None) -> str:
    """Hide ``extra`` secrets (the connection's own), URL passwords and ``password=`` pairs, for a caller.

    A secret that the caller wrote in its own request is not masked.
    """
    given = _caller_input.get()
    return _mask(text, {s for s in extra if s and not any(s in part for part in given)})


@contextmanager
def caller_input(*texts: str | None) -> Iterator[None]:
    """Declare what the caller wrote (a query, parameters) for messages made inside the block."""
    token = _caller_input.set(tuple(t for t in texts if t))
    try:
        yield
    finally:
        _caller_input.reset(token)


def _mask(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            # Whole values only: "xist" is not masked inside "exist".
            before = r"(?<!\w)" if _WORD.match(secret[0]) else ""
            after = r"(?!\w)" if _WORD.match(secret[-1]) else ""
            text = re.sub(f"{before}{re.escape(secret)}{after}", MASK, text)
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
