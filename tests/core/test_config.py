from pathlib import Path

import pytest

from janitor.config import DEFAULT_HUB_URL, Secret, load_settings
from janitor.errors import ConfigError


def test_defaults_use_the_data_dir(tmp_path: Path) -> None:
    s = load_settings({"JANITOR_DATA_DIR": str(tmp_path)})
    assert s.hub_url == DEFAULT_HUB_URL
    assert s.database_url == f"sqlite:///{tmp_path / 'janitor.db'}"
    assert s.report_dir == tmp_path / "reports"
    assert s.delete_backend == "auto"
    assert s.require_apply is True


def test_token_from_file_and_never_in_repr(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("dckr_pat_secret_value_123\n")
    s = load_settings({"JANITOR_HUB_USERNAME": "alice", "JANITOR_HUB_TOKEN_FILE": str(token_file)})
    assert s.hub_token == Secret("dckr_pat_secret_value_123")
    assert "dckr_pat_secret_value_123" not in repr(s)
    assert "dckr_pat_secret_value_123" not in str(s.hub_token)


def test_missing_token_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JANITOR_HUB_TOKEN_FILE"):
        load_settings({"JANITOR_HUB_TOKEN_FILE": str(tmp_path / "absent")})


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"JANITOR_CONCURRENCY": "zero"}, "JANITOR_CONCURRENCY"),
        ({"JANITOR_BATCH_SIZE": "0"}, "JANITOR_BATCH_SIZE"),
        ({"JANITOR_DELETE_BACKEND": "ftp"}, "JANITOR_DELETE_BACKEND"),
        ({"JANITOR_HUB_URL": "hub.docker.com"}, "JANITOR_HUB_URL"),
        ({"JANITOR_REQUIRE_APPLY": "maybe"}, "JANITOR_REQUIRE_APPLY"),
        ({"JANITOR_NAMESPACES": "acme,library"}, "JANITOR_NAMESPACES"),
        ({"JANITOR_HUB_INSECURE": "true"}, "JANITOR_HUB_INSECURE"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings(env)


def test_insecure_allowed_only_for_a_custom_hub() -> None:
    s = load_settings({"JANITOR_HUB_URL": "https://hub.internal", "JANITOR_HUB_INSECURE": "1"})
    assert s.hub_insecure is True


def test_toml_file_and_env_precedence(tmp_path: Path) -> None:
    config = tmp_path / "janitor.toml"
    config.write_text(
        'hub_url = "https://hub.example"\nnamespaces = ["acme", "beta"]\nbatch_size = 50\n'
        'smtp_host = "mail.example"\n'
    )
    s = load_settings({"JANITOR_BATCH_SIZE": "25"}, config_file=config)
    assert s.hub_url == "https://hub.example"
    assert s.namespaces == ("acme", "beta")
    assert s.batch_size == 25  # the environment wins over the file
    assert s.smtp_env["JANITOR_SMTP_HOST"] == "mail.example"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hub_ulr = 'x'\n", "unknown key 'hub_ulr'"),
        ("hub_token = 'x'\n", "secrets do not belong"),
        ("hub_url = \n", "not valid TOML"),
    ],
)
def test_toml_errors_name_file_and_key(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "janitor.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings({}, config_file=config)
    assert str(config) in str(info.value)
