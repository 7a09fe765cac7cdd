"""Loading: every validation error names file, line and field; the examples load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from janitor.policy import (
    Policy,
    PolicyError,
    PolicyLoadError,
    load_policies,
    load_policy_file,
    parse_policy,
    policy_from_data,
)
from janitor.policy.load import MAX_VALUES

HERE = Path(__file__).parent
BROKEN = HERE / "broken"
EXAMPLES = HERE.parents[1] / "policies"

VALID = """\
namespace: acme
select:
  - last_pushed: {older_than: 30d}
"""

# file -> [(line, field, fragment of the message)], one per mistake
BROKEN_EXPECTED: dict[str, list[tuple[int | None, str, str]]] = {
    "syntax.yaml": [(6, "", "YAML syntax error: expected ',' or '}'")],
    "unknown-key.yaml": [
        (3, "shedule", "unknown key 'shedule'; did you mean 'schedule'?"),
        (6, "select[0].staus", "unknown key 'staus' (allowed here: name, currently_tagged"),
    ],
    "wrong-type.yaml": [
        (4, "select[0].currently_tagged", "expected true or false, got 'no'"),
        (6, "select[1].tags", "expected a list"),
        (8, "keep[0].most_recent", "expected a whole number, got '5'"),
    ],
    "bad-regex.yaml": [
        (4, "select[0].tags[0]", "is not a regular expression janitor can use: invalid escape"),
    ],
    "bad-glob.yaml": [
        (4, "repositories.include[0]", "'Web' is not a valid glob"),
        (6, "select[0].tags[0]", "for a regular expression write 're:^v\\d+$'"),
        (6, "select[0].tags[1]", "'[' at position 7 is not closed"),
    ],
    "bad-cron.yaml": [(3, "schedule", "'61 3 * * *' is not a valid cron expression")],
    "bad-cron-fields.yaml": [(3, "schedule", "is not a 5-field cron expression")],
    "bad-timezone.yaml": [(4, "timezone", "'Mars/Olympus_Mons' is not a known IANA time zone")],
    "bad-durations.yaml": [
        (5, "select[0].last_pushed.older_than", "'3x' is not a duration (use 90d, 12h"),
        (7, "select[1].last_pushed.older_than", "'0d' is zero"),
        (9, "select[2].last_pushed.newer_than", "'-5d' is negative"),
    ],
    "empty-window.yaml": [
        (
            4,
            "select[0].last_pushed.newer_than",
            "older_than 30d must be shorter than newer_than 7d",
        ),
    ],
    "never-missing.yaml": [
        (5, "select[0].last_pulled.never", "is required with older_than: write never: match"),
    ],
    "duplicate-entry.yaml": [(6, "select[1].name", "duplicate select entry name 'old'")],
    "keep-nothing.yaml": [
        (6, "keep[0].tags", "an empty tags list keeps nothing"),
        (7, "keep[1].most_recent", "0 keeps nothing; use 1 or more"),
    ],
    "no-select.yaml": [(None, "select", "is required: a policy must select something")],
    "empty-select.yaml": [(3, "select", "is empty: a policy must select something")],
    "library.yaml": [(2, "namespace", "'library' holds Docker Official Images")],
    "not-allowed.yaml": [(2, "namespace", "'globex' is not an allowed namespace")],
    "bad-mode.yaml": [(3, "mode", "'delete-everything' is not one of 'dry-run' or 'delete'")],
    "bad-limits.yaml": [
        (6, "limits.max_deletes", "-1 is negative"),
        (7, "limits.max_fraction_per_repository", "1.5 is out of range"),
    ],
    "bad-email.yaml": [
        (6, "report.email", "not an e-mail address: 'ops at example.com', 'Ops <ops@example.com>'"),
    ],
    "duplicate-key.yaml": [(5, "select", "duplicate key (first on line 3)")],
    "duplicate-name-a.yaml": [],
    "duplicate-name-b.yaml": [],  # alone it is valid; the folder test checks the clash
}


def _errors(path: Path) -> list[PolicyError]:
    with pytest.raises(PolicyLoadError) as info:
        load_policy_file(path, allowed_namespaces={"acme"})
    return info.value.errors


@pytest.mark.parametrize("name", sorted(n for n, e in BROKEN_EXPECTED.items() if e))
def test_each_broken_file_names_file_line_and_field(name: str) -> None:
    path = BROKEN / name
    errors = _errors(path)
    got = [(e.line, e.field) for e in errors]
    assert got == [(line, field) for line, field, _ in BROKEN_EXPECTED[name]]
    for error, (line, field, fragment) in zip(errors, BROKEN_EXPECTED[name], strict=True):
        assert error.file == path
        assert fragment in error.message
        text = str(error)
        assert "\n" not in text
        where = f"{path}:{line}" if line is not None else str(path)
        assert text.startswith(f"{where}: {field}: " if field else f"{where}: ")


def test_broken_folder_gives_one_line_per_mistake() -> None:
    with pytest.raises(PolicyLoadError) as info:
        load_policies(BROKEN, allowed_namespaces={"acme"})
    error = info.value
    lines = str(error).splitlines()
    expected = sum(len(e) for e in BROKEN_EXPECTED.values()) + 1  # + the duplicate name
    assert len(lines) == len(error.errors) == expected
    files = {p.name for p in BROKEN.glob("*.yaml")}
    assert files == set(BROKEN_EXPECTED)
    assert {e.file.name for e in error.errors} == files - {"duplicate-name-a.yaml"}
    clash = [e for e in error.errors if e.file.name == "duplicate-name-b.yaml"]
    assert [(e.line, e.field) for e in clash] == [(2, "name")]
    assert "duplicate policy name 'shared'" in clash[0].message
    assert "duplicate-name-a.yaml" in clash[0].message
    assert error.summary == f"{expected} mistakes in {len(files) - 1} policy files"


def test_examples_load() -> None:
    policies = load_policies(EXAMPLES, allowed_namespaces={"acme"})
    names = [p.name for p in policies]
    assert names == ["keep-releases", "never-pulled", "pr-builds", "untagged-and-cold"]
    for policy in policies:
        assert policy.namespace == "acme"
        assert policy.mode == "dry-run"
        assert policy.source.parent == EXAMPLES
        text = policy.source.read_text()
        assert text.startswith(f"# {policy.name}:"), "each example explains itself first"
        assert policy.limits.max_deletes is not None, "examples are safe: they set limits"


def test_policy_attributes() -> None:
    policy = parse_policy(
        """\
