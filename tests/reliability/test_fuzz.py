"""Bad input, fuzzed with hypothesis: policy files, the configuration, the command line, and a
hostile Hub. Whatever comes in, janitor answers with its own clear error (PolicyLoadError,
ConfigError, HubError, one line and exit 0/1/2 on the command line) or a correct result; never a
KeyError, TypeError or traceback, and no evaluation can hang (patterns run on RE2).

Every test is derandomized (the same examples each run, no example database written) and
bounded in its number of examples, so the file stays well under a minute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from janitor.cli import cli
from janitor.cli.app import App
from janitor.config import Settings, load_settings
from janitor.emulator.server import RunningEmulator
from janitor.engine import RunContext, run_once
from janitor.errors import ConfigError
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.hub.inventory import iter_inventory
from janitor.hub.models import Image, ManifestRef, Repository, RepositoryInventory, TagRef
from janitor.policy import Policy, PolicyLoadError, evaluate, load_policies, parse_policy
from janitor.reporting import mailer_from_settings
from janitor.store import Store, StoreError
from tests.reliability.conftest import UNTAGGED_POLICY, EmulatorFactory, cli_env

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Values that have broken parsers somewhere: wrong types, edges of numbers, odd text.
NASTY_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "nan",
    "inf",
    "9" * 30,
    "99999999999999999999d",
    "P9999999999Y",
    "30d",
    "0d",
    "P0D",
    "true",
    "null",
    "~",
    "[",
    "{",
    "*",
    "**",
    "re:",
    "re:(a+)+$",
    "re:(?P<x>a)(?P=x)",
    "re:(?=a)",
    "re:[",
    "ünïcødé",
    "名前",
    "emoji-😀",
    "a" * 300,
    "../../etc/passwd",
    "library",
    "acme",
    "line\nbreak",
    "tab\there",
    "\x00",
    "\u202e",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "@daily",
    "61 25 32 13 8",
    "* * * * * *",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=12),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=12),
)


def values(leaves: st.SearchStrategy[Any] = scalars) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.text(max_size=8) | st.sampled_from(POLICY_KEYS), children, max_size=4
            )
        ),
        max_leaves=12,
    )


POLICY_KEYS = [
    "name",
    "namespace",
    "repositories",
    "include",
    "exclude",
    "schedule",
    "timezone",
    "mode",
    "select",
    "keep",
    "limits",
    "report",
    "email",
    "currently_tagged",
    "tags",
    "last_pushed",
    "last_pulled",
    "older_than",
    "never",
    "current_tag",
    "most_recent",
    "max_deletes",
    "max_fraction_per_repository",
]
BASE_POLICY: dict[str, Any] = yaml.safe_load(UNTAGGED_POLICY) | {
    "keep": [{"tags": ["latest", "re:^v[0-9]+$"]}, {"most_recent": 2}],
    "schedule": "0 3 * * *",
    "timezone": "Europe/Berlin",
}


@st.composite
def mutated(draw: st.DrawFn, base: object, leaves: st.SearchStrategy[Any] = scalars) -> object:
    """``base`` with a few random changes: a value replaced (by a wrong type, a huge number,
    odd text, a random structure), a key removed or added, a list emptied or grown."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 4))):
        data = _mutate_once(draw, data, leaves)
    return data


def _mutate_once(draw: st.DrawFn, node: Any, leaves: st.SearchStrategy[Any]) -> Any:
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node, key=str)))
        action = draw(st.sampled_from(["descend", "replace", "drop", "add"]))
        if action == "descend":
            node[key] = _mutate_once(draw, node[key], leaves)
        elif action == "replace":
            node[key] = draw(values(leaves))
        elif action == "drop":
            del node[key]
        else:
            node[draw(st.sampled_from(POLICY_KEYS) | st.text(max_size=6))] = draw(values(leaves))
        return node
    if isinstance(node, list) and node and draw(st.booleans()):
        index = draw(st.integers(0, len(node) - 1))
        action = draw(st.sampled_from(["descend", "replace", "drop", "repeat"]))
        if action == "descend":
            node[index] = _mutate_once(draw, node[index], leaves)
        elif action == "replace":
            node[index] = draw(values(leaves))
        elif action == "drop":
            del node[index]
        else:
            node.extend([node[index]] * draw(st.integers(1, 50)))
        return node
    return draw(values(leaves))


