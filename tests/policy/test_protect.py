"""The protect list: loaded strictly with the policies, a keep that always wins in evaluation."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from janitor.hub.models import RepositoryInventory
from janitor.policy import Policy, PolicyLoadError, evaluate, evaluate_repository, load_policies
from janitor.policy.load import load_protect_list
from janitor.policy.protect import ProtectList

from .helpers import image, inventory
from .strategies import NOW, inventories, policies
from .test_examples import EXAMPLES, _demo

POLICY = """\
namespace: acme
select:
  - last_pushed: {older_than: 1d}
"""


def _folder(tmp_path: Path, protect: str | None, name: str = "_protect.yaml") -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "all.yaml").write_text(POLICY)
    if protect is not None:
        (folder / name).write_text(textwrap.dedent(protect))
    return folder


def _errors(folder: Path, **kwargs: object) -> list[str]:
    with pytest.raises(PolicyLoadError) as caught:
        load_policies(folder, **kwargs)  # type: ignore[arg-type]
    return [str(e) for e in caught.value.errors]


def test_the_folder_protect_list_is_loaded_with_every_policy_and_is_not_a_policy(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path, 'tags: ["latest"]\n')
    (folder / "_notes.yaml").write_text("anything: [at all\n")  # `_` files are not policies
    (policy,) = load_policies(folder)
    assert policy.protect is not None
    assert policy.protect.source == folder / "_protect.yaml"
    assert [p.text for p in policy.protect.tags] == ["latest"]
    assert policy.content_hash is not None and policy.content_hash.startswith("sha256:")


def test_mistakes_are_reported_with_file_line_and_field_beside_the_policies_own(
    tmp_path: Path,
) -> None:
    folder = _folder(
        tmp_path,
        """\
        namespace: Acme
        repositories: ["web/*"]
        tags:
          - latest
          - "re:(a"
        digests: ["sha256:123"]
        tag: [x]
        """,
    )
    (folder / "broken.yaml").write_text("namespace: acme\n")
    errors = _errors(folder)
    protect = [e for e in errors if "_protect.yaml" in e]
    assert any(e.startswith(f"{folder}/_protect.yaml:1: namespace: ") for e in protect)
    assert any(":2: repositories[0]: " in e and "namespace" in e for e in protect)
    assert any(":5: tags[1]: " in e and "RE2" in e for e in protect)
    assert any(":6: digests[0]: " in e and "not an image digest" in e for e in protect)
    assert any(":7: tag: unknown key 'tag'; did you mean 'tags'?" in e for e in protect)
    assert any("broken.yaml" in e and "select" in e for e in errors)  # the same pass


def test_an_empty_or_comment_only_protect_list_protects_nothing(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "# nothing yet\n")
    (policy,) = load_policies(folder)
    assert policy.protect is not None and policy.protect.rules == 0


def test_a_protect_list_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    (error,) = _errors(_folder(tmp_path, "- latest\n"))
    assert error.endswith(
        "_protect.yaml:1: a protect list is a mapping of keys (namespace:, repositories:, "
        "tags:, digests:); found a list"
    )


def test_a_misspelt_protect_list_is_refused_not_silently_skipped(tmp_path: Path) -> None:
    (error,) = _errors(_folder(tmp_path, 'tags: ["latest"]\n', name="_protec.yaml"))
    assert "_protec.yaml: is not read: the protect list must be named _protect.yaml" in error


def test_janitor_protect_names_the_file_and_it_must_exist(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 'tags: ["ignored"]\n')
    elsewhere = tmp_path / "shared.yaml"
    elsewhere.write_text('repositories: ["web"]\n')
    (policy,) = load_policies(folder, protect=elsewhere)
    assert policy.protect is not None and policy.protect.source == elsewhere
    (error,) = _errors(folder, protect=tmp_path / "missing.yaml")
    assert "missing.yaml: no such protect list file (JANITOR_PROTECT)" in error


def test_a_single_policy_file_gets_its_folders_protect_list(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 'tags: ["latest"]\n')
    (policy,) = load_policies(folder / "all.yaml")
    assert policy.protect is not None
    assert "not policies" in _errors(folder / "_protect.yaml")[0]


def _protect(text: str, source: str = "_protect.yaml") -> ProtectList:
    path = Path(source)
    return ProtectList.model_validate(yaml.safe_load(textwrap.dedent(text)) or {}).at(path)


def test_each_kind_of_rule_keeps_the_image_with_the_rule_as_first_reason(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        """\
        namespace: acme
        repositories: ["re:^prod-"]
        tags: ["v*"]
        digests: ["sha256:00000000000000000000000000000000000000000000000000000000000000cc"]
        """,
    )
    (policy,) = load_policies(folder)
    web = inventory(
        image("aa", tags=["v1.0"]),
        image("bb"),
        image("cc"),
        image("dd", children=("sha256:" + "c" * 64,)),
        image("ee", tags=["main"]),
    )
    prod = inventory(image("ff", repository="prod-api"), repository="prod-api")
    verdicts = {
        d.image.digest[-2:]: d
        for r in (web, prod)
        for d in evaluate_repository(r, policy, NOW).decisions
    }
    assert {k: d.verdict for k, d in verdicts.items()} == {
        "aa": "keep",
        "bb": "delete",
        "cc": "keep",
        "dd": "delete",
        "ee": "delete",
        "ff": "keep",
    }
    assert verdicts["aa"].reasons[0] == (
        "protected by _protect.yaml: current tag 'v1.0' matches 'v*'"
    )
    assert verdicts["aa"].kept_by == ("protect",)
    assert verdicts["cc"].reasons[0] == (
        "protected by _protect.yaml: digest "
        "sha256:00000000000000000000000000000000000000000000000000000000000000cc is listed"
    )
    assert verdicts["ff"].reasons[0] == (
        "protected by _protect.yaml: repository 'prod-api' matches 're:^prod-'"
    )
    assert verdicts["aa"].candidate  # still explained as selected, and kept anyway


def test_an_index_is_protected_when_one_of_its_platform_manifests_is_listed() -> None:
    protect = _protect(f'digests: ["sha256:{"c" * 64}"]\n')
    why = protect.why("acme", "web", "sha256:" + "d" * 64, (), ("sha256:" + "c" * 64,))
    assert why == f"protected by _protect.yaml: its platform manifest sha256:{'c' * 64} is listed"


def test_a_namespace_scoped_list_leaves_other_namespaces_alone() -> None:
    protect = _protect('namespace: acme\ntags: ["latest"]\n')
    assert protect.why("acme", "web", "sha256:" + "a" * 64, ("latest",)) is not None
    assert protect.why("other", "web", "sha256:" + "a" * 64, ("latest",)) is None
    unscoped = _protect('tags: ["latest"]\n')
    assert unscoped.why("other", "web", "sha256:" + "a" * 64, ("latest",)) is not None


def test_the_protect_list_holds_against_every_example_policy(tmp_path: Path) -> None:
    """Every image an example policy would delete is kept once the protect list names it (by
    repository, by tag or by digest), and nothing else changes."""
    invs = _demo()
    folder = tmp_path / "policies"
    shutil.copytree(EXAMPLES, folder)
    (folder / "_protect.yaml").unlink(missing_ok=True)
    unprotected = load_policies(folder)
    doomed = {
        p.name: {(d.image.repository, d.image.digest) for d in evaluate(invs, p, NOW).to_delete}
        for p in unprotected
    }
    assert all(doomed.values()), doomed  # each example deletes something to protect
    every = sorted({d for ds in doomed.values() for d in ds})
    by_digest = [d for r, d in every if r == "web"]
    (folder / "_protect.yaml").write_text(
        f'repositories: ["api", "re:^work"]\ntags: ["pr-*"]\ndigests: [{", ".join(by_digest)}]\n'
    )
    for policy in load_policies(folder):
        plan = evaluate(invs, policy, NOW)
        saved = {
            (d.image.repository, d.image.digest): d
            for d in plan.decisions
            if (d.image.repository, d.image.digest) in doomed[policy.name]
        }
        left = {(d.image.repository, d.image.digest) for d in plan.to_delete}
        assert left == {
            (r, d)
            for r, d in doomed[policy.name]
            if r not in ("api", "worker")
            and d not in by_digest
            and not any(t.startswith("pr-") for t in saved[(r, d)].image.current_tags)
        }
        for key, decision in saved.items():
            if key not in left:
                assert decision.verdict == "keep"
                assert decision.reasons[0].startswith("protected by _protect.yaml: ")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(policy=policies(), inv=inventories(), data=st.data())
def test_no_policy_deletes_an_image_the_protect_list_names(
    policy: Policy, inv: RepositoryInventory, data: st.DataObject
) -> None:
    if not inv.images:
        return
    chosen = data.draw(st.lists(st.sampled_from([i.digest for i in inv.images]), max_size=3))
    tags = sorted({t.tag for i in inv.images for t in i.tags})
    tag_rules = data.draw(st.lists(st.sampled_from(tags), max_size=2)) if tags else []
    protect = ProtectList.model_validate({"digests": chosen, "tags": tag_rules})
    guarded = policy.loaded(content_hash=None, protect=protect)
    for decision in evaluate_repository(inv, guarded, NOW).decisions:
        image_ = decision.image
        named = image_.digest in chosen or set(image_.children) & set(chosen)
        tagged = set(image_.current_tags) & set(tag_rules)
        if named or tagged:
            assert decision.verdict == "keep", decision


def test_load_protect_list_names_its_file_in_reasons(tmp_path: Path) -> None:
    path = tmp_path / "team-protect.yaml"
    path.write_text('tags: ["latest"]\n')
    protect = load_protect_list(path)
    assert protect.why("acme", "web", "sha256:" + "a" * 64, ("latest",)) == (
        "protected by team-protect.yaml: current tag 'latest' matches 'latest'"
    )
