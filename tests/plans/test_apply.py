"""`janitor apply`: a saved plan applied against the emulator, on both deletion backends.

It deletes exactly the plan's images that are unchanged since; each kind of change in between
(a tag added, a push, a pull, the protect list, the image gone) is skipped and recorded; a
stale, foreign or edited plan is refused before any Hub call that could delete."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from janitor.emulator.model import StoredImage, TagEntry
from janitor.plans.saved import content_hash, read_saved_plan
from janitor.records import DecisionRecord

from .conftest import A1, A2, B1, B2, B3, B4, LATEST, NEW, PLANNED, STABLE, World, digest


def _plan(world: World, *extra: str) -> Path:
    path = world.tmp_path / "plan.json"
    result = world.janitor("plan", "--policy", "builds", "--out", str(path), *extra)
    assert result.exit_code == 0, result.output
    return path


def _items(world: World, run_id: int) -> dict[str, DecisionRecord]:
    return {d.digest: d for d in world.store.decisions(run_id)}


def _repush(world: World, repository: str, image: str, at: datetime) -> None:
    state = world.hub.state
    with state.lock:
        stored = state.image("acme", repository, image)
        assert stored is not None
        stored.last_pushed = at
        state._touch(state.repository("acme", repository))  # type: ignore[arg-type]


def _deletes_sent(world: World) -> int:
    return sum(
        1
        for e in world.hub.log.entries()
        if e.method == "DELETE" or (e.method == "POST" and e.path.endswith("/delete-images"))
    )


def test_apply_deletes_exactly_the_unchanged_planned_images_and_records_each_skip(
    world: World,
) -> None:
    plan_file = _plan(world, "--out", str(world.tmp_path / "plan.md"))
    saved, plan_hash = read_saved_plan(plan_file)
    assert {i.digest for i in saved.to_delete} == PLANNED
    assert saved.backend == world.backend
    before = world.digests()

    # Between review and apply: a tag added, a push, a pull, the protect list, a new old image.
    now = datetime.now(UTC)
    world.hub.state.tag_image("acme", "web", B2, "keep-me")
    _repush(world, "web", B3, now)
    world.hub.state.record_pull("acme", "web", B4, now)
    (world.tmp_path / "policies" / "_protect.yaml").write_text(f'digests: ["{A2}"]\n')
    extra = digest(10)
    world.hub.state.push_image(
        "acme",
        "api",
        StoredImage(
            digest=extra,
            media_type="application/vnd.docker.distribution.manifest.v2+json",
            last_pushed=now - timedelta(days=120),
            last_pulled=None,
            size=1000,
            tags=[TagEntry("build-10", True)],
        ),
    )

    result = world.janitor("apply", str(plan_file))
    assert result.exit_code == 0, result.output

    gone = (before | {("api", extra)}) - world.digests()
    assert gone == {("web", B1), ("api", A1)}
    (run,) = world.store.list_runs(limit=1)
    assert run.trigger == "apply" and not run.dry_run and run.status == "succeeded"
    assert run.plan_hash == plan_hash == content_hash(plan_file.read_bytes())
    items = _items(world, run.id)
    assert {d: i.outcome for d, i in items.items() if i.verdict == "delete"} == {
        B1: "deleted",
        A1: "deleted",
    }
    assert items[B1].reasons[0].startswith(f"in the saved plan {plan_hash[:19]} of ")
    skipped = {d: items[d].reasons[0] for d in (B2, B3, B4, A2)}
    assert skipped[B2].startswith(
        "skipped: its tags changed since the plan (then build-2, now build-2, keep-me)"
    )
    assert skipped[B3].startswith("skipped: pushed since the plan (last pushed ")
    assert skipped[B4].startswith("skipped: pulled since the plan (last pulled never then, ")
    assert skipped[A2].startswith(f"skipped: protected by _protect.yaml: digest {A2} is listed")
    assert all(items[d].verdict == "keep" and items[d].outcome == "kept" for d in skipped)
    assert all(
        f"the saved plan {plan_hash[:19]} planned to delete it" in r for r in skipped.values()
    )
    assert items[extra].verdict == "keep"
    assert items[extra].reasons[0].startswith("not in the saved plan: the policy would delete")
    for d in (NEW, LATEST, STABLE):
        assert items[d].verdict == "keep"
    # The command names the plan and each skipped image; the report names the plan.
    assert f"plan: {plan_file} ({plan_hash}): 6 planned to delete, 4 skipped" in result.output
    assert "skipped api sha256:000000000000: protected by _protect.yaml" in result.output
    report = Path(run.report_path or "").read_text()
    assert f"applied {plan_hash}" in report


def test_an_image_gone_since_the_plan_is_skipped_and_recorded(world: World) -> None:
    plan_file = _plan(world)
    world.hub.state.delete_images("acme", "web", [B1])
    result = world.janitor("apply", str(plan_file), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["trigger"] == "apply" and body["plan_hash"].startswith("sha256:")
    assert [(s["repository"], s["digest"]) for s in body["skipped"]] == [("web", B1)]
    (run,) = world.store.list_runs(limit=1)
    items = _items(world, run.id)
    assert items[B1].verdict == "keep"
    assert items[B1].reasons[0].startswith("skipped: Hub no longer lists it")
    assert {d for d, i in items.items() if i.outcome == "deleted"} == PLANNED - {B1}


def _rewrite(plan_file: Path, **changes: object) -> None:
    document = json.loads(plan_file.read_text())
    document.update(changes)
    plan_file.write_text(json.dumps(document))


def _refused(world: World, plan_file: Path, *args: str) -> str:
    result = world.janitor("apply", str(plan_file), *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert world.store.list_runs(limit=1) == []  # nothing ran, nothing recorded
    assert _deletes_sent(world) == 0
    return lines[0]


def test_a_stale_foreign_or_edited_plan_is_refused_in_one_line(world: World) -> None:
    plan_file = _plan(world)
    original = plan_file.read_text()

    old = (datetime.now(UTC) - timedelta(days=8)).isoformat().replace("+00:00", "Z")
    _rewrite(plan_file, as_of=old)
    assert "the plan is 8 days old, older than 7d (JANITOR_PLAN_MAX_AGE)" in _refused(
        world, plan_file
    )

    plan_file.write_text(original)
    _rewrite(plan_file, hub_url="https://hub.docker.com")
    assert "the plan is for the Hub at https://hub.docker.com" in _refused(world, plan_file)

    plan_file.write_text(original)
    _rewrite(plan_file, namespace="other")
    assert "the plan is for namespace 'other'" in _refused(world, plan_file)

    plan_file.write_text(original)
    _rewrite(plan_file, format="something-else")
    assert "not a saved plan of this janitor" in _refused(world, plan_file)

    plan_file.write_text(original)
    policy = world.tmp_path / "policies" / "builds.yaml"
    policy.write_text(policy.read_text().replace("older_than: 30d}", "older_than: 20d}", 1))
    line = _refused(world, plan_file)
    assert "policy 'builds'" in line and "changed since the plan was made" in line
    assert "--allow-policy-change" in line

    # Told so, it applies; still only what the plan held.
    result = world.janitor("apply", str(plan_file), "--allow-policy-change")
    assert result.exit_code == 0, result.output
    (run,) = world.store.list_runs(limit=1)
    deleted = {d for d, i in _items(world, run.id).items() if i.outcome == "deleted"}
    assert deleted == PLANNED


def test_a_plan_older_than_janitor_plan_max_age_is_refused(world: World) -> None:
    plan_file = _plan(world)
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    _rewrite(plan_file, as_of=old)
    world.env["JANITOR_PLAN_MAX_AGE"] = "1h"
    assert "older than 1h (JANITOR_PLAN_MAX_AGE)" in _refused(world, plan_file)


def test_apply_keeps_the_two_keys_a_dry_run_policy_or_flag_deletes_nothing(
    world: World,
) -> None:
    plan_file = _plan(world)
    result = world.janitor("apply", str(plan_file), "--dry-run")
    assert result.exit_code == 0, result.output
    (run,) = world.store.list_runs(limit=1)
    assert run.dry_run and run.trigger == "apply"
    outcomes = {d: i.outcome for d, i in _items(world, run.id).items() if i.verdict == "delete"}
    assert set(outcomes) == PLANNED and set(outcomes.values()) == {"would_delete"}
    assert {d for _, d in world.digests()} >= PLANNED

    policy = world.tmp_path / "policies" / "builds.yaml"
    policy.write_text(policy.read_text().replace("mode: delete", "mode: dry-run"))
    result = world.janitor("apply", str(plan_file), "--allow-policy-change")
    assert result.exit_code == 0, result.output
    assert "has mode: dry-run, so --apply still makes a dry run" in result.output
    assert {d for _, d in world.digests()} >= PLANNED


def test_a_bad_janitor_plan_max_age_is_a_config_error(world: World) -> None:
    plan_file = _plan(world)
    world.env["JANITOR_PLAN_MAX_AGE"] = "2x"
    line = _refused(world, plan_file)
    assert line.startswith("error: JANITOR_PLAN_MAX_AGE: '2x' is not a duration")
