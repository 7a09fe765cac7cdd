import os
import re
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


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "folder", "over 64 KiB"])
def test_a_token_file_must_be_a_small_regular_file(tmp_path: Path, kind: str) -> None:
    """Opened without blocking and checked before a byte is read: a FIFO (which would block an
    ordinary read forever), a device, a folder or a file over 64 KiB is refused at once."""
    path = Path("/dev/zero") if kind == "/dev/zero" else tmp_path / "token"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "over 64 KiB":
        path.write_text("dckr_pat_x" * 7000)
    with pytest.raises(ConfigError, match=f"^JANITOR_HUB_TOKEN_FILE: {path}: ") as caught:
        load_settings({"JANITOR_DATA_DIR": str(tmp_path), "JANITOR_HUB_TOKEN_FILE": str(path)})
    assert "dckr_pat_x" not in str(caught.value)


@pytest.mark.parametrize(("source", "variable"), [("env", "JANITOR_CONFIG"), ("flag", "--config")])
def test_a_config_file_must_be_a_regular_file_of_at_most_1_mib(
    tmp_path: Path, source: str, variable: str
) -> None:
    big = tmp_path / "janitor.toml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    env = {"JANITOR_DATA_DIR": str(tmp_path)}
    for path, problem in (
        (big, "is larger than 1 MiB"),
        (Path("/dev/zero"), "is a character device"),
    ):
        with pytest.raises(ConfigError, match=f"^{variable}: {path}: {problem}"):
            if source == "env":
                load_settings(env | {"JANITOR_CONFIG": str(path)})
            else:
                load_settings(env, config_file=path)


def test_a_database_url_the_store_cannot_use_is_a_config_error(tmp_path: Path) -> None:
    env = {"JANITOR_DATA_DIR": str(tmp_path)}
    for url, message in (
        ("sqlite:////tmp/a\x00b.db", "contains a NUL character"),
        ("postgresql+asyncpg://u:pw@h/db", "driver 'asyncpg' for postgresql+asyncpg:// is not"),
        ("oracle://u:pw@h/db", "unsupported database oracle://"),
    ):
        with pytest.raises(ConfigError, match=f"^JANITOR_DATABASE_URL: .*{re.escape(message)}"):
            load_settings(env | {"JANITOR_DATABASE_URL": url})


def test_smtp_timeout_from_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "janitor.toml"
    config.write_text('smtp_host = "mail"\nsmtp_timeout = 5\n')
    settings = load_settings({"JANITOR_DATA_DIR": str(tmp_path)}, config_file=config)
    assert settings.smtp_env["JANITOR_SMTP_TIMEOUT"] == "5"