# --------------------------------------------------------------------------- policies


def inventory() -> list[RepositoryInventory]:
    repository = Repository(namespace="acme", name="web")
    images = tuple(
        Image(
            namespace="acme",
            repository="web",
            digest=f"sha256:{n:064x}",
            tags=tuple(TagRef(t, current) for t, current in tags),
            last_pushed=NOW - timedelta(days=days) if days is not None else None,
            last_pulled=NOW - timedelta(days=pulled) if pulled is not None else None,
        )
        for n, (tags, days, pulled) in enumerate(
            [
                ((), 100, None),
                ((("latest", True),), 1, 0),
                ((("v1", True),), 400, 300),
                ((("pr-7", True), ("old", False)), 50, 49),
                ((("a" * 120 + "!", True),), 90, None),
                ((), None, None),
            ]
        )
    )
    return [RepositoryInventory(repository, images)]


def _check_policy_outcome(folder: Path, allowed: tuple[str, ...] | None) -> None:
    try:
        policies = load_policies(folder, allowed_namespaces=allowed)
    except PolicyLoadError as exc:
        for error in exc.errors:
            text = str(error)
            assert "\n" not in text and text.isprintable(), text
            assert str(folder) in text
        return
    for policy in policies:
        assert policy.namespace != "library"
        assert allowed is None or policy.namespace in allowed
        for now in (NOW, NOW + timedelta(days=3650)):
            plan = evaluate(iter(inventory()), policy, now)
            assert len(plan.decisions) == 6
            assert all(d.verdict in ("keep", "delete") and d.reasons for d in plan.decisions)
            kept_by_tag = {d.image.digest for d in plan.decisions if d.kept_by}
            assert not {d.image.digest for d in plan.to_delete} & kept_by_tag


@fuzz(150)
@given(
    document=st.one_of(
        mutated(BASE_POLICY),
        values(),
        st.text(max_size=300),
        st.sampled_from(["", "---\n---\n", "a: &x [*x]\n", "a: !!python/object:os.system x\n"]),
    ),
    allowed=st.sampled_from([None, ("acme",), ("other",)]),
)
def test_policy_files_load_or_fail_with_one_line_errors_and_evaluate_safely(
    tmp_path: Path, document: object, allowed: tuple[str, ...] | None
) -> None:
    """A policy file of any content: a Policy (for an allowed namespace, never ``library``)
    that evaluates without error on an inventory with odd images, or a PolicyLoadError whose
    every mistake is one printable line naming the file."""
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    path = folder / "fuzz.yaml"
    if isinstance(document, str):
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    _check_policy_outcome(folder, allowed)


