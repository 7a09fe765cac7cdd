"""Benchmark: calls of a delete run on the registry backend (today's Hub) against the minimum.

An emulator as strict as the live Hub (``EmulatorConfig.like_hub``: the image-management API
gone, ``tag_status`` only, nanosecond times, a registry that deletes a tagged manifest with its
tags, manifest GETs that count as pulls, tag DELETE on hub-tool's path only) serves a namespace
of ``--repos`` repositories x ``--images`` tagged images (every tenth an index of two platform
manifests): ``latest`` on the newest, ``pr-N`` on the others, one pushed per day. The policy
deletes ``pr-*`` builds older than 14 days with their tags. janitor runs it with ``--apply``
semantics (``run_once`` with ``dry_run=False``) on the registry backend; the same namespace is
then run on the delete-images backend (an emulator with the API) for the per-image comparison.

The namespace also holds ``--untagged`` untagged images per repository (pushed 40+ days ago), which
the registry backend sees through Hub's manifests listing and the policy's second entry deletes.

The minimum the issue names (every call a delete run cannot do without):

    1 login
    + ceil(repositories / 100)                    repository list pages
    + per repository ceil(current tags / 100)     tag pages (the inventory)
    +                ceil(manifest rows / 100)    manifests listing pages (the inventory)
    + 1 registry ping + 1 registry token per 25 repositories with something to delete
      (one token request holds a scope for each, ``janitor.hub.registry.SCOPES_PER_REQUEST``)
    + 1 tag DELETE per tag and 1 manifest DELETE per manifest deleted (platform manifests too)

What janitor adds on top: the probe of the manifests listing (once per namespace); per delete
call a check of the repository (its tags and manifests pages and its immutable-tag settings) for
the dry run and again for the real call, and one fresh tags listing after the tag DELETEs (no
manifest DELETE without it); one GET per untagged index about to be deleted (its children; a
tagged index's come from the tags listing); one tag DELETE on the path Hub does not serve (405,
once per process). It also counts manifest GETs of images that stay (a GET is a pull on Hub):
the target is 0.

    python benchmarks/registry_calls.py [--repos 6] [--images 200] [--untagged 60]
                                        [--batch-size 100]
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import Report, arguments, ceil_div

from janitor.config import Secret, Settings
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.model import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    HubState,
    Platform,
    StoredImage,
    StoredNamespace,
    StoredRepository,
    TagEntry,
    User,
)
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.engine import RunContext, run_once
from janitor.hub.auth import Credentials
from janitor.hub.client import PAGE_SIZE, HubClient
from janitor.hub.registry import SCOPES_PER_REQUEST
from janitor.policy import parse_policy
from janitor.store import Store

TARGET_RATIO = 1.15
NAMESPACE, USER, TOKEN = "bench", "bench", "bench-registry-token-0123456789"
POLICY = """\
name: old-prs
namespace: bench
mode: delete
select:
  - name: old-pr-builds
    tags: ["pr-*"]
    last_pushed: {older_than: 14d}
    current_tag: delete
  - name: untagged-and-cold
    currently_tagged: false
    last_pushed: {older_than: 30d}
    last_pulled: {older_than: 30d, never: match}
keep:
  - tags: ["latest"]
