from __future__ import annotations

import pytest

from connector.jdbc_url import JdbcUrlError, translate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("jdbc", "expected"),
    [
        ("jdbc:postgresql://db.example:5433/sales", "postgresql+psycopg://db.example:5433/sales"),
        ("jdbc:postgresql://db.example/sales", "postgresql+psycopg://db.example:5432/sales"),
        ("jdbc:postgresql:sales", "postgresql+psycopg://localhost:5432/sales"),
        ("jdbc:postgresql://[::1]:5432/x", "postgresql+psycopg://[::1]:5432/x"),
        ("jdbc:mysql://h:3307/shop", "mysql+pymysql://h:3307/shop"),
        ("jdbc:mariadb://h/shop", "mysql+pymysql://h:3306/shop"),
        ("jdbc:sqlite:/var/data/x.db", "sqlite:////var/data/x.db"),
        ("jdbc:sqlite:relative.db", "sqlite:///relative.db"),
        ("jdbc:sqlserver://sql.example:1444;databaseName=dw", "mssql+pymssql://sql.example:1444/dw"),
        ("jdbc:sqlserver://sql.example;database=dw", "mssql+pymssql://sql.example:1433/dw"),
    ],
)
def test_urls(jdbc: str, expected: str) -> None:
    assert translate(jdbc).url.render_as_string(hide_password=False) == expected


def test_sqlite_memory() -> None:
    assert translate("jdbc:sqlite::memory:").url.database == ":memory:"


def test_credentials_and_properties_are_separated() -> None:
    out = translate("jdbc:postgresql://h/db?user=bob&password=s%40cret&ssl=true&currentSchema=sales&ApplicationName=x")
    assert (out.username, out.password) == ("bob", "s@cret")
    assert out.url.password is None
    assert out.connect_args == {"sslmode": "require", "options": "-c search_path=sales", "application_name": "x"}


def test_properties_argument_merges_with_query() -> None:
    out = translate("jdbc:mysql://h/db?useSSL=false", {"serverTimezone": "Europe/Paris", "connectTimeout": "5000"})
    assert out.timezone == "Europe/Paris"
    assert out.connect_args["ssl_disabled"] is True
    assert out.connect_args["connect_timeout"] == 5


def test_mysql_verify_identity() -> None:
    args = translate("jdbc:mysql://h/db?sslMode=VERIFY_IDENTITY").connect_args
    assert args["ssl_verify_cert"] is True
    assert args["ssl_verify_identity"] is True


def test_sqlserver_credentials() -> None:
    out = translate("jdbc:sqlserver://h:1433;databaseName=dw;user=sa;password=pw;loginTimeout=7")
    assert (out.username, out.password) == ("sa", "pw")
    assert out.connect_args == {"login_timeout": 7}


@pytest.mark.parametrize(
    ("jdbc", "message"),
    [
        ("jdbc:sybase:Tds:h:5000/db", "unsupported JDBC URL for [sybase]"),
        ("postgresql://h/db", "must start with jdbc:"),
        ("jdbc:postgresql://h/db?sslfactory=x", "only org.postgresql.ssl.NonValidatingFactory"),
        ("jdbc:postgresql://h:port/db", "port must be a number"),
        ("jdbc:postgresql://h1,h2/db", "several hosts"),
        ("jdbc:postgresql://h/db?ssl=maybe", "ssl must be true or false"),
        ("jdbc:postgresql://h/db?currentSchema=a;drop", "currentSchema must be schema names"),
        ("jdbc:mysql://h/db?sslMode=SOMETIMES", "sslMode must be"),
        ("jdbc:mysql:h/db", "expected //host"),
        ("jdbc:sqlserver://h;novalue", "malformed SQL Server property"),
        ("jdbc:sqlite:/x.db?mode=ro", None),
    ],
)
def test_errors(jdbc: str, message: str | None) -> None:
    if message is None:
        assert translate(jdbc).url.database == "/x.db"
        return
    with pytest.raises(JdbcUrlError) as caught:
        translate(jdbc)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("url", "properties", "expected"),
    [
        (
            "jdbc:postgresql://h/db",
            {"socketTimeout": "30", "loginTimeout": "5", "tcpKeepAlive": "true", "sslmode": "require"},
            {"tcp_user_timeout": 30000, "connect_timeout": 5, "keepalives": 1, "sslmode": "require"},
        ),
        ("jdbc:postgresql://h/db", {"sslfactory": "org.postgresql.ssl.NonValidatingFactory"}, {"sslmode": "require"}),
        ("jdbc:postgresql://h/db", {"prepareThreshold": "0", "reWriteBatchedInserts": "true"}, {}),
        (
            "jdbc:mysql://h/db",
            {"socketTimeout": "60000", "connectTimeout": "5000", "useSSL": "false", "tcpKeepAlive": "true"},
            {"charset": "utf8mb4", "read_timeout": 60, "write_timeout": 60, "connect_timeout": 5, "ssl_disabled": True},
        ),
        ("jdbc:mariadb://h/db", {"verifyServerCertificate": "true"}, {"charset": "utf8mb4", "ssl_verify_cert": True}),
    ],
)
def test_properties_copied_from_siren_configs_map_to_the_driver(
    url: str, properties: dict[str, str], expected: dict[str, object]
) -> None:
    assert translate(url, properties).connect_args == expected


@pytest.mark.parametrize("name", ["allowMultiQueries", "allowLoadLocalInfile", "sessionVariables", "autoDeserialize"])
def test_mysql_properties_that_loosen_the_session_are_refused_by_name(name: str) -> None:
    with pytest.raises(JdbcUrlError) as caught:
        translate("jdbc:mysql://h/db", {name: "true"})
    assert caught.value.prop == name
