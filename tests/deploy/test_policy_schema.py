"""Editor support: the JSON Schema of a policy file (`janitor policies schema`) accepts every
example policy and the README's, refuses every broken policy whose mistake a schema can see, and
`janitor policies check --json` gives each mistake as file, line, field and message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from janitor.cli import cli
from janitor.policy import PolicyLoadError, load_policies
from janitor.policy.schema import policy_json_schema
from tests.core.test_readme import readme_commands

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "policies").glob("*.y*ml") if not p.name.startswith("_"))
BROKEN = sorted((ROOT / "tests" / "policy" / "broken").glob("*.y*ml"))

# Broken files whose mistake no JSON Schema can see: only `janitor policies check` finds these.
BEYOND_A_SCHEMA = {
    "bad-cron.yaml": "a cron field's range",
    "bad-regex.yaml": "what RE2 accepts",
    "bad-timezone.yaml": "the tz database",
    "duplicate-entry.yaml": "names unique within a list of objects",
    "duplicate-key.yaml": "YAML keeps the last of two equal keys before a schema sees them",
    "duplicate-name-a.yaml": "names unique across files",
    "duplicate-name-b.yaml": "names unique across files",
    "empty-window.yaml": "comparing two durations",
    "not-allowed.yaml": "JANITOR_NAMESPACES, a setting of the machine",
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = policy_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors_of(validator: jsonschema.Draft202012Validator, data: object) -> list[str]:
    return [error.message for error in validator.iter_errors(data)]


def test_there_are_examples_and_broken_policies() -> None:
    assert len(EXAMPLES) >= 4 and len(BROKEN) >= 20


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_schema_accepts_every_example_policy(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    assert errors_of(validator, yaml.safe_load(path.read_text(encoding="utf-8"))) == []


def test_the_schema_accepts_the_readmes_policy(validator: jsonschema.Draft202012Validator) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block, *_) = [
        b
        for b in readme_commands.code_blocks(readme)
        if b.language == "yaml" and b.section == "## Policies"
    ]
    data = yaml.safe_load("\n".join(block.lines))
    assert data["namespace"] and data["select"]
    assert errors_of(validator, data) == []


def refused_by_the_loader() -> set[str]:
    with pytest.raises(PolicyLoadError) as refused:
        load_policies(BROKEN[0].parent, allowed_namespaces={"acme"})
    return {error.file.name for error in refused.value.errors}


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_the_schema_refuses_the_broken_policies_a_schema_can_see(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    # duplicate-name-a.yaml is fine alone; the loader refuses the second file of the pair.
    assert path.name in refused_by_the_loader() | {"duplicate-name-a.yaml"}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return  # not YAML: no editor or schema accepts it either
    found = errors_of(validator, data)
    if path.name in BEYOND_A_SCHEMA:
        assert found == [], f"{path.name} is refused by the schema now: drop it from the list"
    else:
        assert found, f"the schema accepts {path.name}"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"namespace": "acme", "select": [{"name": "x"}]}, "is not valid under any"),
        ({"namespace": "acme", "select": [{"last_pulled": {"older_than": "3d"}}]}, "older_than"),
        ({"namespace": "acme", "select": [{"currently_tagged": True}], "keep": [{}]}, "valid"),
        (
            {
                "namespace": "acme",
                "select": [{"currently_tagged": True}],
                "keep": [{"most_recent": 2, "pulled_within": "3d"}],
            },
            "valid",
        ),
        ({"namespace": "Acme", "select": [{"currently_tagged": True}]}, "does not match"),
        ({"namespace": "acme", "schedule": 5, "select": [{"tags": ["x"]}]}, "valid"),
    ],
)
def test_the_schema_sees_the_rules_the_validators_hold(
    validator: jsonschema.Draft202012Validator, data: dict[str, Any], fragment: str
) -> None:
    found = errors_of(validator, data)
    assert found and any(fragment in message for message in found), found


def _described(node: Any, where: str = "") -> list[str]:
    """Paths of properties without a description (directly or on the definition they use)."""
    missing = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if not prop.get("description"):
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            if key != "properties":
                missing.extend(_described(value, f"{where}/{key}"))
    return missing


def test_every_field_has_a_description_and_the_schema_examples() -> None:
    schema = policy_json_schema()
    assert _described(schema) == []
    assert schema["title"] and schema["description"] and schema["examples"]
    assert "name" not in schema["required"]  # the loader takes the file's name
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for name in ("SelectEntry", "KeepRule", "AgeCondition", "PulledCondition"):
        assert schema["$defs"][name]["examples"], name
    validator = jsonschema.Draft202012Validator(schema)
    for example in schema["examples"]:
        assert errors_of(validator, example) == []


def test_policies_schema_prints_the_schema() -> None:
    result = CliRunner().invoke(cli, ["policies", "schema"], catch_exceptions=False)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == policy_json_schema()


def test_policies_check_json_lists_every_mistake_with_file_line_and_field(tmp_path: Path) -> None:
    env = {"JANITOR_NAMESPACES": "acme", "JANITOR_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(
        cli, ["policies", "check", "--json", str(BROKEN[0].parent)], env=env
    )
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["policies"] == []
    errors = report["errors"]
    assert {Path(e["file"]).name for e in errors} >= {p.name for p in BROKEN} - {
        "duplicate-name-a.yaml"  # the first of the two is fine; the second is the mistake
    }
    assert all(set(e) == {"file", "line", "field", "message"} for e in errors)
    durations = [e for e in errors if Path(e["file"]).name == "bad-durations.yaml"]
    assert {(e["line"], e["field"]) for e in durations} >= {
        (5, "select[0].last_pushed.older_than"),
        (7, "select[1].last_pushed.older_than"),
    }
    unknown = [e for e in errors if Path(e["file"]).name == "unknown-key.yaml"]
    assert any(e["field"] == "shedule" and e["line"] == 3 for e in unknown), unknown


def test_policies_check_json_on_valid_policies(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["policies", "check", "--json", str(ROOT / "policies")],
        env={"JANITOR_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["errors"] == []
    assert {Path(p["file"]).name for p in report["policies"]} == {p.name for p in EXAMPLES}
