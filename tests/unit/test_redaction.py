from __future__ import annotations

import logging

import pytest

from connector.redaction import MASK, ScrubbingFilter, remember_secret, scrub

pytestmark = pytest.mark.unit


def test_url_and_parameter_passwords() -> None:
    assert scrub("postgresql://bob:pa55@h/db") == f"postgresql://bob:{MASK}@h/db"
    assert scrub("connect password=topsecret host=x") == f"connect password={MASK} host=x"
    assert scrub("jdbc:sqlserver://h;password=x1y2;user=sa") == f"jdbc:sqlserver://h;password={MASK};user=sa"


def test_remembered_and_extra_secrets() -> None:
    remember_secret("Zq9-remembered")
    assert scrub("auth failed for Zq9-remembered and tmp-extra", "tmp-extra") == f"auth failed for {MASK} and {MASK}"


def test_log_filter_scrubs_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    remember_secret("Kx7-logged")
    logger = logging.getLogger("test.redaction")
    handler_filter = ScrubbingFilter()
    record = logger.makeRecord("test", logging.ERROR, __file__, 1, "value %s", ("Kx7-logged",), None)
    try:
        raise ValueError("boom Kx7-logged")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    handler_filter.filter(record)
    text = record.getMessage()
    assert "Kx7-logged" not in text
    assert "boom" in text and MASK in text
