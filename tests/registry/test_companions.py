"""Companions (cosign signatures, attestations, referrer tags) on both deletion backends, end to
end against the emulator: a deleted image takes its companions with it, after it; a kept one
keeps them; an orphan stays unless a select entry says ``orphaned_companions: true``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from janitor.emulator.state import load_seed
from janitor.engine import RunContext, run_once
from janitor.records import RunRecord
from janitor.store import Store
from tests.registry.conftest import (
    B1,
    LATEST,
    PLANNED,
    POLICY,
    _image,
    digest,
    hub_client,
    make_settings,
    seed,
    serve,
    top_level,
    write_policy,
)

B1_SIG = digest(31)  # sha256-<B1>.sig, pushed 1d ago, pulled 1h ago (cosign verify pulls it)
B1_ATT = digest(32)  # sha256-<B1>.att
LATEST_SIG = digest(33)  # sha256-<LATEST>.sig: kept with latest
ORPHAN_SIG = digest(34)  # the signature of an image that is gone, pushed 90d ago
GONE = digest(99)


def _tag(subject: str, suffix: str) -> str:
    return "sha256-" + subject.removeprefix("sha256:") + suffix


def companion_seed(image_management: bool | str) -> dict[str, Any]:
    data = seed(image_management)
    web = data["namespaces"]["acme"]["repositories"]["web"]["images"]
    web.extend(
        [
            _image(B1_SIG, "1d", "1h", [_tag(B1, ".sig")]),
            _image(B1_ATT, "1d", None, [_tag(B1, ".att")]),
            _image(LATEST_SIG, "1d", "1h", [_tag(LATEST, ".sig")]),
            _image(ORPHAN_SIG, "90d", None, [_tag(GONE, ".sig")]),
        ]
    )
    return data


ORPHANS = """
  - name: orphans
    orphaned_companions: true
    last_pushed: {older_than: 30d}
"""


@dataclass
class Setup:
    backend: str
    context: RunContext
    store: Store
    emu: Any
    folder: Path

    def run(
        self, *, dry_run: bool = False, orphans: bool = False, current_tag: str = "delete"
    ) -> RunRecord:
        text = POLICY.format(
            current_tag=current_tag, limits="{max_deletes: 100, max_fraction_per_repository: 1.0}"
        )
        if orphans:
            text = text.replace("keep:\n", ORPHANS.lstrip("\n") + "keep:\n")
        policy = write_policy(self.folder, text=text)
        record: RunRecord = run_once(self.context, policy, trigger="manual", dry_run=dry_run)
        assert record.status == "succeeded", record.error
        return record

    def items(self, run_id: int) -> dict[str, Any]:
        return {d.digest: d for d in self.store.decisions(run_id)}


@pytest.fixture(params=["delete-images", "registry"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Setup]:
    backend = request.param
    management: bool | str = True if backend == "delete-images" else "gone"
    with serve(load_seed(companion_seed(management))) as emu:
        db = tmp_path / "janitor.db"
        shutil.copyfile(sqlite_template, db)
        with Store(f"sqlite:///{db}") as store:
            settings = make_settings(emu, tmp_path, backend)
            context = RunContext(
                settings=settings, store=store, hub_factory=lambda: hub_client(emu)
            )
            yield Setup(backend, context, store, emu, tmp_path / "policies")


def test_a_deleted_image_takes_its_signature_and_attestation_a_kept_one_keeps_its_own(
    setup: Setup,
) -> None:
    before = top_level(setup.emu, "web") | top_level(setup.emu, "api")
    record = setup.run()
    after = top_level(setup.emu, "web") | top_level(setup.emu, "api")
    assert record.backend == setup.backend
    gone = before - after
    assert gone == PLANNED | {B1_SIG, B1_ATT}
    assert {LATEST, LATEST_SIG, ORPHAN_SIG} <= after
    items = setup.items(record.id)
    assert items[B1_SIG].outcome == items[B1_ATT].outcome == "deleted"
    assert items[B1_SIG].reasons[0] == "signature of sha256:000000000000 (deleted with it)"
    assert items[LATEST_SIG].outcome == "kept"
    assert items[ORPHAN_SIG].outcome == "kept"
    assert record.metrics.deleted == len(PLANNED) + 2
    if setup.backend == "registry":
        # the subject's manifest went before its companions' tags and manifests
        deletes = [e.path for e in setup.emu.log.entries() if e.method == "DELETE"]
        b1 = next(i for i, p in enumerate(deletes) if p.endswith("/manifests/" + B1))
        sig = next(i for i, p in enumerate(deletes) if _tag(B1, ".sig") in p)
        assert b1 < sig


def test_a_dry_run_says_the_companions_would_go(setup: Setup) -> None:
    before = top_level(setup.emu, "web")
    record = setup.run(dry_run=True)
    assert top_level(setup.emu, "web") == before
    items = setup.items(record.id)
    assert items[B1_SIG].outcome == items[B1_ATT].outcome == "would_delete"


def test_a_subject_that_stays_keeps_its_companions_even_when_planned(setup: Setup) -> None:
    record = setup.run(current_tag="skip")  # every tagged build is skipped by Hub's warning
    items = setup.items(record.id)
    assert items[B1].outcome == "skipped_warning"
    for companion in (B1_SIG, B1_ATT):
        assert items[companion].outcome == "skipped_warning"
        assert "goes only with sha256:000000000000" in (items[companion].detail or "")
    assert {B1, B1_SIG, B1_ATT} <= top_level(setup.emu, "web")


def test_orphans_go_only_with_an_orphaned_companions_entry(setup: Setup) -> None:
    record = setup.run(orphans=True)
    items = setup.items(record.id)
    assert items[ORPHAN_SIG].outcome == "deleted"
    assert items[ORPHAN_SIG].selected_by == "orphans"
    assert ORPHAN_SIG not in top_level(setup.emu, "web")
    assert LATEST_SIG in top_level(setup.emu, "web")


# --------------------------------------------------------------------------- untag

UNTAG_POLICY = """
name: cleanup
namespace: acme
mode: delete
select:
  - name: drop-pr
    action: untag
    tags: ["pr-*"]{extra}
