"""Companions (cosign signatures, attestations, SBOMs, referrer tags) follow their subject, and
``action: untag`` entries remove tags from images that stay."""

from __future__ import annotations

from typing import Any

import pytest

from janitor.hub.models import Image
from janitor.plan import Decision, RepositoryPlan
from janitor.policy import PolicyLoadError, policy_from_data
from janitor.policy.companions import link_of, links
from janitor.policy.protect import ProtectList

from .helpers import image, judge, make_policy
from .strategies import NOW

SUBJECT = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
GONE = "sha256:" + "e" * 64


def companion(digest: str, subject: str, *suffixes: str, pushed: float = 100) -> Image:
    tags = ["sha256-" + subject.removeprefix("sha256:") + s for s in suffixes]
    return image(digest, tags=tags, pushed=pushed)


def by_digest(plan: RepositoryPlan) -> dict[str, Decision]:
    return {d.image.digest[-4:]: d for d in plan.decisions}


OLD_UNTAGGED_OR_PR = [{"name": "old", "last_pushed": {"older_than": "30d"}, "tags": ["pr-*"]}]


def test_tag_shapes() -> None:
    hexpart = "a" * 64
    assert link_of(f"sha256-{hexpart}.sig") is not None
    assert link_of(f"sha256-{hexpart}.att").kind == "attestation"  # type: ignore[union-attr]
    assert link_of(f"sha256-{hexpart}").kind == "referrer"  # type: ignore[union-attr]
    assert link_of(f"sha256-{hexpart}.sbom").subject == f"sha256:{hexpart}"  # type: ignore[union-attr]
    for tag in (f"sha256-{hexpart[:-1]}.sig", f"sha256-{hexpart}.sig2", f"sha256-{hexpart}.SIG"):
        assert link_of(tag) is None
    assert links([f"sha256-{hexpart}.sig", "latest"]) == ()  # any other tag: an ordinary image


def test_a_deleted_image_takes_its_signature_and_attestation_with_it() -> None:
    policy = make_policy(OLD_UNTAGGED_OR_PR, mode="delete")
    plan = judge(
        policy,
        image(SUBJECT, tags=["pr-1"], pushed=90),
        companion("1111", SUBJECT, ".sig", pushed=1),
        companion("2222", SUBJECT, ".att", pushed=1),
    )
    got = by_digest(plan)
    assert got["aaaa"].verdict == "delete"
    for digest, kind in (("1111", "signature"), ("2222", "attestation")):
        d = got[digest]
        assert d.verdict == "delete"
        assert d.subject == SUBJECT
        assert d.selected_by == "old"
        assert d.current_tag == "delete" and d.active_from == NOW
        assert d.reasons == (f"{kind} of sha256:aaaaaaaaaaaa (deleted with it)",)


def test_a_kept_image_keeps_its_companions_even_when_they_look_old() -> None:
    policy = make_policy([{"last_pushed": {"older_than": "30d"}}])
    plan = judge(
        policy,
        image(SUBJECT, tags=["v1"], pushed=1),
        companion("1111", SUBJECT, ".sig", pushed=400),
        companion("2222", SUBJECT, "", pushed=400),
    )
    got = by_digest(plan)
    assert [got[k].verdict for k in ("aaaa", "1111", "2222")] == ["keep"] * 3
    assert got["1111"].reasons == ("signature of sha256:aaaaaaaaaaaa (kept with it)",)
    assert got["2222"].reasons == ("referrer of sha256:aaaaaaaaaaaa (kept with it)",)


def test_companions_never_count_toward_most_recent_nor_match_tag_patterns() -> None:
    policy = make_policy(
        [{"last_pushed": {"older_than": "30d"}}],
        keep=[{"most_recent": 1}, {"tags": ["re:sig"]}],
    )
    plan = judge(
        policy,
        image(SUBJECT, tags=["v1"], pushed=60),
        image(OTHER, tags=["v2"], pushed=50),
        companion("1111", OTHER, ".sig", pushed=40),  # newer than both: still not ranked
    )
    got = by_digest(plan)
    assert got["bbbb"].verdict == "keep"  # the newest ordinary image
    assert got["1111"].verdict == "keep"  # with its subject, not by the tag pattern
    assert got["aaaa"].verdict == "delete"
    assert "of 2 images" in got["bbbb"].reasons[0]


