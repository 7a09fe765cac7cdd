"""A deliberately plain re-statement of the policy semantics, to check the evaluator against.

It shares no code with ``janitor.policy.evaluation``: globs use :func:`fnmatch.fnmatchcase`,
regular expressions Python's ``re.search``, durations are mapped to ``relativedelta`` here,
and ``most_recent`` ranks by a sort key built from timestamps. Slow and obvious on purpose.
It only understands what :mod:`tests.policy.strategies` generates.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta

from janitor.hub.models import Image, RepositoryInventory

_DELTAS = {
    "1h": relativedelta(hours=1),
    "12h": relativedelta(hours=12),
    "2d": relativedelta(days=2),
    "7d": relativedelta(days=7),
    "14d": relativedelta(days=14),
    "30d": relativedelta(days=30),
    "45d": relativedelta(days=45),
    "3m": relativedelta(months=3),
    "6m": relativedelta(months=6),
    "1y": relativedelta(years=1),
    "2y": relativedelta(years=2),
}


@dataclass(frozen=True)
class Verdict:
    candidate: bool
    selected_by: str | None
    kept_by: tuple[str, ...]
    judged: bool = True

    @property
    def verdict(self) -> str:
        return "delete" if self.candidate and not self.kept_by else "keep"


def matches(pattern: str, name: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def current_tags(image: Image) -> list[str]:
    return sorted({t.tag for t in image.tags if t.is_current})


def cutoff(now: datetime, text: str) -> datetime:
    return now - _DELTAS[text]


def in_window(moment: datetime, window: dict[str, Any], now: datetime) -> bool:
    if "older_than" in window and not moment <= cutoff(now, window["older_than"]):
        return False
    return not ("newer_than" in window and not moment > cutoff(now, window["newer_than"]))


def entry_holds(entry: dict[str, Any], image: Image, now: datetime) -> bool:
    tags = current_tags(image)
    if "currently_tagged" in entry and bool(tags) != entry["currently_tagged"]:
        return False
    if "tags" in entry and not (
        tags and all(any(matches(p, t) for p in entry["tags"]) for t in tags)
    ):
        return False
    if "last_pushed" in entry and (
        image.last_pushed is None or not in_window(image.last_pushed, entry["last_pushed"], now)
    ):
        return False
    if "last_pulled" in entry:
        rule = entry["last_pulled"]
        if image.last_pulled is None:
            return rule.get("never") == "match"
        if "older_than" not in rule and "newer_than" not in rule:
            return False
        return in_window(image.last_pulled, rule, now)
    return True


_COMPANION = re.compile(r"sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?")


def subjects_of(image: Image) -> list[str] | None:
    """The digests a companion (every current tag ``sha256-<hex>[.sig|.att|.sbom]``) names,
    in tag order; None for an ordinary image."""
    tags = current_tags(image)
    found = [_COMPANION.fullmatch(t) for t in tags]
    if not tags or not all(found):
        return None
    out: list[str] = []
    for match in found:
        assert match is not None
        digest = "sha256:" + match.group(1)
        if digest not in out:
            out.append(digest)
    return out


def _newest_first(images: list[Image]) -> list[Image]:
    def key(image: Image) -> tuple[int, float, str]:
        if image.last_pushed is None:
            return (1, 0.0, image.digest)
        return (0, -image.last_pushed.timestamp(), image.digest)

    return sorted(images, key=key)


def judge(data: dict[str, Any], inv: RepositoryInventory, now: datetime) -> dict[str, Verdict]:
    """digest -> Verdict for a policy document ``data`` (as strategies.policy_data makes)."""
    children = {c for im in inv.images for c in im.children if c != im.digest}
    listed = [im for im in inv.images if im.digest not in children]
    companions = {
        im.digest: im
        for im in sorted(listed, key=lambda im: im.digest)
        if subjects_of(im) is not None
    }
    judged = [im for im in listed if im.digest not in companions]
    select = [
        (entry.get("name", f"select[{i}]"), entry)
        for i, entry in enumerate(data["select"])
        if not entry.get("orphaned_companions")
    ]
    orphan_entries = [
        (entry.get("name", f"select[{i}]"), entry)
        for i, entry in enumerate(data["select"])
        if entry.get("orphaned_companions")
    ]
    out = {im.digest: Verdict(False, None, (), judged=False) for im in inv.images}
    kept: dict[str, list[str]] = {im.digest: [] for im in judged}
    for index, rule in enumerate(data.get("keep", [])):
        label = f"keep[{index}]"
        if "tags" in rule:
            tagged = [
                im
                for im in judged
                if any(matches(p, t) for p in rule["tags"] for t in current_tags(im))
            ]
        else:
            tagged = judged
        if "most_recent" in rule:
            hit = _newest_first(tagged)[: rule["most_recent"]]
        elif "tags" in rule:
            hit = tagged
        elif "pulled_within" in rule:
            edge = cutoff(now, rule["pulled_within"])
            hit = [im for im in judged if im.last_pulled is not None and im.last_pulled > edge]
        else:
            edge = cutoff(now, rule["pushed_within"])
            hit = [im for im in judged if im.last_pushed is not None and im.last_pushed > edge]
        for im in hit:
            kept[im.digest].append(label)
    for im in judged:
        selected_by = None
        for name, entry in select:
            if entry_holds(entry, im, now):
                selected_by = name
                break
        out[im.digest] = Verdict(selected_by is not None, selected_by, tuple(kept[im.digest]))
    _judge_companions(data, inv, now, out, companions, orphan_entries)
    return out


def _judge_companions(
    data: dict[str, Any],
    inv: RepositoryInventory,
    now: datetime,
    out: dict[str, Verdict],
    companions: dict[str, Image],
    orphan_entries: list[tuple[str, dict[str, Any]]],
) -> None:
    """A companion is deleted when every subject present is; kept when one stays; an orphan
    (no subject present) only by an orphaned_companions entry, kept by the time keep rules."""
    parent_of = {}
    for im in inv.images:
        for child in im.children:
            if child != im.digest:
                parent_of.setdefault(child, im.digest)
    busy: set[str] = set()

    def verdict_of(digest: str) -> Verdict | None:
        if digest in parent_of:
            return out[parent_of[digest]]
        if digest in companions:
            if digest in busy:
                return None
            busy.add(digest)
            out[digest] = judge_companion(companions[digest])
            del companions[digest]
            return out[digest]
        if digest in out and out[digest].judged:
            return out[digest]
        return None

    def judge_companion(im: Image) -> Verdict:
        subjects = subjects_of(im)
        assert subjects is not None
        present = [v for v in map(verdict_of, subjects) if v is not None]
        if present:
            if all(v.verdict == "delete" for v in present):
                return Verdict(True, present[0].selected_by, ())
            return Verdict(False, None, ())
        kept = []
        for index, rule in enumerate(data.get("keep", [])):
            if "pulled_within" in rule:
                moment, edge = im.last_pulled, cutoff(now, rule["pulled_within"])
            elif "pushed_within" in rule:
                moment, edge = im.last_pushed, cutoff(now, rule["pushed_within"])
            else:
                continue
            if moment is not None and moment > edge:
                kept.append(f"keep[{index}]")
        for name, entry in orphan_entries:
            rest = {k: v for k, v in entry.items() if k != "orphaned_companions"}
            if entry_holds(rest, im, now):
                return Verdict(True, name, tuple(kept))
        return Verdict(False, None, tuple(kept))

    while companions:
        verdict_of(next(iter(companions)))
