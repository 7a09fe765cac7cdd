"""A saved plan: the file ``janitor plan --out plan.json`` writes and ``janitor apply`` reads.

It is the JSON of ``janitor plan --json`` for one policy (every image of every covered repository
with its digest, current tags, times, size, verdict and reasons) plus what applying it must check:
the format, the Hub URL and backend the listing came from, the policy's file and the sha256 of
its bytes, and the protect list in force. Its own identity is the sha256 of the file's bytes,
recorded with the run that applies it.

Reading is strict: a file that is not exactly this shape is refused with one line naming the
field, never half-read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from dateutil import parser as dateparser

from janitor.errors import UsageError
from janitor.fileio import INVENTORY_LIMIT, FileInputError, read_capped
from janitor.plan import Plan
from janitor.policy import Policy
from janitor.policy.render import plan_to_json

FORMAT = "janitor-plan/1"
SNAPSHOT_BACKEND = "snapshot"
_DIGEST = re.compile(r"[a-z0-9]+:[0-9a-f]{32,128}")
Verdict = Literal["keep", "delete"]


class PlanFileError(UsageError):
    """A saved plan that cannot be used: unreadable, malformed, or refused (exit 2)."""


@dataclass(frozen=True, slots=True)
class PlannedImage:
    """One image as the plan saw it, and what the plan decided."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    last_pushed: datetime | None
    last_pulled: datetime | None
    size: int | None
    verdict: Verdict
    reasons: tuple[str, ...]
    selected_by: str | None


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A saved plan as read back (or about to be written)."""

    namespace: str
    hub_url: str | None  # None: planned from a snapshot file, not from Hub
    backend: str
    policy: str
    policy_source: str
    policy_sha256: str | None
    mode: str
    protect_list: str | None
    as_of: datetime
    violations: tuple[str, ...]
    images: tuple[PlannedImage, ...]

    @property
    def to_delete(self) -> tuple[PlannedImage, ...]:
        return tuple(i for i in self.images if i.verdict == "delete")

    def repositories(self) -> Iterator[tuple[str, list[PlannedImage]]]:
        """(repository, its images) in the plan's order."""
        current: str | None = None
        group: list[PlannedImage] = []
        for image in self.images:
            if image.repository != current:
                if current is not None:
                    yield current, group
                current, group = image.repository, []
            group.append(image)
        if current is not None:
            yield current, group


def plan_document(plan: Plan, policy: Policy, *, hub_url: str | None, backend: str) -> str:
    """The text of the saved plan of ``plan`` (one policy's evaluation)."""
    protect = policy.protect
    header: dict[str, Any] = {
        "format": FORMAT,
        "hub_url": hub_url,
        "backend": backend,
        "policy_source": str(policy.source),
        "policy_sha256": policy.content_hash,
        "mode": policy.mode,
        "protect_list": str(protect.source) if protect is not None else None,
    }
    return json.dumps(header | plan_to_json(plan), indent=1) + "\n"


def content_hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_saved_plan(path: Path) -> tuple[SavedPlan, str]:
    """The plan in ``path`` and the sha256 of its bytes; :class:`PlanFileError` otherwise."""
    try:
        data = read_capped(path, limit=INVENTORY_LIMIT)
    except FileInputError as exc:  # a FIFO, a device, a folder, or larger than a plan can be
        raise PlanFileError(f"{path}: cannot read the plan: {exc.problem}") from None
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise PlanFileError(
            f"{path}: not a saved plan (not JSON; write one with `janitor plan --out FILE.json`)"
        ) from None
    return _Reader(path).plan(document), content_hash(data)


def parse_plan_document(text: str) -> SavedPlan:
    """A saved plan from its text (as :func:`plan_document` wrote it)."""
    return _Reader(Path("<plan>")).plan(json.loads(text))