CATASTROPHIC = [
    "re:^(a+)+$",
    "re:(a|a)*b",
    "re:(a*)*$",
    "re:^(([a-z])+.)+[A-Z]([a-z])+$",
    "re:(x+x+)+y",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_regexes_are_evaluated_in_linear_time(pattern: str) -> None:
    """Patterns that take exponential time on a backtracking engine, against a name made to
    trigger it (5000 characters): RE2 answers at once (a hang would hit the test's timeout)."""
    text = (
        UNTAGGED_POLICY.replace("currently_tagged: false", f'tags: ["{pattern}"]')
        + f'keep:\n  - tags: ["{pattern}"]\n'
    )
    policy = parse_policy(text)
    name = "a" * 5000 + "!"
    images = (
        Image(
            namespace="acme",
            repository="web",
            digest=f"sha256:{1:064x}",
            tags=(TagRef(name, True),),
            last_pushed=NOW - timedelta(days=100),
        ),
    )
    plan = evaluate(iter([RepositoryInventory(Repository("acme", "web"), images)]), policy, NOW)
    (decision,) = plan.decisions
    assert decision.verdict == "keep"  # no pattern matches: not selected


# --------------------------------------------------------------------------- configuration

ENV_KEYS = [
    "JANITOR_HUB_URL",
    "JANITOR_HUB_USERNAME",
    "JANITOR_HUB_TOKEN",
    "JANITOR_HUB_INSECURE",
    "JANITOR_REGISTRY_URL",
    "JANITOR_DELETE_BACKEND",
    "JANITOR_DATABASE_URL",
    "JANITOR_NAMESPACES",
    "JANITOR_REPORT_TO",
    "JANITOR_HTTP_PORT",
    "JANITOR_CONCURRENCY",
    "JANITOR_BATCH_SIZE",
    "JANITOR_REQUIRE_APPLY",
    "JANITOR_STALE_AFTER_SECONDS",
    "JANITOR_TIMEOUT",
    "JANITOR_SMTP_HOST",
    "JANITOR_SMTP_PORT",
    "JANITOR_SMTP_USERNAME",
    "JANITOR_SMTP_PASSWORD",
    "JANITOR_SMTP_FROM",
    "JANITOR_SMTP_SECURITY",
]
ENV_VALUES = [
    *[v for v in NASTY_TEXT if "\x00" not in v],  # an environment cannot hold a NUL
    "https://hub.docker.com",
    "https://HUB.docker.com:443/v2/",
    "https://user:pw-SECRET@hub.example/",
    "http://",
    "https://hub.example?x=1",
    "https://[::1]:99999",
    "ftp://x",
    "sqlite:///relative.db",
    "postgresql://u:pw-SECRET@127.0.0.1:1/db",
    "mysql://x",
    "not a url",
    "acme,library",
    "a@b,c",
    "ops@example.com",
    "starttls",
    "tls",
    "none",
    "registry",
    "delete-images",
    "auto",
    "1",
    "65536",
    "30",
    "86401",
    "false",
    "yes",
]
SECRETS = {"JANITOR_HUB_TOKEN", "JANITOR_SMTP_PASSWORD"}
URL_KEYS = {"JANITOR_HUB_URL", "JANITOR_REGISTRY_URL", "JANITOR_DATABASE_URL"}


@fuzz(200)
@given(
    env=st.dictionaries(
        st.sampled_from(sorted(set(ENV_KEYS) - SECRETS)), st.sampled_from(ENV_VALUES), max_size=8
    ),
    secrets=st.dictionaries(
        st.sampled_from(sorted(SECRETS)),
        st.sampled_from(["dckr_pat_FUZZ_SECRET_0123", "SMTP-FUZZ-SECRET", "", " "]),
    ),
)
def test_any_environment_gives_settings_or_a_config_error(
    tmp_path: Path, env: dict[str, str], secrets: dict[str, str]
) -> None:
    """Any JANITOR_* values: Settings from which janitor builds its Hub client, its store and
    its mailer without another kind of error, or one ConfigError naming the variable and never
    showing a secret (the token, the SMTP password, a password in a URL)."""
    env = env | secrets | {"JANITOR_DATA_DIR": str(tmp_path / "data")}
    hidden = [v for v in secrets.values() if v.strip()]
    if all(k in URL_KEYS for k, v in env.items() if "pw-SECRET" in v):
        hidden.append("pw-SECRET")  # a password in a URL (a wrong value elsewhere is echoed)
    try:
        settings_ = load_settings(env)
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and text.startswith(("JANITOR_", "set JANITOR_")), text
        assert not any(secret in text for secret in hidden), text
        return
    assert not any(secret in repr(settings_) for secret in hidden)
    _build_everything(settings_, hidden)


def _build_everything(settings_: Settings, secrets: list[str]) -> None:
    try:
        App(settings_).hub_client().close()
    except ConfigError as exc:
        assert not any(secret in str(exc) for secret in secrets)
    try:
        Store(settings_.database_url).close()
    except StoreError as exc:
        assert not any(secret in str(exc) for secret in secrets)
    mailer_from_settings(settings_)


TOML_VALUES = st.one_of(
    st.sampled_from(ENV_VALUES),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.lists(st.sampled_from(ENV_VALUES), max_size=3),
    st.datetimes(),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            {float("inf"): "inf", float("-inf"): "-inf"}.get(value, repr(value))
            if (value == value)
            else "nan"
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # a TOML basic string is a JSON string


@fuzz(150)
@given(
    entries=st.dictionaries(
        st.sampled_from([k.removeprefix("JANITOR_").lower() for k in ENV_KEYS] + ["bogus"]),
        TOML_VALUES,
        max_size=6,
    ),
    raw=st.sampled_from(["", "x = ", "[table]\nkey = 1\n", "\ufeffhub_url = 'x'\n", "\udcff"]),
)
def test_any_config_file_gives_settings_or_a_config_error(
    tmp_path: Path, entries: dict[str, object], raw: str
) -> None:
    """A janitor.toml with any keys and values (wrong types, nested tables, dates, huge
    numbers, a secret it must refuse, bytes that are not UTF-8): Settings, or a ConfigError
    naming the file."""
    path = tmp_path / "janitor.toml"
    text = "".join(f"{key} = {_toml(value)}\n" for key, value in entries.items()) + raw
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        settings_ = load_settings({"JANITOR_DATA_DIR": str(tmp_path)}, config_file=path)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip() or "TOML" in str(exc)
        assert "janitor.toml" in str(exc) or str(exc).startswith("JANITOR_")
        return
    _build_everything(settings_, ["pw-SECRET"])


def test_a_token_file_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="JANITOR_HUB_TOKEN_FILE"):
        load_settings({"JANITOR_HUB_TOKEN_FILE": str(token), "JANITOR_HUB_USERNAME": "ops"})


# --------------------------------------------------------------------------- command line


@pytest.fixture
def cli_world(emulator_factory: EmulatorFactory, tmp_path: Path) -> tuple[RunningEmulator, dict]:
    hub = emulator_factory()
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "untagged.yaml").write_text(UNTAGGED_POLICY)
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("namespaces: [1, {2: 3}]\n")
    return hub, cli_env(hub, tmp_path)


