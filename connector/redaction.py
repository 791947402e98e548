"""Own secret scrubbing: texts, URLs and every log record of the process.

Every secret the process handles in clear (decrypted or received) is
remembered here, and the log filter replaces it wherever it appears, so a
driver message that echoes a password cannot leak it through any log level.

A secret is masked only where it stands as a whole value (``bob:s3cret@``,
``"s3cret"``), never inside a longer word. Messages returned to a caller
(:func:`scrub_for_caller`: API errors, job statuses) mask only the secrets
given to them — a connection's password in the errors of connecting, where a
driver may echo it — plus URL and ``password=`` forms, which are masked
whatever they hold. Errors of a query are never masked by content: the
database cannot know the password, so any that appears was built by the
query itself, and masking it would confirm a guess.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "*****"
_MIN_SECRET_LEN = 3  # shorter values would mask ordinary words and digits
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:)(?P<pw>[^@\s/]+)(?=@)")
_PARAM_PASSWORD = re.compile(r"(?i)(?P<head>\b(?:password|passwd|pwd)\s*[=:]\s*)(?P<pw>'[^']*'|\"[^\"]*\"|[^\s;&,)]+)")

_WORD = re.compile(r"\w")
_lock = threading.Lock()
_known: set[str] = set()


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
    """Hide ``extra`` secrets, URL passwords and ``password=`` pairs, for a message returned to a caller."""
    return _mask(text, {s for s in extra if s})


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
            # Render the traceback now so it is scrubbed too. Formatters print exc_text after the
            # message; structured (JSON) ones read the exception from the ECS fields kept here.
            error = record.exc_info[1]
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.__dict__.update(
                {
                    "error.type": type(error).__name__,
                    "error.message": scrub(str(error)),
                    "error.stack_trace": record.exc_text,
                }
            )
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True
