from __future__ import annotations

import logging

import pytest

from connector.redaction import MASK, ScrubbingFilter, remember_secret, scrub, scrub_for_caller

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
    text = logging.Formatter().format(record)
    assert "Kx7-logged" not in text
    assert "boom" in text and MASK in text
    assert record.__dict__["error.type"] == "ValueError"
    assert record.__dict__["error.message"] == f"boom {MASK}"
    assert "Kx7-logged" not in record.__dict__["error.stack_trace"]


def test_secrets_are_masked_as_whole_values_only() -> None:
    remember_secret("xist")
    assert scrub("relation does not exist; password xist given") == f"relation does not exist; password {MASK} given"
    assert scrub("user:xist@host") == f"user:{MASK}@host"


def test_messages_for_callers_mask_only_the_secrets_given_and_password_forms() -> None:
    remember_secret("Global-Secret-1")
    message = 'relation "Own-Secret-2" does not exist; Global-Secret-1; postgresql://u:pw@h/db'
    # Other secrets of the process are not the caller's business, and not in its messages either.
    masked = scrub_for_caller(message, "Own-Secret-2")
    assert masked == f'relation "{MASK}" does not exist; Global-Secret-1; postgresql://u:{MASK}@h/db'
    plain = scrub_for_caller(message)
    assert plain == f'relation "Own-Secret-2" does not exist; Global-Secret-1; postgresql://u:{MASK}@h/db'
