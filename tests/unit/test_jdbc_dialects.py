"""SPEC §15: JDBC URLs of Oracle, SQL Server's named forms, Trino, Presto, Redshift, Snowflake,
ClickHouse, Db2 and DuckDB → SQLAlchemy URLs and driver arguments, refused properties by name,
and every translated argument through the dialect's allow-list (SPEC §14)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.crypto import SecretBox
from connector.datasource import Datasource, DatasourceBody
from connector.driver_options import DriverPolicy, OptionRefused, check_options
from connector.errors import InvalidDefinition
from connector.jdbc_url import JdbcUrlError, translate

pytestmark = pytest.mark.unit

BOX = SecretBox(SecretBox.generate_key())
NONE = DriverPolicy()

FORMS: list[tuple[str, str, dict[str, Any]]] = [
    # Oracle thin: service name, SID, Easy Connect without //, connect descriptors
    (
        "jdbc:oracle:thin:@//db.example:1521/ORCLPDB1",
        "oracle+oracledb://db.example:1521/ORCLPDB1",
        {"service_name": "ORCLPDB1"},
    ),
    (
        "jdbc:oracle:thin:@//db.example/sales.example.com",
        "oracle+oracledb://db.example:1521/sales.example.com",
        {"service_name": "sales.example.com"},
    ),
    ("jdbc:oracle:thin:@db.example:1522:ORCL", "oracle+oracledb://db.example:1522/ORCL", {"sid": "ORCL"}),
    (
        "jdbc:oracle:thin:@db.example:1521/XEPDB1",
        "oracle+oracledb://db.example:1521/XEPDB1",
        {"service_name": "XEPDB1"},
    ),
    ("jdbc:oracle:thin:@[::1]:1521:X", "oracle+oracledb://[::1]:1521/X", {"sid": "X"}),
    (
        "jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=db.example)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=sales)))",
        "oracle+oracledb://db.example:1521/sales",
        {"service_name": "sales"},
    ),
    (
        "jdbc:oracle:thin:@ (DESCRIPTION = (CONNECT_TIMEOUT=5)(RETRY_COUNT=3)(ADDRESS_LIST = (ADDRESS = (PROTOCOL = TCPS)"
        "(HOST = db.example)(PORT = 2484))) (CONNECT_DATA = (SERVER = DEDICATED) (SID = ORCL))"
        '(SECURITY=(SSL_SERVER_CERT_DN="CN=db.example")))',
        "oracle+oracledb://db.example:2484/ORCL",
        {
            "sid": "ORCL",
            "protocol": "tcps",
            "tcp_connect_timeout": 5,
            "retry_count": 3,
            "ssl_server_cert_dn": "CN=db.example",
        },
    ),
    (
        "jdbc:oracle:thin:@//h/s?oracle.net.CONNECT_TIMEOUT=5000",
        "oracle+oracledb://h:1521/s",
        {"service_name": "s", "tcp_connect_timeout": 5.0},
    ),
    # SQL Server named instances (the SQL Server Browser finds the port) and jTDS
    ("jdbc:sqlserver://sql.example\\SALES;databaseName=dw", "mssql+pymssql://sql.example\\SALES/dw", {}),
    ("jdbc:sqlserver://sql.example\\SALES:1500;databaseName=dw", "mssql+pymssql://sql.example:1500/dw", {}),
    (
        "jdbc:sqlserver://;serverName=sql.example;instanceName=SALES;databaseName=dw",
        "mssql+pymssql://sql.example\\SALES/dw",
        {},
    ),
    (
        "jdbc:sqlserver://sql.example;portNumber=1444;databaseName=dw;queryTimeout=30",
        "mssql+pymssql://sql.example:1444/dw",
        {"timeout": 30},
    ),
    (
        "jdbc:jtds:sqlserver://sql.example:1433/dw;appName=siren;TDS=7.4",
        "mssql+pymssql://sql.example:1433/dw",
        {"appname": "siren", "tds_version": "7.4"},
    ),
    ("jdbc:jtds:sqlserver://sql.example/dw;instance=SALES;ssl=request", "mssql+pymssql://sql.example\\SALES/dw", {}),
    # Trino and Presto: catalog/schema, the JDBC driver's default ports
    ("jdbc:trino://trino.example:8080/hive/web", "trino://trino.example:8080/hive/web", {}),
    ("jdbc:trino://trino.example/hive", "trino://trino.example:80/hive", {}),
    (
        "jdbc:trino://trino.example?SSL=true&SSLVerification=NONE&source=siren&clientTags=a,b",
        "trino://trino.example:443",
        {"http_scheme": "https", "verify": False, "source": "siren", "client_tags": ["a", "b"]},
    ),
    ("jdbc:presto://presto.example:8080/hive/default", "presto://presto.example:8080/hive/default", {}),
    ("jdbc:presto://presto.example:8443/hive?SSL=true", "presto://presto.example:8443/hive", {"protocol": "https"}),
    # Redshift
    (
        "jdbc:redshift://c1.abc.eu-west-1.redshift.amazonaws.com:5439/dev?ssl=true&loginTimeout=10",
        "redshift+redshift_connector://c1.abc.eu-west-1.redshift.amazonaws.com:5439/dev",
        {"ssl": True, "timeout": 10},
    ),
    (
        "jdbc:redshift://h/dev?sslmode=verify-ca&ApplicationName=siren",
        "redshift+redshift_connector://h:5439/dev",
        {"sslmode": "verify-ca", "application_name": "siren"},
    ),
    # Snowflake: the account identifier is the URL's host, db/schema its database
    (
        "jdbc:snowflake://xy12345.eu-west-1.snowflakecomputing.com/?db=SALES&schema=PUBLIC&warehouse=WH&role=READER",
        "snowflake://xy12345.eu-west-1/SALES/PUBLIC",
        {"warehouse": "WH", "role": "READER"},
    ),
    (
        "jdbc:snowflake://myorg-acct.snowflakecomputing.com:443/?db=D&loginTimeout=20",
        "snowflake://myorg-acct/D",
        {"login_timeout": 20},
    ),
    # ClickHouse over HTTP(S), both prefixes
    ("jdbc:clickhouse://ch.example:8123/logs", "clickhousedb://ch.example:8123/logs", {}),
    (
        "jdbc:ch://ch.example/logs?compress=true&socket_timeout=30000",
        "clickhousedb://ch.example:8123/logs",
        {"compress": True, "send_receive_timeout": 30},
    ),
    (
        "jdbc:clickhouse:https://ch.example/logs?sslmode=strict",
        "clickhousedb://ch.example:8443/logs",
        {"secure": True, "verify": True},
    ),
    ("jdbc:ch://ch.example?database=logs&ssl=true", "clickhousedb://ch.example:8443/logs", {"secure": True}),
    # Db2: properties after the database, ';'-separated
    ("jdbc:db2://db2.example:50000/SAMPLE", "db2+ibm_db://db2.example:50000/SAMPLE", {}),
    (
        "jdbc:db2://db2.example/SAMPLE:currentSchema=SALES;sslConnection=true;",
        "db2+ibm_db://db2.example:50000/SAMPLE",
        {"CurrentSchema": "SALES", "Security": "SSL"},
    ),
    # DuckDB: in memory or a file
    ("jdbc:duckdb:", "duckdb:///:memory:", {}),
    ("jdbc:duckdb::memory:", "duckdb:///:memory:", {}),
    ("jdbc:duckdb:/data/sales.duckdb", "duckdb:////data/sales.duckdb", {}),
    (
        "jdbc:duckdb:/data/sales.duckdb?duckdb.read_only=true&threads=2",
        "duckdb:////data/sales.duckdb",
        {"threads": "2"},
    ),
]


@pytest.mark.parametrize(("jdbc", "url", "args"), FORMS)
def test_url_forms(jdbc: str, url: str, args: dict[str, Any]) -> None:
    out = translate(jdbc)
    assert out.url.render_as_string(hide_password=False).replace("%3A", ":") == url
    assert out.connect_args == args


@pytest.mark.parametrize(("jdbc", "url", "args"), FORMS)
def test_translated_arguments_pass_the_dialect_allow_list(jdbc: str, url: str, args: dict[str, Any]) -> None:
    backend = url.split(":", 1)[0].split("+")[0]
    assert check_options(backend, args, NONE).keys() == args.keys()


@pytest.mark.parametrize(
    ("jdbc", "message"),
    [
        ("jdbc:oracle:oci:@//h/s", "only jdbc:oracle:thin:"),
        ("jdbc:oracle:thin:@myalias", "TNS aliases are not supported"),
        ("jdbc:oracle:thin:@ldap://ldap.example/orcl,cn=OracleContext", "LDAP names are not supported"),
        ("jdbc:oracle:thin:@//h:1521/svc:dedicated/inst", "server types and instance names"),
        ("jdbc:oracle:thin:@h:1521", "expected //host"),
        ("jdbc:oracle:thin:@//h)(HOST=evil/svc", "host must be a DNS name"),
        ("jdbc:oracle:thin:@//h/svc)(x", "service name must"),
        (
            "jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=a)(PORT=1))(ADDRESS=(PROTOCOL=TCP)(HOST=b)(PORT=1))(CONNECT_DATA=(SID=X)))",
            "several addresses",
        ),
        ("jdbc:oracle:thin:@(DESCRIPTION=(SOURCE_ROUTE=yes)(ADDRESS=(HOST=a))(CONNECT_DATA=(SID=X)))", "SOURCE_ROUTE"),
        ("jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=IPC)(KEY=x))(CONNECT_DATA=(SID=X)))", "KEY"),
        (
            "jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=BEQ)(HOST=h))(CONNECT_DATA=(SID=X)))",
            "PROTOCOL must be TCP or TCPS",
        ),
        (
            "jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(HOST=h))(CONNECT_DATA=(SID=X)(SERVICE_NAME=Y)))",
            "exactly one of SERVICE_NAME or SID",
        ),
        ("jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(HOST=h))(CONNECT_DATA=(SID=X))", "unbalanced"),
        ("jdbc:oracle:thin:@" + "(" * 5000, "malformed connect descriptor"),
        ("jdbc:oracle:thin:@" + "(A=" * 50, "nested too deeply"),
        ("jdbc:jtds:sybase://h:5000/db", "only jdbc:jtds:sqlserver:"),
        ("jdbc:sqlserver://h;integratedSecurity=true", "Windows"),
        ("jdbc:sqlserver://h;applicationIntent=ReadOnly", "replica"),
        ("jdbc:sqlserver://h;authentication=ActiveDirectoryPassword", "SQL Server logins"),
        ("jdbc:jtds:sqlserver://h/db;domain=CORP", "Windows"),
        ("jdbc:jtds:sqlserver://h/db;namedPipe=true", "named pipes"),
        ("jdbc:jtds:sqlserver://h/db;ssl=require", "cannot be enforced"),
        ("jdbc:trino://h/a/b/c", "at most /catalog/schema"),
        ("jdbc:trino://h?accessToken=x", "accessToken"),
        ("jdbc:trino://h?externalAuthentication=true", "browser"),
        ("jdbc:trino://h?SSLTrustStorePath=/x/truststore.jks", "PEM"),
        ("jdbc:trino://h?sessionProperties=query_max_run_time:1h", "unsupported Trino JDBC property"),
        ("jdbc:redshift:iam://c1/dev", "IAM"),
        ("jdbc:redshift://h/dev?Profile=default", "IAM"),
        ("jdbc:redshift://h", "one database name"),
        ("jdbc:snowflake://evil.example/?db=x", "snowflakecomputing.com"),
        ("jdbc:snowflake://a.snowflakecomputing.com:8080/?db=x", "port 443"),
        ("jdbc:snowflake://a.snowflakecomputing.com/?schema=x", "needs its database"),
        ("jdbc:snowflake://a.snowflakecomputing.com/?authenticator=externalbrowser", "authenticator=snowflake"),
        ("jdbc:snowflake://a.snowflakecomputing.com/?private_key_file=/k.p8", "key file"),
        ("jdbc:clickhouse:grpc://h:9100/db", "HTTP interface"),
        ("jdbc:clickhouse://h/db?custom_http_params=readonly=0", "unsupported ClickHouse JDBC property"),
        ("jdbc:db2://h:50000/SAMPLE:securityMechanism=9;", "unsupported Db2 JDBC property"),
        ("jdbc:db2://h:50000/SAMPLE:sslTrustStoreLocation=/x.jks;", "Java trust stores"),
        ("jdbc:db2://h;x=1/SAMPLE", "host must be a DNS name"),
        ("jdbc:duckdb:md:my_db", "MotherDuck"),
        ("jdbc:duckdb:/x.duckdb?duckdb.read_only=false", "always opened read-only"),
        ("jdbc:duckdb:/x.duckdb?allow_unsigned_extensions=true", "unsupported DuckDB JDBC property"),
        ("jdbc:hive2://h:10000/default", "unsupported JDBC URL for [hive2]"),
    ],
)
def test_errors(jdbc: str, message: str) -> None:
    with pytest.raises(JdbcUrlError) as caught:
        translate(jdbc)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("jdbc", "name"),
    [
        ("jdbc:oracle:thin:@//h/s", "internal_logon"),
        ("jdbc:oracle:thin:@//h/s", "oracle.net.encryption_client"),
        ("jdbc:sqlserver://h;databaseName=x", "integratedSecurity"),
        ("jdbc:trino://h:8080/c", "KerberosKeytabPath"),
        ("jdbc:trino://h:8080/c", "extraCredentials"),
        ("jdbc:presto://h:8080/c", "SSLKeyStorePath"),
        ("jdbc:redshift://h/dev", "AccessKeyID"),
        ("jdbc:snowflake://a.snowflakecomputing.com/?db=x", "token"),
        ("jdbc:clickhouse://h/db", "custom_settings"),
        ("jdbc:db2://h/db", "sslTrustStoreLocation"),
        ("jdbc:duckdb:", "enable_external_access"),
        ("jdbc:duckdb:", "allow_unsigned_extensions"),
    ],
)
def test_refused_properties_are_named(jdbc: str, name: str) -> None:
    with pytest.raises(JdbcUrlError) as caught:
        translate(jdbc, {name: "true"})
    assert caught.value.prop == name


def _datasource(kind: str, url: str, policy: DriverPolicy = NONE, **extra: Any) -> Datasource:
    body = DatasourceBody.model_validate({kind: {"url": url, **extra}})
    return Datasource.from_body("d", body, BOX, now_ms=0, policy=policy)


@pytest.mark.parametrize(
    ("url", "user", "password", "clean"),
    [
        ("jdbc:oracle:thin:scott/Tig3r@//h:1521/svc", "scott", "Tig3r", "jdbc:oracle:thin:@//h:1521/svc"),
        ('jdbc:oracle:thin:scott/"p@s/s"@h:1521:ORCL', "scott", "p@s/s", "jdbc:oracle:thin:@h:1521:ORCL"),
        (
            "jdbc:db2://h:50000/S:user=db2inst1;password=p:w;currentSchema=X;",
            "db2inst1",
            "p:w",
            "jdbc:db2://h:50000/S:user=db2inst1;currentSchema=X;",
        ),
        (
            "jdbc:jtds:sqlserver://h/db;user=sa;password=Pw1;appName=x",
            "sa",
            "Pw1",
            "jdbc:jtds:sqlserver://h/db;user=sa;appName=x",
        ),
        (
            "jdbc:snowflake://a.snowflakecomputing.com/?db=D&user=u&password=Pw2",
            "u",
            "Pw2",
            "jdbc:snowflake://a.snowflakecomputing.com/?db=D&user=u",
        ),
        ("jdbc:clickhouse://u:Pw3@h:8123/db", "u", "Pw3", "jdbc:clickhouse://h:8123/db"),
        ("jdbc:trino://h:8443/c?SSL=true&user=u&password=Pw4", "u", "Pw4", "jdbc:trino://h:8443/c?SSL=true&user=u"),
    ],
)
def test_passwords_are_moved_out_of_every_url_form(url: str, user: str, password: str, clean: str) -> None:
    datasource = _datasource("jdbc", url)
    assert (datasource.url, datasource.username) == (clean, user)
    assert datasource.password is not None and BOX.decrypt(datasource.password) == password
    assert password not in repr(datasource.public_source())


@pytest.mark.parametrize(
    ("url", "drivername", "args"),
    [
        ("oracle+oracledb://h:1521/?service_name=SALES", "oracle+oracledb", {"service_name": "SALES"}),
        ("oracle+oracledb://h:1521/ORCL", "oracle+oracledb", {"sid": "ORCL"}),
        ("trino://h:8080/hive/web?http_scheme=https&verify=false", "trino", {"http_scheme": "https", "verify": False}),
        ("presto://h:8080/hive?protocol=https", "presto", {"protocol": "https"}),
        ("redshift://h:5439/dev", "redshift+redshift_connector", {}),  # not SQLAlchemy's default (psycopg2)
        (
            "redshift+redshift_connector://h:5439/dev?sslmode=verify-full",
            "redshift+redshift_connector",
            {"sslmode": "verify-full"},
        ),
        ("snowflake://acct/SALES/PUBLIC?warehouse=WH&role=R", "snowflake", {"warehouse": "WH", "role": "R"}),
        ("clickhousedb://h:8123/db?compress=true", "clickhousedb+connect", {"compress": True}),
        ("db2+ibm_db://h:50000/SAMPLE?CurrentSchema=SALES", "db2+ibm_db", {"CurrentSchema": "SALES"}),
        ("duckdb:///:memory:?threads=2", "duckdb", {"threads": "2"}),
        ("mssql+pymssql://h\\SALES/dw", "mssql+pymssql", {}),
    ],
)
def test_sql_urls_of_the_new_dialects(url: str, drivername: str, args: dict[str, Any]) -> None:
    translated, connect_args, _ = _datasource("sql", url).translated_url(NONE)
    assert translated.drivername == drivername
    assert connect_args == args


@pytest.mark.parametrize(
    ("url", "entry", "fragment"),
    [
        ("oracle+oracledb://h:1521/?mode=2", "$.sql.url", "mode"),  # SYSDBA
        ("oracle+oracledb://h:1521/?config_dir=/etc", "$.sql.url", "config_dir"),  # tnsnames.ora
        ("oracle+oracledb://h:1521/ORCL?service_name=OTHER", "$.sql.url", "one service name or SID"),
        ("oracle+cx_oracle://h:1521/ORCL", "$.sql.url", "not supported"),
        ("trino://h:8080/c?http_headers={}", "$.sql.url", "http_headers"),
        ("trino://h:8080/c?session_properties={}", "$.sql.url", "session_properties"),
        ("redshift+psycopg2://h/dev", "$.sql.url", "not supported"),
        ("redshift://h/dev?iam=true", "$.sql.url", "iam"),
        ("snowflake://a/db?private_key_file=/k.p8", "$.sql.url", "private_key_file"),
        ("snowflake://a/db?authenticator=externalbrowser", "$.sql.url", "authenticator"),
        ("clickhousedb://h/db?settings=x", "$.sql.url", "settings"),
        ("db2+ibm_db://h/db?CurrentSchema=X;Security=none", "$.sql.url", "CurrentSchema"),
        ("db2+ibm_db://h/db?SSLClientKeystoredb=/k.kdb", "$.sql.url", "SSLClientKeystoredb"),
        ("duckdb:///:memory:?enable_external_access=true", "$.sql.url", "enable_external_access"),
        ("duckdb:///:memory:?read_only=false", "$.sql.url", "read_only"),
        ("duckdb:///:memory:?memory_limit=1;x", "$.sql.url", "memory_limit"),
        ("duckdb:///etc/passwd", "$.sql.url", "sql.duckdb_roots"),
    ],
)
def test_sql_url_options_that_loosen_the_session_or_reach_files_are_refused(
    url: str, entry: str, fragment: str
) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        _datasource("sql", url)
    assert caught.value.invalid[0].entry == entry
    assert fragment in str(caught.value)


def test_properties_are_refused_at_their_own_entry() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        _datasource("sql", "trino://h:8080/c", properties={"http_headers": "{}"})
    assert caught.value.invalid[0].entry == "$.sql.properties.http_headers"
    with pytest.raises(InvalidDefinition) as caught:
        _datasource("jdbc", "jdbc:duckdb:", properties={"enable_external_access": "true"})
    assert caught.value.invalid[0].entry == "$.jdbc.properties.enable_external_access"


def test_duckdb_files_only_under_the_duckdb_roots(tmp_path: Path) -> None:
    root = tmp_path / "duck"
    root.mkdir()
    (root / "ok.duckdb").touch()
    (root / "escape.duckdb").symlink_to("/etc/passwd")
    policy = DriverPolicy.of(sqlite_roots=[str(root)], tls_roots=(), duckdb_roots=[str(root)])
    url, _, _ = _datasource("jdbc", f"jdbc:duckdb:{root}/ok.duckdb", policy).translated_url(policy)
    assert url.database == str(root / "ok.duckdb")
    only_sqlite = DriverPolicy.of(sqlite_roots=[str(root)], tls_roots=())
    for path, policy_used in (
        (f"{root}/ok.duckdb", only_sqlite),  # sql.sqlite_roots does not open DuckDB files
        (f"{root}/escape.duckdb", policy),
        (f"{root}/../x.duckdb", policy),
        ("relative.duckdb", policy),
    ):
        with pytest.raises(InvalidDefinition) as caught:
            _datasource("jdbc", f"jdbc:duckdb:{path}", policy_used)
        assert "sql.duckdb_roots" in str(caught.value) or "absolute" in str(caught.value)


def test_tls_files_of_the_new_dialects_only_under_the_tls_roots(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    policy = DriverPolicy.of(sqlite_roots=(), tls_roots=[str(tmp_path)])
    for backend, name in (("clickhousedb", "ca_cert"), ("db2", "SSLServerCertificate"), ("oracle", "wallet_location")):
        assert check_options(backend, {name: str(tmp_path / "ca.pem")}, policy)
        with pytest.raises(OptionRefused):
            check_options(backend, {name: "/etc/passwd"}, policy)
    assert check_options("trino", {"verify": str(tmp_path / "ca.pem")}, policy) == {"verify": str(tmp_path / "ca.pem")}
    with pytest.raises(OptionRefused):
        check_options("trino", {"verify": "/etc/ssl/private/key.pem"}, policy)


def test_the_stored_password_is_bound_to_the_service_name() -> None:
    first = _datasource("jdbc", "jdbc:oracle:thin:@//h:1521/SALES").endpoint(NONE)
    assert first == _datasource("sql", "oracle+oracledb://h:1521/?service_name=SALES").endpoint(NONE)
    assert first != _datasource("jdbc", "jdbc:oracle:thin:@//h:1521/HR").endpoint(NONE)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="() =ABCDEHIOPRSTNLVX_.:/@19\"'", max_size=400))
def test_oracle_targets_are_translated_or_refused_never_crash(target: str) -> None:
    try:
        out = translate(f"jdbc:oracle:thin:@{target}")
    except JdbcUrlError:
        return
    assert out.url.host and out.url.database
    assert set(out.connect_args) & {"service_name", "sid"}


def test_the_descriptor_parser_is_linear() -> None:
    started = time.perf_counter()
    for text in ("(A=" * 2000, "(" * 4000, "(DESCRIPTION=" + "(A=1)" * 800 + ")", ")" * 4000):
        with pytest.raises(JdbcUrlError):
            translate(f"jdbc:oracle:thin:@{text}")
    assert time.perf_counter() - started < 1


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(
        ["oracle:thin:@//h/s", "trino://h/c", "presto://h/c", "redshift://h/db", "clickhouse://h/db", "duckdb:"]
    ),
)
def test_unknown_properties_of_the_new_dialects_are_refused(data: st.DataObject, kind: str) -> None:
    name = data.draw(st.from_regex(r"zz[A-Za-z0-9_]{0,20}", fullmatch=True), label="property")
    with pytest.raises(JdbcUrlError) as refused:
        translate(f"jdbc:{kind}", {name: data.draw(st.text(max_size=10) | st.integers(), label="value")})
    assert refused.value.prop == name