def test_a_select_tag_pattern_never_selects_a_companion_on_its_own() -> None:
    policy = make_policy([{"tags": ["sha256-*"]}])
    plan = judge(policy, image(SUBJECT, tags=["v1"]), companion("1111", SUBJECT, ".sig"))
    assert {d.verdict for d in plan.decisions} == {"keep"}


def test_orphans_stay_unless_an_entry_says_orphaned_companions() -> None:
    orphan = companion("1111", GONE, ".sig", pushed=40)
    kept = judge(make_policy([{"last_pushed": {"older_than": "1d"}}]), orphan).decisions[0]
    assert kept.verdict == "keep"
    assert kept.reasons == (
        "signature of sha256:eeeeeeeeeeee, whose subject is gone",
        "kept: no select entry has orphaned_companions: true",
    )
    entry = {"name": "orphans", "orphaned_companions": True, "last_pushed": {"older_than": "30d"}}
    gone = judge(make_policy([entry]), orphan).decisions[0]
    assert gone.verdict == "delete" and gone.selected_by == "orphans"
    young = judge(make_policy([entry]), companion("1111", GONE, ".sig", pushed=3)).decisions[0]
    assert young.verdict == "keep"
    assert young.reasons[-1].startswith("not selected: 'orphans' fails: last pushed")
    shielded = judge(make_policy([entry], keep=[{"pushed_within": "60d"}]), orphan).decisions[0]
    assert shielded.verdict == "keep" and shielded.kept_by == ("keep[0]",)


def test_an_orphan_entry_selects_nothing_else() -> None:
    entry = {"orphaned_companions": True}
    plan = judge(make_policy([entry]), image(SUBJECT), image(OTHER, tags=["v1"]))
    assert {d.verdict for d in plan.decisions} == {"keep"}


def test_a_signature_of_an_attestation_follows_it_and_its_subject() -> None:
    policy = make_policy(OLD_UNTAGGED_OR_PR)
    att = "sha256:" + "c" * 60 + "2222"
    plan = judge(
        policy,
        image(SUBJECT, tags=["pr-1"]),
        image(att, tags=["sha256-" + "a" * 64 + ".att"]),
        companion("1111", att, ".sig"),
    )
    got = by_digest(plan)
    assert [got[k].verdict for k in ("aaaa", "2222", "1111")] == ["delete"] * 3
    assert got["1111"].subject == att


def test_the_protect_list_keeps_a_companion_whose_subject_goes() -> None:
    protect = ProtectList.model_validate({"digests": ["sha256:" + "0" * 60 + "1111"]})
    policy = make_policy(OLD_UNTAGGED_OR_PR).loaded(content_hash=None, protect=protect)
    plan = judge(policy, image(SUBJECT, tags=["pr-1"]), companion("1111", SUBJECT, ".sig"))
    got = by_digest(plan)
    assert got["aaaa"].verdict == "delete"
    assert got["1111"].verdict == "keep" and got["1111"].kept_by == ("protect",)


# --------------------------------------------------------------------------- untag

UNTAG = {"name": "drop-pr", "action": "untag", "tags": ["pr-*"]}


def test_untag_removes_exactly_the_matched_tags_from_an_image_that_stays() -> None:
    policy = make_policy([UNTAG])
    d = judge(policy, image(SUBJECT, tags=["pr-1", "pr-2", "v1"])).decisions[0]
    assert d.verdict == "keep"
    assert d.untag == ("pr-1", "pr-2")
    assert "untag by 'drop-pr': 'pr-1' matches 'pr-*'" in d.reasons


