"""Untagged images on today's Hub (issue 14): the manifests listing joined with the tags listing,
planned with the delete-images backend's semantics and reasons, deleted through the registry
only; platform manifests judged with their index; a shape janitor does not understand falls
back to the tags listing and says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from janitor.backends.registry import RegistryBackend
from janitor.cli import cli
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.model import INDEX_MEDIA_TYPE, Platform, StoredImage
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import HubState, load_seed
from janitor.engine import RunContext, run_once
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.store import Store

from .conftest import (
    KEPT_AMD64,
    KEPT_ARM64,
    KEPT_IDX,
    TOKEN,
    UNTAGGED,
    USER,
    World,
    digest,
    hub_client,
    make_settings,
    registry_client,
    seed,
    serve,
    top_level,
    write_policy,
)

NOW = datetime.now(UTC)
U_OLD = digest(30)  # untagged, pushed 100d ago, never pulled: deleted
U_COLD = digest(31)  # untagged, pushed 90d, pulled 60d ago: deleted
U_WARM = digest(32)  # untagged, pushed 90d, pulled yesterday: kept
U_IDX = digest(33)  # untagged index, pushed 80d: deleted with its children 34, 35
U_IDX_AMD, U_IDX_ARM = digest(34), digest(35)
U_SHARE = digest(36)  # untagged index, 70d: its children are 37 and KEPT_AMD64 (stable's)
U_SHARE_OWN = digest(37)
PLAN = {U_OLD, U_COLD, U_IDX, U_SHARE}
# Where Hub lists an untagged index's platform manifests as rows of their own, janitor cannot
# tell them from untagged images without reading the index (a GET, a pull): they are planned as
# images, and go with their index (an index is deleted first, with its exclusive children).
PLATFORM_ROWS = {U_IDX_AMD, U_IDX_ARM, U_SHARE_OWN}

POLICY = """\
name: untagged
namespace: acme
mode: delete
select:
  - name: untagged-and-cold
    currently_tagged: false
    last_pushed: {older_than: 30d}
    last_pulled: {older_than: 30d, never: match}
limits: {max_deletes: 100, max_fraction_per_repository: 1.0}
"""


def untagged_seed(image_management: bool | str = "gone") -> dict[str, Any]:
    data = seed(image_management)
    web = data["namespaces"]["acme"]["repositories"]["web"]["images"]

    def plain(d: str, pushed: str, pulled: str | None) -> dict[str, Any]:
        return {"digest": d, "last_pushed": pushed, "last_pulled": pulled, "size": 10, "tags": []}

    web += [
        plain(U_OLD, "100d", None),
        plain(U_COLD, "90d", "60d"),
        plain(U_WARM, "90d", "1d"),
        {
            "digest": U_IDX,
            "media_type": INDEX_MEDIA_TYPE,
            "last_pushed": "80d",
            "last_pulled": None,
            "tags": [],
            "platforms": [
                {"digest": U_IDX_AMD, "architecture": "amd64", "size": 5},
                {"digest": U_IDX_ARM, "architecture": "arm64", "size": 5},
            ],
        },
    ]
    return data


def state(image_management: bool | str = "gone") -> HubState:
    hub = load_seed(untagged_seed(image_management))
    hub.push_image(  # an untagged index sharing a platform manifest with the tagged "stable"
        "acme",
        "web",
        StoredImage(
            digest=U_SHARE,
            media_type=INDEX_MEDIA_TYPE,
            last_pushed=NOW - timedelta(days=70),
            last_pulled=None,
            size=10,
            platforms=(Platform(U_SHARE_OWN, size=5), Platform(KEPT_AMD64, size=500)),
        ),
    )
    return hub


@pytest.fixture
def today() -> Iterator[RunningEmulator]:
    """Today's Hub, strict, with the manifests listing (platform rows included, 4 rows a page)."""
    with serve(state(), EmulatorConfig.like_hub(manifests_page_size=4)) as emu:
        yield emu