name: ci
namespace: acme
repositories: {include: ["web-*", "api"], exclude: ["*-base"]}
schedule: "0 3 * * 1"
timezone: Europe/Berlin
mode: delete
select:
  - currently_tagged: false
keep:
  - most_recent: 5
limits: {max_deletes: 500, max_fraction_per_repository: 0.8}
report: {email: ["ops@example.com", "dev+janitor@example.org"]}
""",
        "policies/ci.yaml",
    )
    assert policy.name == "ci"
    assert policy.source == Path("policies/ci.yaml")
    assert policy.deletes and policy.mode == "delete"
    assert policy.report_emails == ("ops@example.com", "dev+janitor@example.org")
    assert policy.limits.max_deletes == 500
    assert policy.limits.max_fraction_per_repository == 0.8
    assert [policy.covers(r) for r in ["web-a", "web-base", "api", "api-2", "worker"]] == [
        True,
        False,
        True,
        False,
        False,
    ]
    assert str(policy.tzinfo) == "Europe/Berlin"
    trigger = policy.cron_trigger()
    assert trigger is not None and "mon" in str(trigger)
    assert policy.select[0].name == "select[0]"
    with pytest.raises(ValidationError):
        policy.name = "other"  # type: ignore[misc]


def test_defaults() -> None:
    policy = parse_policy(VALID, Path("somewhere/cold-images.yaml"))
    assert policy.name == "cold-images"  # from the file name
    assert policy.mode == "dry-run"
    assert policy.timezone == "UTC"
    assert policy.schedule is None and policy.cron_trigger() is None
    assert policy.keep == []
    assert policy.report_emails == ()
    assert policy.limits.max_deletes is None
    assert policy.covers("anything")


def _one_error(text: str, source: str = "p.yaml", **kwargs: object) -> PolicyError:
    with pytest.raises(PolicyLoadError) as info:
        parse_policy(text, source, **kwargs)  # type: ignore[arg-type]
    assert len(info.value.errors) == 1, info.value
    return info.value.errors[0]


def test_name_from_a_bad_file_name_says_so() -> None:
    error = _one_error(VALID, "my policy.yaml")
    assert error.field == "name"
    assert "taken from the file name" in error.message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", None, "is empty"),
        ("# only a comment\n", None, "is empty"),
        ("- a\n- b\n", 1, "found a list"),
        ("just text\n", 1, "found 'just text'"),
        (VALID + "---\n" + VALID, 4, "more than one YAML document"),
        ("namespace: acme\nselect: [\n", 3, "YAML syntax error"),
        ("namespace: acme\nselect:\n\t- x\n", 3, "YAML syntax error"),
        ("a: &a [*a]\n", 1, "recursive YAML alias"),
        ("namespace: !!python/object:os.system acme\n", 1, "could not determine a constructor"),
    ],
)
def test_documents_yaml_refuses(text: str, line: int | None, fragment: str) -> None:
    error = _one_error(text)
    assert error.line == line
    assert fragment in error.message


def test_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    error = _one_error("\n".join(lines) + "\n")
    assert f"more than {MAX_VALUES} values" in error.message


def test_deep_nesting_is_refused() -> None:
    error = _one_error("namespace: acme\nselect: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in error.message or "more than" in error.message


def test_aliases_are_allowed_for_sharing() -> None:
    policy = parse_policy(
        """\
