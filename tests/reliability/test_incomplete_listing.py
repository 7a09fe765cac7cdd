"""A repository whose images listing does not add up, on the delete-images backend: read again
once, then refused on its own (nothing in it planned or deleted, the refusal in the run's notes,
the report and ``runs show --json``); the rest of the namespace is cleaned and the run ends
failed, naming the repository."""

from __future__ import annotations

import json

from click.testing import CliRunner

from janitor.cli import cli
from janitor.emulator.faults import Fault
from janitor.engine import run_once
from tests.reliability.conftest import Rig, cli_env


def test_an_images_listing_that_drops_a_row_twice_refuses_only_that_repository(rig: Rig) -> None:
    rig.hub.faults.add(Fault("drop_row", method="GET", path=r"/web/images$", times=2))

    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "failed"
    assert "acme/web" in (record.error or ""), record.error
    sent = [digest for digest, _ in rig.real_delete_requests()]
    web = {i.digest for i in rig.hub.state.images("acme", "web")}
    assert sent, "api's planned delete is still sent"
    assert not web & set(sent), "nothing of the refused repository is deleted"
    stored = rig.store.get_run(record.id)
    assert stored is not None and any("acme/web was not planned" in n for n in stored.notes)


def test_a_listing_that_drops_a_row_once_is_read_again_and_planned(rig: Rig) -> None:
    rig.hub.faults.add(Fault("drop_row", method="GET", path=r"/web/images$", times=1))
    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=True)
    assert record.status == "succeeded", record.error
    assert record.notes == ()


def test_the_refusal_shows_in_runs_show_json_and_the_report(rig: Rig) -> None:
    rig.hub.faults.add(Fault("drop_row", method="GET", path=r"/web/images$", times=2))
    (rig.tmp_path / "policies").mkdir(parents=True, exist_ok=True)
    rig.untagged_policy()
    env = cli_env(rig.hub, rig.tmp_path)

    run = CliRunner().invoke(cli, ["run", "--dry-run"], env=env)
    assert run.exit_code == 1, run.output
    assert "note: acme/web was not planned" in run.output

    shown = CliRunner().invoke(cli, ["runs", "show", "1", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    notes = json.loads(shown.stdout)["notes"]
    assert any("acme/web was not planned" in n for n in notes), notes
    reports = list((rig.tmp_path / "data" / "reports").glob("run-1-*"))
    assert reports, "the run wrote its report"
    for report in reports:
        assert "acme/web was not planned" in report.read_text()