@pytest.fixture
def world(today: RunningEmulator, sqlite_store: Store, tmp_path: Path) -> World:
    return World(today, sqlite_store, make_settings(today, tmp_path), tmp_path)


def env_of(emu: RunningEmulator, tmp_path: Path, backend: str = "auto") -> dict[str, str]:
    (tmp_path / "policies").mkdir(parents=True, exist_ok=True)
    (tmp_path / "policies" / "untagged.yaml").write_text(POLICY)
    return {
        "JANITOR_HUB_URL": emu.url,
        "JANITOR_REGISTRY_URL": emu.registry_url,
        "JANITOR_HUB_USERNAME": USER,
        "JANITOR_HUB_TOKEN": TOKEN,
        "JANITOR_DATA_DIR": str(tmp_path / "data"),
        "JANITOR_POLICIES": str(tmp_path / "policies"),
        "JANITOR_DELETE_BACKEND": backend,
    }


def janitor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def decisions(result: Result) -> dict[str, tuple[str, list[str]]]:
    assert result.exit_code == 0, result.output
    (plan,) = json.loads(result.stdout)
    return {
        i["digest"]: (i["verdict"], i["reasons"])
        for r in plan["repositories"]
        for i in r["images"]
        if r["repository"] == "web"
    }


def test_plan_sees_untagged_images_with_delete_images_semantics(tmp_path: Path) -> None:
    config = EmulatorConfig.like_hub(manifests_platform_rows=False)
    with serve(state(), config) as today:
        registry = decisions(janitor(env_of(today, tmp_path), "plan", "--json"))
    assert {d for d, (verdict, _) in registry.items() if verdict == "delete"} == PLAN
    # platform manifests are judged with their index, never on their own
    assert not {U_IDX_AMD, U_IDX_ARM, U_SHARE_OWN, KEPT_AMD64, KEPT_ARM64} & set(registry)
    assert registry[U_WARM][0] == registry[UNTAGGED][0] == "keep"
    with serve(state(True)) as legacy:
        classic = decisions(
            janitor(env_of(legacy, tmp_path / "x", "delete-images"), "plan", "--json")
        )
    assert registry == classic  # the same images, verdicts and reasons as delete-images


def test_platform_rows_of_a_tagged_index_are_judged_with_it(
    today: RunningEmulator, tmp_path: Path
) -> None:
    plan = decisions(janitor(env_of(today, tmp_path), "plan", "--json"))
    assert not {KEPT_AMD64, KEPT_ARM64} & set(plan)  # known from the tags listing's images[]
    assert {d for d, (verdict, _) in plan.items() if verdict == "delete"} == PLAN | PLATFORM_ROWS


def test_run_deletes_exactly_the_untagged_images_and_their_exclusive_children(
    world: World,
) -> None:
    emu = world.hub
    record = run_once(world.context(), world.policy(text=POLICY), trigger="cli", dry_run=False)
    assert record.status == "succeeded", record.error
    outcomes = world.outcomes(record.id)
    assert {d for d, o in outcomes.items() if o == "deleted"} == PLAN | PLATFORM_ROWS
    left = top_level(emu, "web")
    assert not PLAN & left
    assert not {U_IDX_AMD, U_IDX_ARM, U_SHARE_OWN} & left  # exclusive children went too
    view = emu.state.view("acme", "web")
    assert view.by_digest[KEPT_IDX].current_tags == ["stable"]
    assert view.parent_of[KEPT_AMD64] == KEPT_IDX  # the shared child stays with its index
    assert {U_WARM, UNTAGGED} <= left
    # GETs (pulls) only of the two untagged indexes, each about to be deleted
    gets = sorted(
        e.path for e in emu.log.entries() if e.method == "GET" and "/manifests/" in e.path
    )
    assert gets == sorted(f"/registry/v2/acme/web/manifests/{d}" for d in (U_IDX, U_SHARE))