namespace: acme
select:
  - tags: &releases ["v*", "release-*"]
    last_pushed: {older_than: 1y}
keep:
  - tags: *releases
    most_recent: 2
""",
        "shared.yaml",
    )
    assert policy.keep[0].tags == policy.select[0].tags


def test_files(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID)
    (tmp_path / ".hidden.yaml").write_text("broken: [")
    (tmp_path / "notes.txt").write_text("not a policy")
    assert [p.name for p in load_policies(tmp_path)] == ["a", "b"]
    assert load_policies(tmp_path / "a.yml")[0].name == "a"

    (tmp_path / "latin1.yaml").write_bytes(b"namespace: acm\xe9\n")
    with pytest.raises(PolicyLoadError) as info:
        load_policies(tmp_path)
    (error,) = info.value.errors
    assert error.file == tmp_path / "latin1.yaml" and "not UTF-8" in error.message

    with pytest.raises(PolicyLoadError, match="no such policy file or folder"):
        load_policies(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PolicyLoadError, match="holds no policy files"):
        load_policies(empty)
    big = tmp_path / "big"
    big.mkdir()
    (big / "huge.yaml").write_text(VALID + "# " + "x" * (1 << 20) + "\n")
    with pytest.raises(PolicyLoadError, match="is larger than 1 MiB"):
        load_policies(big)


def test_duplicate_names_compare_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: Cold\n" + VALID)
    (tmp_path / "b.yaml").write_text("name: cold\n" + VALID)
    with pytest.raises(PolicyLoadError) as info:
        load_policies(tmp_path)
    (error,) = info.value.errors
    assert (error.file.name, error.line, error.field) == ("b.yaml", 1, "name")


def test_errors_of_every_file_come_in_one_pass(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(
        "namespace: acme\nselect:\n  - last_pushed: {older_than: 3x}\n"
    )
    (tmp_path / "two.yaml").write_text("namespace: library\nselect:\n  - nope: 1\n")
    (tmp_path / "ok.yaml").write_text(VALID)
    with pytest.raises(PolicyLoadError) as info:
        load_policies(tmp_path)
    got = [(e.file.name, e.line, e.field) for e in info.value.errors]
    assert got == [
        ("one.yaml", 3, "select[0].last_pushed.older_than"),
        ("two.yaml", 1, "namespace"),
        ("two.yaml", 3, "select[0].nope"),
    ]


def test_yaml_and_schema_mistakes_come_together() -> None:
    with pytest.raises(PolicyLoadError) as info:
        parse_policy("namespace: acme\nnamespace: acme\nselect: []\n", "p.yaml")
    assert [(e.line, e.field) for e in info.value.errors] == [(2, "namespace"), (3, "select")]


@pytest.mark.parametrize(
    ("select", "field", "fragment"),
    [
        ([{}], "select[0]", "needs at least one condition"),
        ([{"name": "x"}], "select[0]", "needs at least one condition"),
        ([{"tags": ["pr-*"], "currently_tagged": False}], "select[0]", "can never hold"),
        ([{"tags": []}], "select[0].tags", "an empty tags list selects nothing"),
        ([{"last_pushed": {}}], "select[0].last_pushed", "needs older_than, newer_than"),
        ([{"last_pulled": {}}], "select[0].last_pulled", "never: match alone"),
        ([{"last_pulled": {"never": "skip"}}], "select[0].last_pulled", "never: match alone"),
        (
            [{"last_pulled": {"never": "maybe"}}],
            "select[0].last_pulled.never",
            "'maybe' is not one of",
        ),
        (
            [{"last_pushed": {"older_than": "30d", "newer_than": "1m"}}],
            "select[0].last_pushed.newer_than",
            "months are 28 to 31 days",
        ),
        (
            [{"last_pushed": {"older_than": 30}}],
            "select[0].last_pushed.older_than",
            "30 has no unit",
        ),
        (
            [{"current_tag": "force", "currently_tagged": True}],
            "select[0].current_tag",
            "is not one of 'skip' or 'delete'",
        ),
        ([{"name": "", "currently_tagged": True}], "select[0].name", "not a usable entry name"),
        ([{"name": "it's", "currently_tagged": True}], "select[0].name", "no quotes"),
        ([{"status": "inactive"}], "select[0].status", "unknown key 'status'"),
        ("all", "select", "expected a list"),
        ([5], "select[0]", "expected a mapping (key: value), got 5 (a number)"),
    ],
)
def test_select_mistakes(select: object, field: str, fragment: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        policy_from_data({"namespace": "acme", "select": select}, "p.yaml")
    fields = [e.field for e in info.value.errors]
    assert field in fields
    message = info.value.errors[fields.index(field)].message
    assert fragment in message


@pytest.mark.parametrize(
    ("keep", "field", "fragment"),
    [
        ([{}], "keep[0]", "a keep rule is one of"),
        ([{"tags": ["latest"], "pulled_within": "7d"}], "keep[0]", "got tags with pulled_within"),
        ([{"most_recent": -1}], "keep[0].most_recent", "keeps nothing"),
        ([{"most_recent": True}], "keep[0].most_recent", "expected a whole number, got true"),
        ([{"most_recent": 2.0}], "keep[0].most_recent", "expected a whole number"),
        ([{"pulled_within": "0h"}], "keep[0].pulled_within", "is zero"),
        ([{"tags": "latest"}], "keep[0].tags", "expected a list"),
        ([{"tags": [1.0]}], "keep[0].tags[0]", "1.0 (a number; quote it"),
        ([{"newest": 3}], "keep[0].newest", "unknown key 'newest'"),
    ],
)
def test_keep_mistakes(keep: object, field: str, fragment: str) -> None:
    with pytest.raises(PolicyLoadError) as info:
        policy_from_data(
            {"namespace": "acme", "select": [{"currently_tagged": False}], "keep": keep}
        )
    fields = [e.field for e in info.value.errors]
    assert field in fields, info.value
    assert fragment in info.value.errors[fields.index(field)].message


@pytest.mark.parametrize(
    ("extra", "field", "fragment"),
    [
        ({"namespace": "Acme"}, "namespace", "is not a Docker Hub namespace"),
        ({"namespace": ""}, "namespace", "is not a Docker Hub namespace"),
        ({"name": "a/b"}, "name", "is not a usable policy name"),
        ({"repositories": {"include": []}}, "repositories.include", "covers no repository"),
        ({"repositories": ["web"]}, "repositories", "expected a mapping"),
        (
            {"limits": {"max_fraction_per_repository": 0}},
            "limits.max_fraction_per_repository",
            "out of range",
        ),
        (
            {"limits": {"max_fraction_per_repository": float("nan")}},
            "limits.max_fraction_per_repository",
            "out of range",
        ),
        (
            {"limits": {"max_fraction_per_repository": "half"}},
            "limits.max_fraction_per_repository",
            "expected a number",
        ),
        ({"report": {"email": "ops@example.com"}}, "report.email", "expected a list"),
        ({"report": {"slack": "#ops"}}, "report.slack", "unknown key 'slack'"),
        ({"timezone": 5}, "timezone", "expected a string"),
        ({"schedule": 300}, "schedule", "expected a string"),
        ({"mode": False}, "mode", "false (a boolean) is not one of"),
        ({"source": "x"}, "source", "unknown key 'source'"),
        ({1: "x"}, "1", "unknown key '1'"),
    ],
)
def test_top_level_mistakes(extra: dict[object, object], field: str, fragment: str) -> None:
    data: dict[object, object] = {
        "name": "t",
        "namespace": "acme",
        "select": [{"currently_tagged": False}],
    }
    data.update(extra)
    with pytest.raises(PolicyLoadError) as info:
        policy_from_data(data)
    fields = [e.field for e in info.value.errors]
    assert field in fields, info.value
    assert fragment in info.value.errors[fields.index(field)].message


def test_max_deletes_zero_is_allowed() -> None:
    policy = policy_from_data(
        {
            "namespace": "acme",
            "select": [{"currently_tagged": False}],
            "limits": {"max_deletes": 0},
        },
        "zero.yaml",
    )
    assert policy.name == "zero"
    assert policy.limits.max_deletes == 0


def test_policy_error_text() -> None:
    assert str(PolicyError(Path("p.yaml"), 3, "a.b", "bad")) == "p.yaml:3: a.b: bad"
    assert str(PolicyError(Path("p.yaml"), None, "a", "bad")) == "p.yaml: a: bad"
    assert str(PolicyError(Path("p.yaml"), 1, "", "bad")) == "p.yaml:1: bad"
    with pytest.raises(ValueError):
        PolicyLoadError([])


def test_in_memory_policies_need_a_name() -> None:
    with pytest.raises(PolicyLoadError) as info:
        policy_from_data({"namespace": "acme", "select": [{"currently_tagged": False}]})
    (error,) = info.value.errors
    assert (error.file, error.field) == (Path("<memory>"), "name")
    assert "does not come from a file" in error.message


def test_policies_can_be_built_in_code() -> None:
    policy = Policy.model_validate(
        {"name": "code", "namespace": "acme", "select": [{"currently_tagged": False}]}
    )
    assert policy.source == Path("<memory>")
    with pytest.raises(ValidationError, match="duplicate select entry name"):
        Policy.model_validate(
            {
                "name": "code",
                "namespace": "acme",
                "select": [
                    {"name": "a", "currently_tagged": False},
                    {"name": "a", "currently_tagged": True},
                ],
            }
        )


def test_policies_pickle_and_copy() -> None:
    import copy
    import pickle

    for policy in load_policies(EXAMPLES):
        for clone in (pickle.loads(pickle.dumps(policy)), copy.deepcopy(policy)):
            assert clone.model_dump() == policy.model_dump()
            assert clone.source == policy.source
            assert [clone.covers(r) for r in ("web", "docs", "base-images")] == [
                policy.covers(r) for r in ("web", "docs", "base-images")
            ]


def test_load_error_is_a_bad_input_error() -> None:
    from janitor.errors import JanitorError

    with pytest.raises(JanitorError) as info:
        load_policies(BROKEN / "library.yaml")
    assert getattr(info.value, "exit_code", None) == 2


def test_too_many_values_are_refused_while_yaml_composes_them() -> None:
    """350,000 ``{}`` items used to be composed whole (19 s, 410 MB) before being refused; the
    loader now stops at the node past the cap: the error names that node's line."""
    text = "namespace: acme\nselect:\n" + "  - {}\n" * 350_000
    error = _one_error(text)
    assert f"more than {MAX_VALUES} values" in error.message
    assert error.line is not None and error.line <= MAX_VALUES + 3


