"""Plans for people and programs: a JSON-ready dict and a plain-text table.

Times are ISO 8601 UTC (``2026-01-02T03:04:05Z``); a never-pulled image has ``last_pulled``
``null`` in JSON and ``never`` in the table. Both are pure functions of the plan.
"""

from __future__ import annotations

from typing import Any

from janitor.plan import Decision, LimitViolation, Plan, RepositoryPlan
from janitor.policy.limits import judged_images
from janitor.units import human_bytes, iso, short_digest

_COLUMNS = ("DIGEST", "TAGS", "PUSHED", "PULLED", "VERDICT", "REASON")
_TAGS_WIDTH = 30
_MIN_REASON = 12


def decision_to_json(decision: Decision) -> dict[str, Any]:
    image = decision.image
    return {
        "repository": image.repository,
        "digest": image.digest,
        "tags": list(image.current_tags),
        "last_pushed": iso(image.last_pushed),
        "last_pulled": iso(image.last_pulled),
        "verdict": decision.verdict,
        "reasons": list(decision.reasons),
        "selected_by": decision.selected_by,
        "kept_by": list(decision.kept_by),
        "size": image.size,
        "candidate": decision.candidate,
        "current_tag": decision.current_tag,
        "active_from": iso(decision.active_from),
        "subject": decision.subject,
        "untag": list(decision.untag),
    }


def violation_to_json(violation: LimitViolation) -> dict[str, Any]:
    return {
        "limit": violation.limit,
        "allowed": violation.allowed,
        "actual": violation.actual,
        "repository": violation.repository,
        "message": violation.message,
    }


def totals(plan: Plan) -> dict[str, Any]:
    """Counts of the plan: repositories, images, delete, keep, candidates, bytes to delete
    (None when no size is known for any image to delete)."""
    images = delete = candidates = untag = 0
    size: int | None = None
    for repository in plan.repositories:
        images += judged_images(repository)
        for decision in repository.decisions:
            candidates += decision.candidate
            untag += len(decision.untag)
            if decision.verdict == "delete":
                delete += 1
                if decision.image.size is not None:
                    size = (size or 0) + decision.image.size
    return {
        "repositories": len(plan.repositories),
        "images": images,
        "delete": delete,
        "keep": images - delete,
        "candidates": candidates,
        "bytes_to_delete": size,
        "tags_to_remove": untag,
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON types (``json.dumps`` ready)."""
    return {
        "policy": plan.policy,
        "namespace": plan.namespace,
        "as_of": iso(plan.now),
        "refused": plan.refused,
        "totals": totals(plan),
        "violations": [violation_to_json(v) for v in plan.violations],
        "repositories": [
            {
                "repository": r.repository,
                "images": [decision_to_json(d) for d in r.decisions],
            }
            for r in plan.repositories
        ],
    }


def _cell(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    return text[: width - 3] + "..."


def _row(decision: Decision, under: bool = False) -> tuple[str, str, str, str, str, str]:
    image = decision.image
    tags = ", ".join(image.current_tags) or "-"
    pushed = iso(image.last_pushed)
    pulled = iso(image.last_pulled)
    reason = decision.reasons[0] if decision.reasons else ""
    verdict: str = decision.verdict
    if decision.untag:
        verdict = "untag"
        reason = "removes " + ", ".join(f"'{t}'" for t in decision.untag) + "; the image stays"
    return (
        ("└ " if under else "") + short_digest(image.digest),
        _cell(tags, _TAGS_WIDTH),
        pushed[:10] if pushed else "unknown",
        pulled[:10] if pulled else "never",
        verdict,
        reason,
    )


def _under_subjects(decisions: list[Decision]) -> list[tuple[Decision, bool]]:
    """The decisions in order, each companion moved right under its subject (when shown):
    (decision, shown under its subject)."""
    shown = {d.image.digest for d in decisions}
    followers: dict[str, list[Decision]] = {}
    for d in decisions:
        if d.subject is not None and d.subject in shown:
            followers.setdefault(d.subject, []).append(d)
    out: list[tuple[Decision, bool]] = []

    def put(d: Decision, under: bool) -> None:
        out.append((d, under))
        for follower in followers.get(d.image.digest, ()):
            put(follower, True)

    for d in decisions:
        if d.subject is None or d.subject not in shown:
            put(d, False)
    return out


def _table(rows: list[tuple[str, ...]], width: int | None) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(_COLUMNS) - 1)]
    fixed = sum(widths) + 2 * (len(widths))
    reason_width = None if width is None else max(_MIN_REASON, width - fixed)
    lines = []
    for row in rows:
        cells = [row[c].ljust(widths[c]) for c in range(len(widths))]
        cells.append(_cell(row[-1], reason_width))
        lines.append("  ".join(cells).rstrip())
    return lines


def _repository_block(
    plan: Plan, repository: RepositoryPlan, width: int | None, show_kept: bool
) -> list[str]:
    delete = sum(1 for d in repository.decisions if d.verdict == "delete")
    images = judged_images(repository)
    lines = [
        f"{plan.namespace}/{repository.repository}: {_count(images, 'image')}, {delete} to delete"
    ]
    shown = [d for d in repository.decisions if show_kept or d.verdict == "delete" or d.untag]
    if shown:
        inner = None if width is None else width - 2
        rows = [_row(d, under) for d, under in _under_subjects(shown)]
        lines.extend("  " + line for line in _table([_COLUMNS, *rows], inner))
    hidden = len(repository.decisions) - len(shown)
    if hidden:
        lines.append(f"  ({_count(hidden, 'kept image')} not shown)")
    return lines


def plan_table(plan: Plan, *, width: int | None = None, show_kept: bool = True) -> str:
    """A readable plain-text plan: violations first, a table per repository (short digest,
    current tags, pushed, pulled, verdict, first reason), then the totals. ``width`` bounds
    the line length by shortening reasons (to no less than 12 characters); None leaves
    them whole."""
    lines = [f"Plan of policy '{plan.policy}' for namespace {plan.namespace} as of {iso(plan.now)}"]
    if plan.violations:
        lines.append("REFUSED: the plan exceeds the policy's limits; nothing will be deleted:")
        lines.extend(f"  - {v.message}" for v in plan.violations)
    for repository in plan.repositories:
        lines.append("")
        lines.extend(_repository_block(plan, repository, width, show_kept))
    t = totals(plan)
    size = "" if t["bytes_to_delete"] is None else f", {human_bytes(t['bytes_to_delete'])} to free"
    lines.append("")
    lines.append(
        f"Total: {_count(t['repositories'], 'repository', 'repositories')}, "
        f"{_count(t['images'], 'image')}, "
        f"{t['delete']} to delete, {t['keep']} to keep{size}"
        + (f", {_count(t['tags_to_remove'], 'tag')} to remove" if t["tags_to_remove"] else "")
    )
    return "\n".join(lines) + "\n"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