def _commands() -> dict[str, Any]:
    """The commands fuzzed: every one-shot command (not `serve`, which runs until stopped, nor
    `demo`, which starts its own emulator)."""
    found: dict[str, Any] = {}

    def walk(group: Any, prefix: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            path = (*prefix, name)
            if name in {"serve", "demo", "emulator"}:
                continue
            if hasattr(command, "commands"):
                walk(command, path)
            else:
                found[" ".join(path)] = command

    walk(cli, ())
    return found


COMMANDS = _commands()
ARG_VALUES = [
    *NASTY_TEXT,
    "1",
    "2",
    "999999",
    "-5",
    "2027-01-31",
    "--json",
    "--apply",
    "--dry-run",
    "untagged",
    "acme",
    "nope",
    "{tmp}/out.html",
    "{tmp}/garbage.yaml",
    "{tmp}/policies",
    "{tmp}/missing/x.yaml",
    "{tmp}/snap.yaml",
    "/dev/null",
]


def _option_values(option: Any) -> list[str]:
    """Values for one option by its type: the right ones, and wrong ones next to them."""
    kind = option.type
    if hasattr(kind, "choices"):
        return [*map(str, kind.choices), "bogus", ""]
    if kind.name in ("integer", "integer range"):
        return ["1", "2", "0", "-1", "10000", "99999999999999999999", "abc"]
    if kind.name in ("path", "file"):
        return [v for v in ARG_VALUES if v.startswith(("{tmp}", "/"))] + ["", "\x00"]
    return ARG_VALUES


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    """A command and a random mix of its real options (with right or wrong values), arguments
    and, now and then, a stray word."""
    name = draw(st.sampled_from(sorted(COMMANDS)))
    command = COMMANDS[name]
    args = name.split()
    options = [p for p in command.params if p.param_type_name == "option"]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    for argument in arguments:
        if draw(st.integers(0, 4)):  # usually given
            args.append(draw(st.sampled_from(_option_values(argument))))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["option"] * 6 + ["argument", "stray"]))
        if kind == "option" and options:
            option = draw(st.sampled_from(options))
            args.append(draw(st.sampled_from(option.opts)))
            if not option.is_flag:
                args.append(draw(st.sampled_from(_option_values(option))))
        elif kind == "argument":
            args.append(draw(st.sampled_from(ARG_VALUES)))
        else:
            args.append(draw(st.sampled_from(["--nope", "-x", "--", "--json=1", "-h"])))
    return args


