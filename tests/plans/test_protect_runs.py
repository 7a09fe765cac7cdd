"""The protect list holds in real runs: every example policy, deleting for real against the
emulator, on both deletion backends; and the executor's own last check before a delete."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from janitor.engine import run_once
from janitor.execute import Executor, ItemOutcome
from janitor.hub.models import DeleteMetrics, DeleteResult, DeleteWarning, Image, ManifestRef
from janitor.plan import Decision
from janitor.policy import load_policies
from janitor.policy.protect import ProtectList

from .conftest import World

PROTECT = """\
namespace: acme
repositories: ["docs"]
tags: ["latest", "re:^v1\\\\."]
digests: [{digests}]
"""


def _covered(world: World, protect: ProtectList) -> set[tuple[str, str]]:
    state = world.hub.state
    out = set()
    for repository, digest in world.digests():
        image = state.image("acme", repository, digest)
        assert image is not None
        children = tuple(p.digest for p in image.platforms)
        if protect.why("acme", repository, digest, tuple(image.current_tags), children):
            out.add((repository, digest))
    return out


def test_no_example_policy_deletes_what_the_protect_list_names(sample_world: World) -> None:
    world = sample_world
    folder = world.tmp_path / "policies"
    # First, what the examples would delete without a protect list (a dry run, recorded).
    planned: set[tuple[str, str]] = set()
    for policy in load_policies(folder):
        record = run_once(world.context(), policy, trigger="cli", dry_run=True)
        items = world.store.decisions(record.id, verdict="delete")
        planned |= {(d.repository, d.digest) for d in items}
    assert planned, "the examples delete something in the sample namespace"
    # Protect some of it by digest, more by repository and tag rules.
    by_digest = [digest for _, digest in sorted(planned)[:1]]
    (folder / "_protect.yaml").write_text(
        PROTECT.format(digests=", ".join(f'"{d}"' for d in by_digest))
    )
    policies = load_policies(folder)
    protect = policies[0].protect
    assert protect is not None
    shielded = _covered(world, protect)
    assert shielded & planned and planned - shielded  # both kinds are there to check
    before = world.digests()
    for policy in policies:
        record = run_once(world.context(), policy, trigger="cli", dry_run=False)
        assert record.status == "succeeded", record.error
        for item in world.store.decisions(record.id):
            if (item.repository, item.digest) in shielded:
                assert item.verdict == "keep"
                if item.selected_by is not None:  # a candidate: the protect list saved it
                    assert item.reasons[0].startswith("protected by _protect.yaml: ")
    after = world.digests()
    assert shielded <= after  # nothing protected is gone
    assert before - after  # and the policies did delete the rest of their plans
    assert not (before - after) & shielded


class _Recorder:
    """A deletion backend that accepts everything and records what it was sent."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        self.sent.extend((m.digest, dry_run) for m in manifests)
        return DeleteResult(dry_run=dry_run, accepted=True, metrics=DeleteMetrics(len(manifests)))


def _decision(digest: str, tags: tuple[str, ...] = ()) -> Decision:
    from janitor.hub.models import TagRef

    image = Image(
        namespace="acme",
        repository="web",
        digest=digest,
        tags=tuple(TagRef(t, True) for t in tags),
    )
    return Decision(image=image, verdict="delete", reasons=("planned",), candidate=True)


def test_the_executor_skips_a_protected_image_a_plan_holds_and_never_sends_it() -> None:
    """Belt and braces: however a protected image got into a plan, it is not sent."""
    protect = ProtectList.model_validate({"tags": ["latest"]})
    backend = _Recorder()
    outcomes: list[ItemOutcome] = []
    executor = Executor(
        backend=backend,
        namespace="acme",
        dry_run=False,
        batch_size=10,
        sink=outcomes.extend,
        stop=threading.Event(),
        protect=protect,
    )
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    totals = executor.run([("web", [_decision(a, ("latest",)), _decision(b)])])
    assert {d for d, _ in backend.sent} == {b}
    final = {o.digest: o for o in outcomes if o.outcome != "sending"}
    assert final[a].outcome == "skipped_warning"
    assert final[a].detail == (
        "skipped before the delete: protected by _protect.yaml: current tag 'latest' matches "
        "'latest'"
    )
    assert final[b].outcome == "deleted"
    assert totals.skipped_by_warning == 1 and totals.deleted == 1