def test_a_dry_run_deletes_nothing(world: World) -> None:
    record = run_once(world.context(), world.policy(text=POLICY), trigger="cli", dry_run=True)
    assert record.status == "succeeded", record.error
    outcomes = world.outcomes(record.id)
    assert {d for d, o in outcomes.items() if o == "would_delete"} == PLAN | PLATFORM_ROWS
    assert world.hub.log.count("DELETE", "") == 0


def test_the_listing_is_paged_by_last_evaluated_key(today: RunningEmulator) -> None:
    with hub_client(today) as hub:
        rows = list(hub.iter_manifests("acme", "web"))
    pages = [e.query for e in today.log.entries() if e.path.endswith("/web/manifests")]
    assert len(pages) == -(-len(rows) // 4) and pages[0] == {}
    assert all("last_evaluated_key" in q for q in pages[1:])
    assert len({r.digest for r in rows}) == len(rows)
    assert {KEPT_AMD64, U_IDX_AMD, U_SHARE_OWN} <= {r.digest for r in rows}  # platform rows


def test_without_platform_rows_the_same_plan(tmp_path: Path, today: RunningEmulator) -> None:
    with serve(state(), EmulatorConfig.like_hub(manifests_platform_rows=False)) as emu:
        without = decisions(janitor(env_of(emu, tmp_path), "plan", "--json"))
    with_rows = decisions(janitor(env_of(today, tmp_path / "y"), "plan", "--json"))
    assert {d: v for d, v in with_rows.items() if d not in PLATFORM_ROWS} == without


def test_a_hub_without_the_listing_sees_tagged_images_only(tmp_path: Path) -> None:
    with serve(state(), EmulatorConfig.like_hub(manifests_listing=False)) as emu:
        plan = decisions(janitor(env_of(emu, tmp_path), "plan", "--json"))
    assert not {U_OLD, U_COLD, U_IDX, U_SHARE, UNTAGGED} & set(plan)


class OddRows(httpx.HTTPTransport):
    """Real HTTP; the manifests listing's ``tags`` come as one string on repository web: a
    shape janitor does not understand."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/web/manifests"):
            body = json.loads(response.read())
            for row in body["manifests"]:
                row["tags"] = ",".join(row["tags"])
            return httpx.Response(200, json=body)
        return response


def test_a_shape_janitor_does_not_understand_falls_back_and_says_so(
    today: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    hub = HubClient(today.url, Credentials(USER, TOKEN), timeout=10, transport=OddRows())
    with hub, registry_client(today) as registry:
        backend = RegistryBackend(hub, registry)
        inventories = {
            i.repository.name: i
            for i in backend.inventory("acme", repositories=lambda n: True, concurrency=1)
        }
    web, api = inventories["web"], inventories["api"]
    assert not {U_OLD, U_COLD} & {i.digest for i in web.images}  # not guessed at
    assert len(web.notes) == 1 and "untagged images of acme/web could not be seen" in web.notes[0]
    assert api.notes == ()  # the other repository's listing was understood
    assert "could not be seen" in caplog.text


def test_no_untagged_manifest_is_deleted_while_an_untagged_index_stays(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """An untagged index that stays (pulled yesterday) has children janitor cannot read without
    a pull; its platform manifests are listed as untagged rows of their own, old enough to be
    selected. No untagged manifest of that repository is deleted (not even plain old ones: any
    may be a child), each is recorded with the reason, and no DELETE is sent for them."""
    warm_index, warm_amd, warm_arm = digest(40), digest(41), digest(42)
    hub_state = state()
    hub_state.push_image(
        "acme",
        "web",
        StoredImage(
            digest=warm_index,
            media_type=INDEX_MEDIA_TYPE,
            last_pushed=NOW - timedelta(days=80),
            last_pulled=NOW - timedelta(days=1),
            size=10,
            platforms=(Platform(warm_amd, size=5), Platform(warm_arm, size=5)),
        ),
    )
    with serve(hub_state, EmulatorConfig.like_hub(manifests_page_size=4)) as emu:
        world = World(emu, sqlite_store, make_settings(emu, tmp_path), tmp_path)
        record = run_once(world.context(), world.policy(text=POLICY), trigger="cli", dry_run=False)
        outcomes = world.outcomes(record.id)
        codes = {d.digest: d.hub_code for d in sqlite_store.decisions(record.id)}
        deleted_paths = [e.path for e in emu.log.entries() if e.method == "DELETE"]
        left = top_level(emu, "web")
    for plain in (U_OLD, U_COLD):
        assert outcomes[plain] == "error" and codes[plain] == "index_unread", outcomes[plain]
        assert plain in left
    assert not [p for p in deleted_paths if any(d in p for d in (U_OLD, U_COLD))]
    assert warm_index in left
    view = emu.state.view("acme", "web")
    assert {warm_amd, warm_arm} <= set(view.parent_of)  # the index that stays is whole
    assert U_IDX not in left  # untagged indexes themselves still go, with their children


def test_a_run_records_that_untagged_images_could_not_be_seen(
    today: RunningEmulator, tmp_path: Path, sqlite_store: Store
) -> None:
    """The fallback is in the run's record (notes) and its report, not only in the log."""

    context = RunContext(
        settings=make_settings(today, tmp_path, backend="registry"),
        store=sqlite_store,
        hub_factory=lambda: HubClient(
            today.url, Credentials(USER, TOKEN), timeout=10, transport=OddRows()
        ),
    )
    policy = write_policy(tmp_path / "policies")
    record = run_once(context, policy, trigger="cli", dry_run=True)
    stored = sqlite_store.get_run(record.id)
    assert stored is not None
    assert [n for n in stored.notes if "untagged images of acme/web could not be seen" in n]
    assert not [n for n in stored.notes if "acme/api" in n]


def test_listings_that_disagree_are_read_again_then_refused(today: RunningEmulator) -> None:
    class TagBetween(httpx.HTTPTransport):
        """After each tags listing of web, a push tags an untagged image: the manifests
        listing read next shows a tag the tags listing did not."""

        def __init__(self, times: int) -> None:
            super().__init__()
            self.times = times

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.url.path.endswith("/web/tags") and self.times > 0:
                self.times -= 1
                today.state.tag_image("acme", "web", U_OLD, f"new-{id(self)}-{self.times}")
            return response

    for times, refused in ((1, False), (2, True)):
        hub = HubClient(
            today.url, Credentials(USER, TOKEN), timeout=10, transport=TagBetween(times)
        )
        with hub, registry_client(today) as registry:
            listing = RegistryBackend(hub, registry, manifests_listing=True).inventory(
                "acme", repositories=lambda n: n == "web", concurrency=1
            )
            if refused:
                (web,) = list(listing)  # refused: no images, so nothing planned or deleted
                assert web.images == ()
                assert "did not add up twice" in (web.refused or "")
            else:
                (web,) = list(listing)
                assert U_OLD in {i.digest for i in web.images if i.tags}


def test_snapshot_captures_untagged_images_for_an_offline_plan(
    today: RunningEmulator, tmp_path: Path
) -> None:
    env = env_of(today, tmp_path)
    out = tmp_path / "acme.yaml"
    assert janitor(env, "snapshot", "acme", "-o", str(out)).exit_code == 0
    offline = decisions(janitor(env, "plan", "--json", "--snapshot", str(out)))
    online = decisions(janitor(env, "plan", "--json"))
    assert {d for d, (v, _) in offline.items() if v == "delete"} == PLAN | PLATFORM_ROWS
    assert {d: v for d, (v, _) in offline.items()} == {d: v for d, (v, _) in online.items()}


def test_plan_says_when_untagged_images_could_not_be_seen(tmp_path: Path) -> None:
    config = EmulatorConfig.like_hub(manifests_tags_as_text=True)
    with serve(state(), config) as emu:
        result = CliRunner().invoke(cli, ["plan"], env=env_of(emu, tmp_path))
    assert result.exit_code == 0, result.output
    assert "note: untagged images of acme/web could not be seen" in result.stderr
    assert U_OLD not in result.stdout