POLICY_ERRORS = re.compile(r"[0-9]+ policy error\(s\); nothing was run")


@fuzz(100)
@given(args=argv())
def test_any_command_line_exits_0_1_or_2_with_one_error_line(
    cli_world: tuple[RunningEmulator, dict], tmp_path: Path, args: list[str]
) -> None:
    """Random argv built from the real commands and options: exit code 0, 1 or 2; never a
    traceback; on stderr at most one ``error:`` line and nothing else but log lines and notes."""
    _, env = cli_world
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(cli, args, env=env)

    assert result.exit_code in (0, 1, 2), (args, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    assert "Traceback" not in result.output
    other = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not LOG_LINE.match(line) and not line.startswith(("note: ", "  "))
    ]
    errors = [line for line in other if line.startswith("error: ")]
    if other and POLICY_ERRORS.fullmatch(other[-1]):
        # Policy files: one line per mistake, all of them in one pass, then a count (README).
        assert result.exit_code == 2 and errors == other[:-1], (args, result.stderr)
        errors = errors[:1]
    else:
        assert len(errors) == len(other) <= 1, (args, result.stderr)
    assert not any("internal error" in line for line in errors), (args, errors)
    if result.exit_code != 0 and not errors:  # a failed run explains itself on stdout
        assert args[0] == "run" and "error:" in result.stdout, (args, result.output)


@fuzz(60)
@given(document=st.one_of(mutated({"namespaces": {"acme": {"repositories": {"web": {
    "images": [{"digest": "sha256:1", "last_pushed": "10d", "last_pulled": None,
                "tags": [{"tag": "latest", "is_current": True}], "size": 5,
                "platforms": [{"digest": "sha256:2"}]}]}}}}}), values()))  # fmt: skip
def test_a_snapshot_file_of_any_shape_is_planned_or_refused_in_one_line(
    cli_world: tuple[RunningEmulator, dict], tmp_path: Path, document: object
) -> None:
    """`janitor plan --snapshot FILE` reads a file the user gives: any content is planned or
    refused with exit 2 and one line."""
    _, env = cli_world
    snapshot = tmp_path / "snap.yaml"
    snapshot.write_text(yaml.safe_dump(document, allow_unicode=True))
    result = CliRunner().invoke(cli, ["plan", "--snapshot", str(snapshot), "--json"], env=env)

    assert result.exit_code in (0, 2), (document, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "namespaces: {acme: [1]}\n",
        "namespaces: {acme: {repositories: [1]}}\n",
        "namespaces: {acme: {repositories: {web: {images: [{digest: x, tags: [1]}]}}}}\n",
        "namespaces: {acme: {repositories: {web: {images: [{digest: x, platforms: [1]}]}}}}\n",
        "namespaces: {acme: {repositories: {web: {images: [{digest: x, last_pushed: 3x}]}}}}\n",
    ],
)
def test_a_snapshot_with_a_wrong_shape_deep_down_is_refused_in_one_line(
    cli_world: tuple[RunningEmulator, dict], tmp_path: Path, text: str
) -> None:
    _, env = cli_world
    snapshot = tmp_path / "snap.yaml"
    snapshot.write_text(text)
    result = CliRunner().invoke(cli, ["plan", "--snapshot", str(snapshot)], env=env)
    assert result.exit_code == 2, (result.output, result.exception)
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert str(snapshot) in error


# --------------------------------------------------------------------------- a hostile Hub

