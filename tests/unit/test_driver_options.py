"""SPEC §14: the allow-lists of driver options, TLS and SQLite roots, and the SQLite authorizer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from connector.driver_options import DriverPolicy, OptionRefused, check_options, sqlite_authorizer, sqlite_path

pytestmark = pytest.mark.unit

NONE = DriverPolicy()


@pytest.mark.parametrize(
    ("backend", "name", "value"),
    [
        ("mysql", "local_infile", True),
        ("mysql", "client_flag", 65536),
        ("mysql", "init_command", "SET x=1"),
        ("mysql", "read_default_file", "/etc/passwd"),
        ("mysql", "read_default_group", "client"),
        ("mysql", "unix_socket", "/tmp/s"),
        ("mariadb", "auth_plugin_map", "x"),
        ("postgresql", "passfile", "/etc/passwd"),
        ("postgresql", "service", "x"),
        ("postgresql", "sslpassword", "x"),
        ("mssql", "conn_properties", "SET x"),
        ("sqlite", "uri", True),
        ("nosuch", "timeout", 1),
    ],
)
def test_options_that_loosen_the_session_or_reach_files_are_not_listed(backend: str, name: str, value: object) -> None:
    with pytest.raises(OptionRefused) as caught:
        check_options(backend, {name: value}, NONE)
    assert caught.value.name == name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("options", "-c default_transaction_read_only=off"),
        ("options", "-c search_path=x -c session_replication_role=replica"),
        ("options", "--search_path=x"),
        ("host", "/var/run/postgresql"),
        ("host", "db,/tmp"),
        ("sslmode", "whatever"),
        ("connect_timeout", "1e9"),
    ],
)
def test_postgresql_values_are_checked(name: str, value: str) -> None:
    with pytest.raises(OptionRefused):
        check_options("postgresql", {name: value}, NONE)


def test_allowed_options_are_converted_for_the_driver() -> None:
    assert check_options(
        "postgresql", {"sslmode": "require", "connect_timeout": "5", "options": "-c search_path=a,b"}, NONE
    ) == {"sslmode": "require", "connect_timeout": 5, "options": "-c search_path=a,b"}
    assert check_options("mysql", {"ssl_verify_cert": "true", "read_timeout": 30}, NONE) == {
        "ssl_verify_cert": True,
        "read_timeout": 30,
    }


def test_tls_files_only_under_the_tls_roots(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "link.pem").symlink_to("/etc/passwd")
    policy = DriverPolicy.of(sqlite_roots=(), tls_roots=[str(tmp_path)])
    assert check_options("postgresql", {"sslrootcert": str(tmp_path / "ca.pem")}, policy)
    assert check_options("postgresql", {"sslrootcert": "system"}, NONE) == {"sslrootcert": "system"}
    for path in ("/etc/passwd", str(tmp_path / "link.pem"), f"{tmp_path}/../etc/passwd", "ca.pem"):
        with pytest.raises(OptionRefused):
            check_options("postgresql", {"sslrootcert": path}, policy)
    with pytest.raises(OptionRefused):
        check_options("mysql", {"ssl_ca": str(tmp_path / "ca.pem")}, NONE)  # no roots set


def test_sqlite_files_only_under_the_sqlite_roots(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "ok.db").touch()
    (root / "escape.db").symlink_to("/etc/passwd")
    policy = DriverPolicy.of(sqlite_roots=[str(root)], tls_roots=())
    assert sqlite_path(str(root / "ok.db"), policy) == str(root / "ok.db")
    assert sqlite_path(":memory:", NONE) == ":memory:"
    for path in (
        "/etc/passwd",
        str(root / "escape.db"),
        str(root) + "/../x.db",
        "relative.db",
        str(tmp_path / "dataX.db"),
    ):
        with pytest.raises(OptionRefused):
            sqlite_path(path, policy)
    with pytest.raises(OptionRefused):
        sqlite_path(str(root / "ok.db"), NONE)


def test_the_authorizer_denies_attach_vacuum_into_and_setting_pragmas(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with sqlite3.connect(db) as setup:
        setup.execute("CREATE TABLE t (id INTEGER)")
    setup.close()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.set_authorizer(sqlite_authorizer)
    for statement in (
        f"ATTACH '{tmp_path}/b.db' AS b",
        f"VACUUM INTO '{tmp_path}/c.db'",
        "PRAGMA query_only = OFF",
        "SELECT load_extension('x')",
    ):
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute(statement)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert conn.execute("PRAGMA table_info(t)").fetchall()  # describing pragmas stay allowed
    conn.close()
    assert not (tmp_path / "b.db").exists()
    assert not (tmp_path / "c.db").exists()
