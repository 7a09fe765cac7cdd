"""A skipped or refused image's record names Hub's warning or error machine-readably
(``hub_code``): in the store, in `runs show --json` and in the run report, beside the sentence
for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from click.testing import CliRunner

from janitor.cli import cli
from janitor.engine import run_once
from janitor.hub.models import ManifestRef
from janitor.reporting import write_run_report
from tests.runs.conftest import PR_1, UNTAGGED_COLD, UNTAGGED_OLD, World


def test_an_is_active_skip_and_a_not_found_error_are_recorded_by_name(
    world: World, db_url: str
) -> None:
    def hook(manifests: Sequence[ManifestRef], dry_run: bool, when: str) -> None:
        # After Hub's dry run of web: one image is pulled, another deleted by someone else.
        if when == "after" and dry_run and any(m.digest == UNTAGGED_OLD for m in manifests):
            world.hub.state.record_pull("acme", "web", UNTAGGED_OLD, datetime.now(UTC))
            world.hub.state.delete_images("acme", "web", [UNTAGGED_COLD])

    record = run_once(world.hooked(hook), world.policy(), trigger="cli", dry_run=False)
    items = {d.digest: d for d in world.store.decisions(record.id)}

    assert items[UNTAGGED_OLD].outcome == "skipped_warning"
    assert items[UNTAGGED_OLD].hub_code == "is_active"
    assert "active" in (items[UNTAGGED_OLD].detail or "")
    assert items[UNTAGGED_COLD].outcome == "error"
    assert items[UNTAGGED_COLD].hub_code == "not_found"
    assert items[PR_1].outcome == "skipped_warning" and items[PR_1].hub_code == "current_tag"
    deleted = [d for d in items.values() if d.outcome == "deleted"]
    assert deleted and all(d.hub_code is None for d in deleted)

    report, _ = write_run_report(
        world.store, record.id, world.tmp_path / "reports", now=datetime.now(UTC)
    )
    for text in (report.html, report.text):
        assert "is_active" in text and "not_found" in text and "current_tag" in text
    assert '<code class="hub-code"' in report.html
    assert "    hub: is_active" in report.text

    env = {"JANITOR_DATABASE_URL": db_url, "JANITOR_HUB_URL": world.hub.url}
    shown = CliRunner().invoke(cli, ["runs", "show", str(record.id), "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    codes = {i["digest"]: i["hub_code"] for i in json.loads(shown.stdout)["decisions"]}
    assert codes[UNTAGGED_OLD] == "is_active" and codes[UNTAGGED_COLD] == "not_found"