DIGEST = "sha256:" + "a" * 64
REPOSITORY_PAGE: dict[str, Any] = {
    "count": 2,
    "next": None,
    "previous": None,
    "results": [
        {
            "name": "web",
            "namespace": "acme",
            "is_private": False,
            "last_updated": "2026-01-01T00:00:00Z",
            "storage_size": 100,
            "status": 1,
            "status_description": "active",
        },
        {"name": "ünï-😀", "namespace": "acme"},
    ],
}
IMAGES_PAGE: dict[str, Any] = {
    "count": 2,
    "next": None,
    "results": [
        {
            "namespace": "acme",
            "repository": "web",
            "digest": DIGEST,
            "tags": [{"tag": "old", "is_current": False}],
            "last_pushed": "2020-01-01T00:00:00Z",
            "last_pulled": None,
            "status": "inactive",
        },
        {
            "digest": "sha256:" + "b" * 64,
            "tags": [{"tag": "latest", "is_current": True}],
            "last_pushed": "2026-11-01T00:00:00Z",
            "last_pulled": "0001-01-01T00:00:00Z",
        },
    ],
}
TAGS_PAGE: dict[str, Any] = {
    "count": 1,
    "next": None,
    "results": [
        {
            "name": "latest",
            "digest": "sha256:" + "b" * 64,
            "images": [{"digest": "sha256:" + "c" * 64, "architecture": "amd64", "size": 7}],
            "tag_last_pushed": "2026-11-01T00:00:00Z",
            "tag_last_pulled": None,
            "full_size": 7,
        }
    ],
}
DELETE_OK: dict[str, Any] = {
    "dry_run": True,
    "metrics": {"manifest_deletes": 1, "manifest_errors": 0, "tag_deletes": 0, "tag_errors": 0},
}
DELETE_REFUSED: dict[str, Any] = {
    "message": "Deletion not possible",
    "errinfo": {
        "type": "validation",
        "details": {
            "errors": [{"repository": "web", "digest": DIGEST, "error": "not_found"}],
            "warnings": [
                {"repository": "web", "digest": DIGEST, "warning": "current_tag", "tags": ["x"]}
            ],
        },
    },
}
NEXT_LINKS = [
    None,
    "",
    "http://evil.example/v2/namespaces/acme/repositories?page=2",
    "::::",
    "http://[::1",
    "/v2/namespaces/acme/repositories?page=2",
    "javascript:alert(1)",
    7,
]


@st.composite
def hostile_hub(draw: st.DrawFn) -> dict[str, tuple[int, bytes]]:
    """An answer per endpoint: the right shape mutated, a random JSON value, a huge page, or
    bytes that are not JSON; with a status Hub might send."""

    def answer(base: dict[str, Any], status: st.SearchStrategy[int]) -> tuple[int, bytes]:
        kind = draw(st.sampled_from(["mutated", "mutated", "random", "huge", "bytes", "next"]))
        if kind == "mutated":
            body: object = draw(mutated(base, json_scalars))
        elif kind == "random":
            body = draw(values(json_scalars))
        elif kind == "huge":
            item = base["results"][0] if "results" in base else base
            body = base | {"count": 3000, "results": [item] * 3000} if "results" in base else item
        elif kind == "next":
            body = base | {"next": draw(st.sampled_from(NEXT_LINKS))}
        else:
            return draw(status), draw(st.binary(max_size=20))
        return draw(status), json.dumps(body).encode()

    ok = st.sampled_from([200, 200, 200, 404, 400, 500, 302, 204])
    return {
        "repositories": answer(REPOSITORY_PAGE, ok),
        "images": answer(IMAGES_PAGE, ok),
        "tags": answer(TAGS_PAGE, ok),
        "delete-images": answer(
            draw(st.sampled_from([DELETE_OK, DELETE_REFUSED])), st.sampled_from([200, 400, 403])
        ),
    }


def _client(answers: dict[str, tuple[int, bytes]]) -> HubClient:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        key = next((k for k in ("delete-images", "images", "tags") if path.endswith(k)), None)
        status, body = answers[key or "repositories"]
        headers = {"content-type": "application/json"}
        if 300 <= status < 400:
            headers["location"] = "http://elsewhere.example/"
        return httpx.Response(status, content=body, headers=headers)

    return HubClient(
        "https://hub.example",
        None,
        transport=httpx.MockTransport(handle),
        max_retries=1,
        backoff=0.0,
        sleep=lambda seconds: None,
        max_wait=0.0,
    )