limits: {{max_deletes: {max_deletes}}}
"""


def current_tags(setup: Setup, repository: str) -> dict[str, set[str]]:
    return {i.digest: set(i.current_tags) for i in setup.emu.state.images("acme", repository)}


def untag_run(
    setup: Setup, *, dry_run: bool = False, extra: str = "", max_deletes: int = 100
) -> RunRecord:
    policy = write_policy(
        setup.folder, text=UNTAG_POLICY.format(extra=extra, max_deletes=max_deletes)
    )
    return run_once(setup.context, policy, trigger="manual", dry_run=dry_run)


def test_untag_removes_exactly_the_matched_tags_and_never_the_last_one(setup: Setup) -> None:
    from tests.registry.conftest import APR, ASTABLE, PR1

    before = current_tags(setup, "api") | current_tags(setup, "web")
    record = untag_run(setup)
    assert record.status == "succeeded", record.error
    after = current_tags(setup, "api") | current_tags(setup, "web")
    assert after[ASTABLE] == {"stable"}  # pr-2 removed, the image stays
    assert after[APR] == {"pr-9"} and after[PR1] == {"pr-1"}  # their last tag stays
    assert {d: t for d, t in after.items() if d != ASTABLE} == {
        d: t for d, t in before.items() if d != ASTABLE
    }
    items = setup.items(record.id)
    assert (items[ASTABLE].outcome, items[ASTABLE].hub_code) == ("kept", "untagged")
    assert items[ASTABLE].detail == "removed tag 'pr-2'"
    assert record.metrics.deleted == 0


def test_untag_with_allow_last_tag_and_its_dry_run_and_limits(setup: Setup) -> None:
    from tests.registry.conftest import APR, PR1

    extra = "\n    allow_last_tag: true"
    before = current_tags(setup, "api") | current_tags(setup, "web")
    dry = untag_run(setup, dry_run=True, extra=extra)
    assert current_tags(setup, "api") | current_tags(setup, "web") == before
    assert setup.items(dry.id)[APR].hub_code == "would_untag"
    refused = untag_run(setup, extra=extra, max_deletes=2)  # 3 tags to remove
    assert refused.status == "failed" and "remove 3 tags" in (refused.error or "")
    assert current_tags(setup, "api") | current_tags(setup, "web") == before
    done = untag_run(setup, extra=extra)
    assert done.status == "succeeded", done.error
    after = current_tags(setup, "api") | current_tags(setup, "web")
    assert after[APR] == set() and after[PR1] == set()
    assert APR in {i.digest for i in setup.emu.state.images("acme", "api")}  # the image stays
