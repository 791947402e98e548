from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import SettingsError
from connector.settings import ENV_TABLE, SHIPPED_CONFIG, Settings, load_settings

pytestmark = pytest.mark.unit

PUBLIC_CONTRACT = {
    "CONNECTOR_ES_URL",
    "CONNECTOR_ES_USERNAME",
    "CONNECTOR_ES_PASSWORD",
    "CONNECTOR_ES_API_KEY",
    "CONNECTOR_ES_CA_CERTS",
    "CONNECTOR_ES_VERIFY_CERTS",
    "CONNECTOR_ES_COMPATIBILITY_MODE",
    "CONNECTOR_INDEX_PREFIX",
    "CONNECTOR_SECRET_KEY",
    "CONNECTOR_BIND",
    "CONNECTOR_AUTH_MODE",
}


def test_public_environment_names_exist() -> None:
    assert set(ENV_TABLE) >= PUBLIC_CONTRACT


def test_shipped_config_equals_code_defaults() -> None:
    assert load_settings(environ={}, config_path=SHIPPED_CONFIG) == Settings()


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert settings.elasticsearch.url == "http://127.0.0.1:9200"
    assert settings.index_prefix == ".connector-"
    assert settings.bind == "127.0.0.1:8080"
    assert settings.elasticsearch.compatibility_mode == "auto"
    assert settings.auth.mode == "none"


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('index_prefix = ".file-"\n[worker]\nlease_s = 12.5\n')
    settings = load_settings(
        environ={"CONNECTOR_INDEX_PREFIX": ".env-", "CONNECTOR_ES_VERIFY_CERTS": "false"},
        config_path=config,
    )
    assert settings.index_prefix == ".env-"
    assert settings.worker.lease_s == 12.5
    assert settings.elasticsearch.verify_certs is False


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('bind = "0.0.0.0:9000"\n')
    assert load_settings(environ={"CONNECTOR_CONFIG": str(config)}).bind == "0.0.0.0:9000"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CONNECTOR_ES_COMPATIBILITY_MODE": "maybe"}, "invalid setting CONNECTOR_ES_COMPATIBILITY_MODE:"),
        ({"CONNECTOR_ES_URL": "localhost:9200"}, "invalid setting CONNECTOR_ES_URL:"),
        ({"CONNECTOR_BIND": "nowhere"}, "invalid setting CONNECTOR_BIND:"),
        ({"CONNECTOR_SECRET_KEY": "short"}, "invalid setting CONNECTOR_SECRET_KEY:"),
        ({"CONNECTOR_INDEX_PREFIX": "Upper"}, "invalid setting CONNECTOR_INDEX_PREFIX:"),
        ({"CONNECTOR_AUTH_MODE": "kerberos"}, "invalid setting CONNECTOR_AUTH_MODE:"),
        ({"CONNECTOR_WORKER_LEASE_S": "-1"}, "invalid setting CONNECTOR_WORKER_LEASE_S:"),
        ({"CONNECTOR_ES_URLL": "http://x"}, "CONNECTOR_ES_URLL: unknown setting"),
        ({"CONNECTOR_AUTH_TOKENS": "[{"}, "CONNECTOR_AUTH_TOKENS: must be JSON"),
    ],
)
def test_bad_setting_is_one_line_naming_it(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ)
    assert caught.value.reason.startswith(expected)
    assert "\n" not in caught.value.reason


def test_bad_key_in_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[worker]\nlease = 3\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={}, config_path=config)
    assert caught.value.reason == f"invalid setting worker.lease in {config}: unknown setting"


def test_missing_config_file() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"CONNECTOR_CONFIG": "/nonexistent.toml"})
    assert "CONNECTOR_CONFIG" in caught.value.reason


def test_tokens_from_environment_json() -> None:
    settings = load_settings(
        environ={
            "CONNECTOR_AUTH_MODE": "token",
            "CONNECTOR_AUTH_TOKENS": '[{"name": "ci", "hash": "sha256:' + "ab" * 32 + '", "scopes": ["job:read"]}]',
        }
    )
    assert settings.auth.tokens[0].scopes == ["job:read"]


def test_empty_variable_means_unset() -> None:
    assert load_settings(environ={"CONNECTOR_BIND": ""}).bind == "127.0.0.1:8080"


def test_secret_values_do_not_print() -> None:
    settings = load_settings(environ={"CONNECTOR_ES_PASSWORD": "hunter22"})
    assert "hunter22" not in repr(settings)
    assert settings.elasticsearch.password is not None
    assert settings.elasticsearch.password.get_secret_value() == "hunter22"


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [("127.0.0.1:1", True), ("localhost:1", True), ("[::1]:1", True), ("0.0.0.0:1", False), ("10.1.2.3:1", False)],
)
def test_bind_loopback(bind: str, loopback: bool) -> None:
    assert load_settings(environ={"CONNECTOR_BIND": bind}).bind_is_loopback is loopback


def test_readme_documents_every_setting() -> None:
    readme = (SHIPPED_CONFIG.parent.parent / "README.md").read_text()
    missing = [name for name in ENV_TABLE if f"`{name}`" not in readme]
    assert missing == []


def test_previous_keys_and_token_entries_are_validated() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"CONNECTOR_PREVIOUS_SECRET_KEYS": '["not-a-key"]'})
    assert caught.value.reason.startswith("invalid setting CONNECTOR_PREVIOUS_SECRET_KEYS")
    with pytest.raises(SettingsError) as caught:
        load_settings(
            environ={
                "CONNECTOR_AUTH_USERS": '[{"username": "a:b", "hash": "pbkdf2_sha256$1$YQ==$YQ==", "scopes": ["admin"]}]'
            }
        )
    assert caught.value.reason.startswith("invalid setting CONNECTOR_AUTH_USERS")