@pytest.mark.parametrize(
    ("value", "line", "field", "fragment"),
    [
        ("2020-02-30", 3, "select[0].last_pushed.older_than", "'2020-02-30' is not a real date"),
        ("2021-02-29 12:00:00", 3, "select[0].last_pushed.older_than", "not a real date or time"),
        ("1" * 4301, 3, "select[0].last_pushed.older_than", "is too large a number"),
        ("0b" + "1" * 20_000, 3, "select[0].last_pushed.older_than", "is too large a number"),
        ("0x" + "f" * 17, 3, "select[0].last_pushed.older_than", "is too large a number"),
        ("-" + "9" * 20, 3, "select[0].last_pushed.older_than", "is too large a number"),
    ],
)
def test_values_python_cannot_hold_are_mistakes_at_their_line(
    value: str, line: int, field: str, fragment: str
) -> None:
    error = _one_error(f"namespace: acme\nselect:\n  - last_pushed: {{older_than: {value}}}\n")
    assert (error.line, error.field) == (line, field)
    assert fragment in error.message
    assert len(error.message) < 200


@pytest.mark.parametrize("key", ["most_recent", "max_deletes"])
def test_counts_are_bounded(key: str) -> None:
    where = "keep:\n  - most_recent:" if key == "most_recent" else "limits:\n  max_deletes:"
    ok = VALID + f"{where} 1000000000\n"
    parse_policy(ok, "p.yaml")
    error = _one_error(VALID + f"{where} 1000000001\n")
    assert "1000000001 is more than 1,000,000,000, the most allowed" in error.message