def test_untag_never_removes_the_last_tag_by_default() -> None:
    d = judge(make_policy([UNTAG]), image(SUBJECT, tags=["pr-1", "pr-2"])).decisions[0]
    assert d.untag == ("pr-1",)
    assert d.reasons[-1] == (
        "keeps its last tag 'pr-2' (allow_last_tag: true would remove it as well)"
    )
    allowed = make_policy([{**UNTAG, "allow_last_tag": True}])
    assert judge(allowed, image(SUBJECT, tags=["pr-1", "pr-2"])).decisions[0].untag == (
        "pr-1",
        "pr-2",
    )


def test_untag_respects_its_conditions_keep_tags_and_deletes() -> None:
    aged = make_policy([{**UNTAG, "last_pushed": {"older_than": "30d"}}])
    assert judge(aged, image(SUBJECT, tags=["pr-1", "v1"], pushed=3)).decisions[0].untag == ()
    kept = make_policy([UNTAG], keep=[{"tags": ["pr-1"]}])
    d = judge(kept, image(SUBJECT, tags=["pr-1", "pr-3", "v1"])).decisions[0]
    assert d.untag == ("pr-3",)
    both = make_policy([{"tags": ["pr-*"]}, UNTAG])
    d = judge(both, image(SUBJECT, tags=["pr-1"])).decisions[0]
    assert d.verdict == "delete" and d.untag == ()  # deleted whole: nothing to untag
    comp = judge(make_policy([{**UNTAG, "tags": ["sha256-*"]}]), companion("1111", GONE, ".sig"))
    assert comp.decisions[0].untag == ()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"action": "untag", "last_pushed": {"older_than": "1d"}}, "action: untag needs tags"),
        ({"tags": ["pr-*"], "allow_last_tag": True}, "allow_last_tag only goes with"),
        ({"orphaned_companions": True, "tags": ["x"]}, "never by tag"),
        ({"action": "remove", "tags": ["x"]}, "action"),
    ],
)
def test_bad_entries_are_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        policy_from_data({"name": "t", "namespace": "acme", "select": [entry]}, "t.yaml")


# --------------------------------------------------------------------------- the plan shows them


def test_the_plan_shows_companions_under_their_subject_and_the_tags_to_remove() -> None:
    from janitor.policy import evaluate
    from janitor.policy.render import plan_table, plan_to_json

    from .helpers import inventory

    policy = make_policy([*OLD_UNTAGGED_OR_PR, UNTAG])
    inv = inventory(
        image("0" * 64, tags=["v1", "pr-9"], pushed=1),
        companion("1111", SUBJECT, ".sig", pushed=1),
        image(SUBJECT, tags=["pr-1"], pushed=90),
    )
    plan = evaluate([inv], policy, NOW)
    lines = plan_table(plan).splitlines()
    rows = [line.strip() for line in lines if line.strip().startswith(("sha256", "└"))]
    assert rows[0].startswith("sha256:000000000000") and " untag " in rows[0]
    assert "removes 'pr-9'; the image stays" in rows[0]
    # the companion sorts before its subject by digest, and is shown right under it
    assert rows[1].startswith("sha256:aaaaaaaaaaaa") and " delete " in rows[1]
    assert rows[2].startswith("└ sha256:000000000000  sha256-aaaa")
    assert "signature of sha256:aaaaaaaaaaaa (deleted with it)" in rows[2]
    assert lines[-1].endswith("2 to delete, 1 to keep, 1 tag to remove")
    assert "removes 'pr-9'; the image stays" in plan_table(plan, show_kept=False)
    body = plan_to_json(plan)
    images = {i["digest"][-4:]: i for i in body["repositories"][0]["images"]}
    assert images["1111"]["subject"] == SUBJECT
    assert images["0000"]["untag"] == ["pr-9"]
    assert body["totals"]["tags_to_remove"] == 1


def test_a_cycle_of_companions_does_not_depend_on_the_inventory_order() -> None:
    first = "sha256:" + "1" * 64
    second = "sha256:" + "2" * 64
    policy = make_policy([{"orphaned_companions": True}])
    a = image(first, tags=["sha256-" + "2" * 64 + ".sig"])
    b = image(second, tags=["sha256-" + "1" * 64 + ".sig"])
    assert judge(policy, a, b) == judge(policy, b, a)
