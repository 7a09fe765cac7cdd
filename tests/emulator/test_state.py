"""The emulator's data: seed loading and its errors, dumps, generation, changes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from janitor.emulator.state import (
    BENCH_TOKEN,
    HubState,
    SeedError,
    StoredImage,
    TagEntry,
    dump_seed,
    generate_state,
    load_seed,
)
from janitor.emulator.timefmt import ZERO_TIME, parse_seed_time

from .conftest import NOW, digest, seed_data

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-seed.yaml"


def test_seed_resolves_relative_times_and_defaults(state: HubState) -> None:
    latest = state.image("acme", "app", digest("app/v2"))
    assert latest is not None
    assert latest.last_pushed == NOW - timedelta(days=2)
    assert latest.last_pulled == NOW - timedelta(hours=1)
    assert latest.is_index and latest.size == 1000  # sum of its platforms
    assert latest.media_type == "application/vnd.oci.image.index.v1+json"
    assert [p.architecture for p in latest.platforms] == ["amd64", "arm64"]
    zero = state.image("acme", "app", digest("app/zero"))
    assert zero is not None and zero.last_pulled is None  # the zero time means never
    pr7 = state.image("acme", "app", digest("app/pr-7"))
    assert pr7 is not None and pr7.tags == [TagEntry("pr-7", True)]
    assert pr7.media_type == "application/vnd.oci.image.manifest.v1+json"


def test_seed_creates_library_and_each_users_namespace(state: HubState) -> None:
    assert {"library", "alice", "bob", "eve", "acme"} <= set(state.namespaces)
    assert load_seed({}).namespace("library") is not None


def app_image(seed: dict[str, Any], index: int) -> dict[str, Any]:
    image: dict[str, Any] = seed["namespaces"]["acme"]["repositories"]["app"]["images"][index]
    return image


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: app_image(s, 0).update(x=1),
         "namespaces.acme.repositories.app.images[0]: unknown key(s) x"),
        (lambda s: app_image(s, 0).update(digest="sha256:12"), "images[0].digest: expected"),
        (lambda s: app_image(s, 1).update(last_pushed="soon"), "images[1].last_pushed: not a time"),
        (lambda s: app_image(s, 3).update(tags=["v1"]), "tag 'v1' is current on two images"),
        (lambda s: app_image(s, 3).update(digest=digest("app/v1")), "appears twice"),
        (lambda s: app_image(s, 3).update(size=-1), "images[3].size: expected a non-negative"),
        (lambda s: s["namespaces"]["noplan"].update(image_management="maybe"),
         "namespaces.noplan.image_management"),
        (lambda s: s["namespaces"]["acme"]["repositories"].update({"Bad Name": {}}),
         "is not a repository name"),
        (lambda s: s["users"].append({"username": "zed"}), "users[3]: a user needs a password"),
        (lambda s: s["users"].append({"username": "alice", "password": "x"}), "defined twice"),
        (lambda s: s.update(extra=1), "seed: unknown key(s) extra"),
    ],
)  # fmt: skip
def test_seed_errors_name_the_place(change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = seed_data()
    change(data)
    with pytest.raises(SeedError) as caught:
        load_seed(data, now=NOW)
    assert message in str(caught.value)


def test_seed_file_yaml_and_json(tmp_path: Path) -> None:
    data = seed_data()
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "s.json").write_text(json.dumps(data))
    from_yaml = dump_seed(load_seed(tmp_path / "s.yaml", now=NOW))
    from_json = dump_seed(load_seed(str(tmp_path / "s.json"), now=NOW))
    assert from_yaml == from_json == dump_seed(load_seed(data, now=NOW))
    (tmp_path / "bad.yaml").write_text("users: [")
    with pytest.raises(SeedError, match="not valid YAML"):
        load_seed(tmp_path / "bad.yaml")
    with pytest.raises(SeedError, match="cannot read seed"):
        load_seed(tmp_path / "missing.yaml")


def test_dump_round_trips_and_hides_nothing_it_should_keep(state: HubState) -> None:
    dumped = dump_seed(state)
    again = load_seed(dumped, now=NOW + timedelta(days=3))  # absolute times: `now` is irrelevant
    assert dump_seed(again) == dumped
    app = dumped["namespaces"]["acme"]["repositories"]["app"]
    assert app["images"][0]["last_pushed"] == "2026-01-13T12:00:00.000000Z"
    assert [u["username"] for u in dumped["users"]] == ["alice", "bob", "eve"]


def test_dump_of_one_namespace_has_no_users_or_secrets(state: HubState) -> None:
    dumped = dump_seed(state, "acme")
    assert set(dumped) == {"namespaces"}
    assert "alice-pw" not in json.dumps(dumped)
    with pytest.raises(KeyError):
        dump_seed(state, "nope")


def test_user_repr_hides_secrets(state: HubState) -> None:
    text = repr(state.users["bob"])
    assert "bob-pw" not in text and "dckr_pat_bob" not in text and "123456" not in text


def test_sample_seed_is_meaningful() -> None:
    state = load_seed(SAMPLE)
    repos = state.namespaces["acme"].repositories
    assert {"web", "api", "worker", "base-images", "docs", "legacy-tool"} <= set(repos)
    images = [i for name in repos for i in state.images("acme", name)]
    assert 50 <= len(images) <= 80
    tags = {t.tag for i in images for t in i.tags if t.is_current}
    assert {"latest", "stable"} <= tags
    assert any(t.startswith("pr-") for t in tags) and any(t.startswith("v") for t in tags)
    assert any(i.is_index for i in images)
    assert any(i.last_pulled is None for i in images)
    assert any(not i.currently_tagged for i in images)
    assert state.check_credentials("demo", "demo-password") is not None
    demo = state.users["demo"]
    assert demo.can_access("acme") and any(t.startswith("dckr_pat_") for t in demo.tokens)
    assert state.images("library", "alpine")


def test_generate_is_deterministic() -> None:
    a = dump_seed(generate_state(repos=3, images=40, seed=7, now=NOW), "bench")
    b = dump_seed(generate_state(repos=3, images=40, seed=7, now=NOW), "bench")
    c = dump_seed(generate_state(repos=3, images=40, seed=8, now=NOW), "bench")
    assert a == b
    assert a != c
    # ... and round-trips through the seed format.
    assert dump_seed(load_seed(a), "bench") == a


def test_generated_data_is_a_realistic_mix() -> None:
    state = generate_state(repos=2, images=500, seed=1, now=NOW, tagged_fraction=0.3)
    images = state.images("bench", "api-0000")
    assert len(images) == 500
    tagged = sum(i.currently_tagged for i in images) / len(images)
    assert 0.2 < tagged < 0.4
    assert 0.05 < sum(i.is_index for i in images) / len(images) < 0.2
    assert any(i.last_pulled is None for i in images)
    assert any(i.last_pulled and NOW - i.last_pulled < timedelta(days=7) for i in images)
    assert any(not i.currently_tagged and i.tags for i in images)  # historical tags only
    current = [t.tag for i in images for t in i.tags if t.is_current]
    assert len(current) == len(set(current))  # a tag is current once
    assert "latest" in images[0].current_tags
    assert all(i.last_pulled is None or i.last_pulled >= i.last_pushed for i in images)
    digests = [i.digest for i in images] + [p.digest for i in images for p in i.platforms]
    assert len(digests) == len(set(digests))
    summary = state.summary(state.namespaces["bench"].repositories["api-0000"])
    assert summary.last_updated == images[0].last_pushed


def test_generate_a_million_images_is_lazy() -> None:
    state = generate_state(repos=1000, images=1000, seed=3)
    assert len(state.namespaces["bench"].repositories) == 1000
    assert len(state.images("bench", "web-0001")) == 1000
    assert state.check_credentials("bench", BENCH_TOKEN) is not None


def test_deleting_from_a_generated_repository_keeps_an_overlay() -> None:
    state = generate_state(repos=1, images=50, seed=2, now=NOW)
    images = state.images("bench", "api-0000")
    victims = [images[5].digest, images[9].digest]
    expected_manifests = images[5].manifest_count + images[9].manifest_count
    assert state.delete_images("bench", "api-0000", victims)[0] == expected_manifests
    assert state.repository("bench", "api-0000").generated  # type: ignore[union-attr]
    left = [i.digest for i in state.images("bench", "api-0000")]
    assert len(left) == 48 and not set(victims) & set(left)


def test_tag_moves_and_pull_pins_a_generated_repository() -> None:
    state = generate_state(repos=1, images=20, seed=2, now=NOW)
    images = state.images("bench", "api-0000")
    target = images[10].digest
    state.tag_image("bench", "api-0000", target, "latest")
    moved = state.image("bench", "api-0000", target)
    assert moved is not None and "latest" in moved.current_tags
    old = state.image("bench", "api-0000", images[0].digest)
    assert old is not None and "latest" not in old.current_tags
    assert any(t.tag == "latest" and not t.is_current for t in old.tags)
    state.record_pull("bench", "api-0000", target, NOW)
    assert state.image("bench", "api-0000", target).last_pulled == NOW  # type: ignore[union-attr]
    assert not state.repository("bench", "api-0000").generated  # type: ignore[union-attr]


def test_push_image_takes_over_current_tags(state: HubState) -> None:
    new = StoredImage(
        digest=digest("app/v3"),
        media_type="application/vnd.oci.image.manifest.v1+json",
        last_pushed=NOW,
        last_pulled=None,
        size=5,
        tags=[TagEntry("latest", True)],
    )
    state.push_image("acme", "app", new)
    assert state.view("acme", "app").tag_owner["latest"].digest == digest("app/v3")
    with pytest.raises(ValueError):
        state.push_image("acme", "app", new)


def test_seed_time_helpers_and_a_snapshot_without_details() -> None:
    assert parse_seed_time(None, now=NOW) is None
    assert parse_seed_time("0001-01-01T00:00:00Z", now=NOW) is None
    assert parse_seed_time("2d", now=NOW) == NOW - timedelta(days=2)
    with pytest.raises(ValueError):
        parse_seed_time("whenever", now=NOW)
    # What `janitor snapshot` may write: children by digest only, a push time Hub did not give.
    state = load_seed(
        {
            "namespaces": {
                "acme": {
                    "repositories": {
                        "r": {
                            "images": [
                                {
                                    "digest": digest("r/1"),
                                    "last_pushed": None,
                                    "last_pulled": None,
                                    "size": 10,
                                    "platforms": [{"digest": digest("r/1/a")}],
                                    "tags": [],
                                }
                            ]
                        }
                    }
                }
            }
        },
        now=NOW,
    )
    image = state.image("acme", "r", digest("r/1"))
    assert image is not None and image.last_pushed == ZERO_TIME and image.size == 10
    assert not image.is_active(NOW - timedelta(days=30))


def test_generated_signatures_follow_tagged_images_and_change_nothing_else() -> None:
    from janitor.policy.companions import links

    plain = generate_state(repos=2, images=200, seed=5, now=NOW)
    signed = generate_state(repos=2, images=200, seed=5, now=NOW, signed_fraction=0.5)
    for name in plain.namespaces["bench"].repositories:
        before = plain.images("bench", name)
        after = signed.images("bench", name)
        companions = [i for i in after if links(i.current_tags)]
        assert [i for i in after if not links(i.current_tags)] == before
        assert 20 <= len(companions) < 200
        digests = {i.digest for i in before if i.current_tags}
        kinds = {t.rsplit(".", 1)[1] for i in companions for t in i.current_tags}
        assert kinds == {"sig", "att"}
        for image in companions:
            (link,) = links(image.current_tags)
            assert link.subject in digests