def test_numbers_too_long_to_print_never_break_an_error_message() -> None:
    """From data (not YAML), any field: the message describes the number instead of printing
    it (Python refuses to turn more than 4,300 digits into text)."""
    huge = int("1" * 20_000, 2)
    for data in (
        {"namespace": huge, "select": [{"currently_tagged": False}]},
        {"namespace": "acme", "select": [{"tags": [huge]}]},
        {"namespace": "acme", "select": [{"last_pushed": {"older_than": huge}}]},
        {
            "namespace": "acme",
            "select": [{"currently_tagged": False}],
            "keep": [{"most_recent": -huge}],
        },
    ):
        with pytest.raises(PolicyLoadError) as caught:
            policy_from_data(data, "p.yaml")
        assert "a number of about 6020 digits" in str(caught.value) or "negative number" in str(
            caught.value
        )


@pytest.mark.parametrize(
    "extra",
    [
        "report: {email: [" + "a" * 100_000 + "@b.c]}\n",
        "schedule: '*/" + "9" * 5000 + " * * * *'\n",
        "namespace2: " + "x" * 50_000 + "\n",
    ],
)
def test_an_error_quoting_a_huge_value_stays_a_readable_line(extra: str) -> None:
    error = _one_error(VALID + extra)
    assert len(str(error)) < 400
    assert str(error).endswith("...") or len(error.message) < 300