@fuzz(150)
@given(answers=hostile_hub())
def test_the_client_gives_a_result_or_a_hub_error_for_any_answer(
    answers: dict[str, tuple[int, bytes]],
) -> None:
    """Listing a namespace and calling delete-images against a Hub answering anything: a
    complete, well-typed result or a HubError, never a KeyError, TypeError, ValueError..."""
    with _client(answers) as client:
        try:
            for inv in iter_inventory(client, "acme", concurrency=2):
                assert isinstance(inv.repository.name, str) and inv.repository.name
                for image in inv.images:
                    assert isinstance(image.digest, str) and image.digest
                    assert image.size is None or isinstance(image.size, int)
        except HubError:
            pass
        for dry_run in (True, False):
            try:
                result = client.delete_images("acme", [ManifestRef("web", DIGEST)], dry_run=dry_run)
            except HubError:
                continue
            assert all(isinstance(w.tags, tuple) for w in result.warnings)


@pytest.mark.parametrize("name", ["a/b", "..", ".", "../../etc"])
def test_a_repository_name_that_is_no_path_segment_is_a_protocol_error(name: str) -> None:
    """Hub names a repository with a slash (or ``..``): janitor would build the next paths from
    it; it is refused as a protocol error, not a ValueError deep in the client."""
    from janitor.hub.errors import HubProtocolError

    page = json.dumps(REPOSITORY_PAGE | {"results": [{"name": name}]}).encode()
    answers = {k: (200, page) for k in ("repositories", "images", "tags", "delete-images")}
    with _client(answers) as client, pytest.raises(HubProtocolError, match="repository"):
        list(iter_inventory(client, "acme"))


def test_a_huge_number_from_hub_fails_the_run_as_a_protocol_error(fuzz_store: Store) -> None:
    """A size of 2**70 would overflow the database's integer: it is an answer janitor cannot
    read (HubProtocolError), not a crash of the store in the middle of the run."""
    tags = json.loads(json.dumps(TAGS_PAGE))
    tags["results"][0]["full_size"] = 2**70
    answers = {
        "repositories": (200, json.dumps(REPOSITORY_PAGE).encode()),
        "images": (200, json.dumps(IMAGES_PAGE).encode()),
        "tags": (200, json.dumps(tags).encode()),
        "delete-images": (200, json.dumps(DELETE_OK).encode()),
    }
    settings_ = load_settings({"JANITOR_DELETE_BACKEND": "delete-images"})
    ctx = RunContext(settings=settings_, store=fuzz_store, hub_factory=lambda: _client(answers))
    record = run_once(ctx, parse_policy(UNTAGGED_POLICY), trigger="cli", dry_run=True)
    assert record.status == "failed"
    assert "out of range" in (record.error or "") and "unexpected" not in (record.error or "")


@pytest.fixture
def fuzz_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    import shutil

    path = tmp_path / "fuzz.db"
    shutil.copyfile(sqlite_template, path)
    with Store(f"sqlite:///{path}") as store:
        yield store


@fuzz(60)
@given(answers=hostile_hub(), dry_run=st.booleans())
def test_a_run_against_a_hostile_hub_fails_cleanly_and_deletes_only_the_plan(
    fuzz_store: Store, tmp_path: Path, answers: dict[str, tuple[int, bytes]], dry_run: bool
) -> None:
    """The whole run path against a hostile Hub: the run ends succeeded or failed for a reason
    janitor names (never "unexpected ..."), with no item left pending or sending."""
    policy: Policy = parse_policy(UNTAGGED_POLICY + "keep:\n  - tags: [latest]\n")
    settings_ = load_settings(
        {"JANITOR_DATA_DIR": str(tmp_path), "JANITOR_DELETE_BACKEND": "delete-images"}
    )
    ctx = RunContext(settings=settings_, store=fuzz_store, hub_factory=lambda: _client(answers))
    record = run_once(ctx, policy, trigger="cli", dry_run=dry_run)

    assert record.status in ("succeeded", "failed"), record
    assert not (record.error or "").startswith("unexpected"), record.error
    left = {d.outcome for d in fuzz_store.decisions(record.id)} & {"pending", "sending"}
    assert not left
