"""`janitor plan --out`: the saved plan (JSON) and the review form (Markdown)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from janitor.plans.markdown import render_markdown
from janitor.plans.saved import (
    FORMAT,
    PlanFileError,
    PlannedImage,
    SavedPlan,
    content_hash,
    read_saved_plan,
)

from .conftest import A1, PLANNED, World


def test_one_evaluation_gives_the_json_and_the_markdown_that_names_it(world: World) -> None:
    plan_json, plan_md = world.tmp_path / "out" / "plan.json", world.tmp_path / "plan.md"
    result = world.janitor(
        "plan", "--policy", "builds", "--out", str(plan_json), "--out", str(plan_md)
    )
    assert result.exit_code == 0, result.output
    document = json.loads(plan_json.read_text())
    assert document["format"] == FORMAT
    assert document["namespace"] == "acme"
    assert document["hub_url"] == world.hub.url
    assert document["backend"] == world.backend
    assert document["policy"] == "builds"
    policy_file = world.tmp_path / "policies" / "builds.yaml"
    assert document["policy_sha256"] == content_hash(policy_file.read_bytes())
    assert datetime.fromisoformat(document["as_of"]).tzinfo is not None
    first = document["repositories"][0]["images"][0]
    for key in ("digest", "tags", "last_pushed", "last_pulled", "size", "verdict", "reasons"):
        assert key in first
    saved, plan_hash = read_saved_plan(plan_json)
    assert {i.digest for i in saved.to_delete} == PLANNED
    markdown = plan_md.read_text()
    assert markdown.startswith("## janitor plan: `builds` on `acme`\n")
    assert "**6 images to delete** (5.9 KiB) of 9 in 2 of 2 repositories." in markdown
    assert f"`plan.json` (sha256 `{plan_hash[7:19]}`): apply with `janitor apply plan.json`" in (
        markdown
    )
    assert "| `api` | 3 | 2 | 1 | 2.0 KiB |" in markdown
    assert f"| `sha256:{A1[7:19]}` | `build-7` |" in markdown
    assert "selected by 'old-builds': current tag 'build-7' matches 'build-\\*'" in markdown
    assert f"wrote {plan_json}, {plan_md} (plan {plan_hash})" in result.output


def test_format_overrides_the_extension_and_dash_is_stdout(world: World) -> None:
    target = world.tmp_path / "plan.txt"
    result = world.janitor("plan", "--policy", "builds", "--out", str(target), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["format"] == FORMAT
    result = world.janitor("plan", "--policy", "builds", "--out", "-")
    assert result.exit_code == 0
    assert "## janitor plan: `builds` on `acme`" in result.output


@pytest.mark.parametrize("world", ["delete-images"], indirect=True)
def test_bad_out_requests_are_one_line_and_exit_2(world: World) -> None:
    result = world.janitor("plan", "--policy", "builds", "--out", str(world.tmp_path / "p.txt"))
    assert result.exit_code == 2
    assert "name it .json or .md, or say the form with --format json|markdown" in result.output
    (world.tmp_path / "policies" / "other.yaml").write_text(
        "namespace: acme\nselect: [{currently_tagged: false}]\n"
    )
    result = world.janitor("plan", "--out", str(world.tmp_path / "p.json"))
    assert result.exit_code == 2
    assert "a saved plan (.json) holds one policy, and 2 are selected" in result.output
    assert not (world.tmp_path / "p.json").exists()


def _saved(reason: str, repository: str = "web") -> SavedPlan:
    image = PlannedImage(
        repository=repository,
        digest="sha256:" + "a" * 64,
        tags=("pr-1",),
        last_pushed=datetime(2026, 1, 2, tzinfo=UTC),
        last_pulled=None,
        size=None,
        verdict="delete",
        reasons=(reason,),
        selected_by="x",
    )
    return SavedPlan(
        namespace="acme",
        hub_url="https://hub.docker.com",
        backend="registry",
        policy="p",
        policy_source="policies/p.yaml",
        policy_sha256=None,
        mode="delete",
        protect_list=None,
        as_of=datetime(2026, 2, 1, tzinfo=UTC),
        violations=("max_deletes 1 < 2",),
        images=(image,),
    )


def test_markdown_escapes_what_policies_and_hub_put_in_it() -> None:
    text = render_markdown(_saved("selected by 'a|b <script>x</script> **bold** [l](u)'"))
    row = next(line for line in text.splitlines() if line.startswith("| `sha256:"))
    assert row.count(" | ") == 5  # the reason's pipe does not make a seventh column
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\\*\\*bold\\*\\*" in text and "\\[l\\](u)" in text
    assert "> **The policy's limits refuse this plan:**" in text
    assert "| never | unknown |" in row  # never pulled; size unknown


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a saved plan (not JSON"),
        ("[]", 'not a saved plan of this janitor (expected "format": "janitor-plan/1")'),
        (json.dumps({"format": FORMAT}), "hub_url: is missing"),
    ],
)
def test_a_malformed_plan_file_is_refused_in_one_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(PlanFileError) as caught:
        read_saved_plan(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_field_of_an_image_is_checked_by_name(world: World) -> None:
    path = world.tmp_path / "plan.json"
    assert world.janitor("plan", "--policy", "builds", "--out", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    document["repositories"][1]["images"][0]["last_pulled"] = "yesterday"
    path.write_text(json.dumps(document))
    with pytest.raises(PlanFileError, match=r"repositories\[1\]\.images\[0\]\.last_pulled: "):
        read_saved_plan(path)
    result = world.janitor("apply", str(path))
    assert result.exit_code == 2 and "is not an ISO 8601 time" in result.output