limits: {max_deletes: 10000000, max_fraction_per_repository: 1.0}
"""


def digest(repo: int, n: int, part: int = 0) -> str:
    return f"sha256:{repo:016x}{n:016x}{part:016x}{0:016x}"


def build_state(
    repos: int, images: int, untagged: int, *, image_management: bool | str
) -> HubState:
    now = datetime.now(UTC)
    namespace = StoredNamespace(NAMESPACE, image_management=image_management)
    for r in range(repos):
        stored = []
        for n in range(images):
            index = n % 10 == 9
            stored.append(
                StoredImage(
                    digest=digest(r, n),
                    media_type=INDEX_MEDIA_TYPE if index else MANIFEST_MEDIA_TYPE,
                    last_pushed=now - timedelta(days=n + 1, minutes=r),
                    last_pulled=None,
                    size=1000,
                    platforms=(
                        (
                            Platform(digest(r, n, 1), architecture="amd64", size=500),
                            Platform(digest(r, n, 2), architecture="arm64", size=500),
                        )
                        if index
                        else ()
                    ),
                    tags=[TagEntry("latest" if n == 0 else f"pr-{n}", True)],
                )
            )
        for n in range(untagged):  # left behind by pushes that moved a tag
            stored.append(
                StoredImage(
                    digest=digest(r, 100_000 + n),
                    media_type=MANIFEST_MEDIA_TYPE,
                    last_pushed=now - timedelta(days=40 + n, minutes=r),
                    last_pulled=None,
                    size=1000,
                )
            )
        name = f"app-{r:03d}"
        namespace.repositories[name] = StoredRepository(NAMESPACE, name, images=stored)
    return HubState([User(USER, tokens=(TOKEN,))], [namespace])


def run(emulator: RunningEmulator, backend: str, batch_size: int) -> dict[str, Any]:
    clients: list[HubClient] = []

    def factory() -> HubClient:
        client = HubClient(emulator.url, Credentials(USER, TOKEN), timeout=60)
        clients.append(client)
        return client

    with tempfile.TemporaryDirectory(prefix="janitor-bench-") as folder:
        data = Path(folder)
        conf = Settings(
            hub_url=emulator.url,
            hub_username=USER,
            hub_token=Secret(TOKEN),
            registry_url=emulator.registry_url,
            delete_backend=backend,
            data_dir=data,
            database_url=f"sqlite:///{data / 'janitor.db'}",
            report_dir=data / "reports",
            timeout=60,
            batch_size=batch_size,
        )
        store = Store(conf.database_url)
        try:
            store.ensure_schema()
            emulator.log.clear()
            ctx = RunContext(settings=conf, store=store, hub_factory=factory)
            record = run_once(
                ctx, parse_policy(POLICY, "old-prs.yaml"), trigger="manual", dry_run=False
            )
            deleted = [d for d in store.decisions(record.id) if d.outcome == "deleted"]
        finally:
            store.close()
    if record.status != "succeeded":
        raise SystemExit(f"the {backend} run failed: {record.error}")
    return {"record": record, "deleted": deleted, "log": emulator.log.entries()}


def kind(method: str, path: str) -> str:
    path = re.sub(r"sha256:[0-9a-f]{64}", "{digest}", path)
    path = re.sub(r"/tags/[^/]+/?$", "/tags/{tag}", path)
    path = re.sub(r"/app-\d+", "/{repo}", path)
    return f"{method} {path}"


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0],
        lambda p: (
            p.add_argument("--repos", type=int, default=6),
            p.add_argument("--images", type=int, default=200),
            p.add_argument("--untagged", type=int, default=60),
            p.add_argument("--batch-size", type=int, default=100),
        ),
    )
    report = Report(
        "registry_calls",
        {
            "repositories": args.repos,
            "tagged images per repository": args.images,
            "untagged images per repository": args.untagged,
            "batch size": args.batch_size,
        },
    )
    ratios: list[float] = []
    per_image: dict[str, list[float]] = {"registry": [], "delete-images": []}
    for _ in range(args.repeat):
        state = build_state(args.repos, args.images, args.untagged, image_management="gone")
        kept_pulled = {
            (repo.name, i.digest): i.last_pulled
            for repo in state.namespaces[NAMESPACE].repositories.values()
            for i in repo._source_images()
        }
        with start_emulator(state, EmulatorConfig.like_hub()) as emulator:
            result = run(emulator, "registry", args.batch_size)
            after = {
                (name, i.digest): i.last_pulled
                for name in state.namespaces[NAMESPACE].repositories
                for i in emulator.state.images(NAMESPACE, name)
            }
        log = result["log"]
        deleted = result["deleted"]
        calls = Counter(kind(e.method, e.path) for e in log)
        manifest_deletes = calls["DELETE /registry/v2/bench/{repo}/manifests/{digest}"]
        tag_deletes = sum(n for k, n in calls.items() if k.startswith("DELETE /v2/repositories/"))
        repos_with_deletes = len({d.repository for d in deleted})
        tags_per_repo = args.images
        rows_per_repo = args.images + args.images // 10 * 2 + args.untagged  # + platform rows
        manifest_pages = (
            calls["GET /v2/namespaces/bench/repositories/{repo}/manifests"] and 1
        ) * max(1, ceil_div(rows_per_repo, PAGE_SIZE))
        minimum = (
            1
            + max(1, ceil_div(args.repos, PAGE_SIZE))
            + args.repos * max(1, ceil_div(tags_per_repo, PAGE_SIZE))
            + args.repos * manifest_pages
            + 1
            + ceil_div(repos_with_deletes, SCOPES_PER_REQUEST)
            + tag_deletes
            + manifest_deletes
        )
        made = len(log)
        ratios.append(made / minimum)
        per_image["registry"].append(made / len(deleted))
        gone = {d.digest for d in deleted}
        stay_gets = [
            e.path
            for e in log
            if e.method == "GET"
            and "/manifests/" in e.path
            and e.path.rsplit("/", 1)[1] not in gone
        ]
        changed = [k for k, v in after.items() if kept_pulled.get(k) != v]
        report.note("registry run: " + "; ".join(f"{n} x {k}" for k, n in sorted(calls.items())))
        report.add("registry: deleted images", len(deleted))
        report.add("registry: calls made", made)
        report.add("registry: calls per repository", made / args.repos)
        report.add("registry: minimum", minimum)
        report.add(
            "registry: manifest GETs of images that stay",
            len(stay_gets),
            target="0",
            ok=not stay_gets,
        )
        report.add(
            "registry: last_pulled changed on images that stay",
            len(changed),
            target="0",
            ok=not changed,
        )

        state = build_state(args.repos, args.images, args.untagged, image_management=True)
        with start_emulator(state, EmulatorConfig()) as emulator:
            legacy = run(emulator, "delete-images", args.batch_size)
        per_image["delete-images"].append(len(legacy["log"]) / len(legacy["deleted"]))
        report.add("delete-images: calls made", len(legacy["log"]))

    report.add(
        "registry: calls / minimum",
        ratios,
        "x",
        target=f"<= {TARGET_RATIO}",
        ok=max(ratios) <= TARGET_RATIO,
    )
    report.add("registry: calls per deleted image", per_image["registry"])
    report.add("delete-images: calls per deleted image", per_image["delete-images"])
    report.finish()


if __name__ == "__main__":
    main()
