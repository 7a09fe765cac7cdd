from __future__ import annotations

import json
from datetime import timedelta

from janitor.plan import Plan
from janitor.policy import evaluate
from janitor.policy.render import iso, plan_table, plan_to_json, short_digest

from .helpers import image, inventory, make_policy
from .strategies import NOW


def _plan(**limits: object) -> Plan:
    policy = make_policy(
        [{"name": "old", "currently_tagged": False, "last_pushed": {"older_than": "30d"}}],
        keep=[{"tags": ["latest"]}],
        limits=limits,
    )
    invs = [
        inventory(
            image("a", pushed=40, size=1500),
            image("b", tags=["latest"], pushed=400, pulled=2, size=10),
            image("c", pushed=40, pulled=35),
        ),
        inventory(image("d", old_tags=["pr-1"], pushed=5, repository="api"), repository="api"),
    ]
    return evaluate(invs, policy, NOW)


def test_plan_to_json_is_plain_json() -> None:
    body = plan_to_json(_plan())
    assert json.loads(json.dumps(body)) == body
    assert body["policy"] == "t" and body["namespace"] == "acme"
    assert body["as_of"] == "2026-11-22T12:00:00Z"
    assert body["totals"] == {
        "repositories": 2,
        "images": 4,
        "delete": 2,
        "keep": 2,
        "candidates": 2,
        "bytes_to_delete": 1500,
        "tags_to_remove": 0,
    }
    assert body["violations"] == []
    assert [r["repository"] for r in body["repositories"]] == ["api", "web"]
    first = body["repositories"][1]["images"][0]
    assert first["digest"] == f"sha256:{'a':0>64}"
    assert first["last_pushed"] == iso(NOW - timedelta(days=40))
    assert first["last_pulled"] is None  # never pulled
    assert first["verdict"] == "delete" and first["selected_by"] == "old"
    assert first["size"] == 1500 and first["kept_by"] == []
    assert first["reasons"][0].startswith("selected by 'old'")
    kept = body["repositories"][1]["images"][1]
    assert kept["tags"] == ["latest"] and kept["kept_by"] == ["keep[0]"]
    assert kept["verdict"] == "keep" and kept["selected_by"] is None
    assert {
        "repository",
        "digest",
        "tags",
        "last_pushed",
        "last_pulled",
        "verdict",
        "reasons",
        "selected_by",
        "kept_by",
        "size",
    } <= set(first)


def test_plan_to_json_lists_violations() -> None:
    body = plan_to_json(_plan(max_deletes=1))
    assert body["refused"] is True
    (violation,) = body["violations"]
    assert violation["limit"] == "max_deletes" and violation["actual"] == 2


def test_plan_table_reads_well() -> None:
    text = plan_table(_plan(max_deletes=1))
    lines = text.splitlines()
    assert lines[0] == "Plan of policy 't' for namespace acme as of 2026-11-22T12:00:00Z"
    assert lines[1].startswith("REFUSED:")
    assert "policy 't' would delete 2 images" in lines[2]
    assert "acme/web: 3 images, 2 to delete" in lines
    header = next(line for line in lines if "DIGEST" in line)
    assert header.split() == ["DIGEST", "TAGS", "PUSHED", "PULLED", "VERDICT", "REASON"]
    row = next(line for line in lines if "selected by 'old'" in line)
    assert row.split()[:6] == [
        "sha256:000000000000",
        "-",
        "2026-10-13",
        "never",
        "delete",
        "selected",
    ]
    assert lines[-1] == "Total: 2 repositories, 4 images, 2 to delete, 2 to keep, 1.5 KiB to free"
    assert "\x1b" not in text


def test_plan_table_width_and_hidden_kept_rows() -> None:
    text = plan_table(_plan(), width=90, show_kept=False)
    assert all(len(line) <= 90 for line in text.splitlines() if "sha256:" in line)
    assert "  (1 kept image not shown)" in text  # web: b is kept
    assert "acme/api: 1 image, 0 to delete\n  (1 kept image not shown)" in text
    assert " keep " not in text


def test_helpers() -> None:
    assert short_digest("sha256:0123456789abcdef") == "sha256:0123456789ab"
    assert short_digest("nodigest") == "nodigest"
    assert iso(None) is None
