"""Fixtures shared by the integration tests."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from connector.log_setup import configure_logging
from tests.conftest import Database


@pytest.fixture
def mariadb_user(mariadb: Database, mysql_server_url: str) -> Iterator[tuple[str, str]]:
    """A MariaDB user with SELECT on the test database: (user, password)."""
    user, password = f"u{uuid.uuid4().hex[:8]}", "Right-Pass-42"
    admin = sa.create_engine(mysql_server_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY '{password}'")
        conn.exec_driver_sql(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'")
        database = mariadb.engine.url.database
        conn.exec_driver_sql(f"GRANT SELECT ON {database}.* TO '{user}'@'%%'")
        conn.exec_driver_sql(f"GRANT SELECT ON {database}.* TO '{user}'@'localhost'")
    yield user, password
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP USER '{user}'@'%%'")
        conn.exec_driver_sql(f"DROP USER '{user}'@'localhost'")
    admin.dispose()


@pytest.fixture
def service_log() -> Iterator[io.StringIO]:
    """The service's own logging config (scrubbing filters included), into a buffer."""
    stream = io.StringIO()
    configure_logging("DEBUG")
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