class _Reader:
    """Checks a parsed plan field by field; the first mistake is one line naming the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> PlanFileError:
        return PlanFileError(
            f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}"
        )

    def plan(self, doc: object) -> SavedPlan:
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise self.fail("", f'not a saved plan of this janitor (expected "format": "{FORMAT}")')
        hub_url = self.optional_text(doc, "hub_url")
        images: list[PlannedImage] = []
        repositories = self.field(doc, "repositories", list)
        for r, repo in enumerate(repositories):
            where = f"repositories[{r}]"
            if not isinstance(repo, Mapping):
                raise self.fail(where, "expected an object")
            name = self.text(repo, "repository", where)
            for i, item in enumerate(self.field(repo, "images", list, where)):
                images.append(self.image(item, name, f"{where}.images[{i}]"))
        violations = []
        for v, violation in enumerate(self.field(doc, "violations", list)):
            if not isinstance(violation, Mapping):
                raise self.fail(f"violations[{v}]", "expected an object")
            violations.append(self.text(violation, "message", f"violations[{v}]"))
        return SavedPlan(
            namespace=self.text(doc, "namespace"),
            hub_url=hub_url,
            backend=self.text(doc, "backend"),
            policy=self.text(doc, "policy"),
            policy_source=self.text(doc, "policy_source"),
            policy_sha256=self.optional_text(doc, "policy_sha256"),
            mode=self.text(doc, "mode"),
            protect_list=self.optional_text(doc, "protect_list"),
            as_of=self.moment(doc, "as_of", "", required=True),  # type: ignore[arg-type]
            violations=tuple(violations),
            images=tuple(images),
        )

    def image(self, item: object, repository: str, where: str) -> PlannedImage:
        if not isinstance(item, Mapping):
            raise self.fail(where, "expected an object")
        if item.get("repository") != repository:
            raise self.fail(f"{where}.repository", f"expected {repository!r}")
        digest = self.text(item, "digest", where)
        if not _DIGEST.fullmatch(digest):
            raise self.fail(f"{where}.digest", f"{digest!r} is not an image digest")
        tags = self.field(item, "tags", list, where)
        if not all(isinstance(t, str) for t in tags):
            raise self.fail(f"{where}.tags", "expected a list of strings")
        reasons = self.field(item, "reasons", list, where)
        if not all(isinstance(t, str) for t in reasons):
            raise self.fail(f"{where}.reasons", "expected a list of strings")
        verdict = item.get("verdict")
        if verdict not in ("keep", "delete"):
            raise self.fail(f"{where}.verdict", 'expected "keep" or "delete"')
        size = item.get("size")
        if size is not None and (type(size) is not int or size < 0):
            raise self.fail(f"{where}.size", "expected a number of bytes or null")
        return PlannedImage(
            repository=repository,
            digest=digest,
            tags=tuple(tags),
            last_pushed=self.moment(item, "last_pushed", where),
            last_pulled=self.moment(item, "last_pulled", where),
            size=size,
            verdict=verdict,
            reasons=tuple(reasons),
            selected_by=self.optional_text(item, "selected_by", where),
        )

    def field(self, doc: Mapping[str, Any], key: str, kind: type, where: str = "") -> Any:
        at = f"{where}.{key}" if where else key
        if key not in doc:
            raise self.fail(at, "is missing")
        value = doc[key]
        if not isinstance(value, kind):
            raise self.fail(at, f"expected {'a list' if kind is list else 'a string'}")
        return value

    def text(self, doc: Mapping[str, Any], key: str, where: str = "") -> str:
        return str(self.field(doc, key, str, where))

    def optional_text(self, doc: Mapping[str, Any], key: str, where: str = "") -> str | None:
        if doc.get(key) is None:
            if key not in doc:
                raise self.fail(f"{where}.{key}" if where else key, "is missing")
            return None
        return self.text(doc, key, where)

    def moment(
        self, doc: Mapping[str, Any], key: str, where: str, *, required: bool = False
    ) -> datetime | None:
        at = f"{where}.{key}" if where else key
        text = self.text(doc, key, where) if required else self.optional_text(doc, key, where)
        if text is None:
            return None
        try:
            moment = dateparser.isoparse(text)
        except (ValueError, OverflowError):
            raise self.fail(at, f"{text!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise self.fail(at, f"{text!r} has no time zone")
        return moment
