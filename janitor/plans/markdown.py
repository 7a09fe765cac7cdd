"""A saved plan as Markdown, for a pull request or a ticket: what would go, per repository,
with the reasons, so that a person can approve exactly what ``janitor apply`` will delete.

A pure function of the saved plan (and, when the JSON form was written beside it, that file's
name and hash, so the approval names the very file that is applied). Text that comes from
policies or Hub is escaped: nothing in it can turn into Markdown or HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from janitor.plans.saved import PlannedImage, SavedPlan
from janitor.units import human_bytes, short_digest, short_time

ROW_LIMIT = 1000
"""Images listed per repository; the rest are counted (the JSON form has them all)."""

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "#": "\\#",
        "\n": " ",
        "\r": " ",
    }
)


def escape(text: str) -> str:
    """``text`` as literal Markdown inline text (safe in a table cell)."""
    return text.translate(_ESCAPES)


def code(text: str) -> str:
    """``text`` in a code span; backticks and pipes cannot occur in digests, tags or names."""
    return f"`{text.replace('`', '').replace('|', '')}`"


def _size(images: Sequence[PlannedImage]) -> str:
    sizes = [i.size for i in images if i.size is not None]
    if not sizes:
        return "size unknown" if images else "0 B"
    known = human_bytes(sum(sizes))
    return known if len(sizes) == len(images) else f"{known} + {len(images) - len(sizes)} unknown"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"


def render_markdown(
    plan: SavedPlan, *, json_file: str | None = None, plan_hash: str | None = None
) -> str:
    """The review form of ``plan``; ``json_file``/``plan_hash`` name its JSON form."""
    deletes = plan.to_delete
    groups = list(plan.repositories())
    touched = [
        (name, images) for name, images in groups if any(i.verdict == "delete" for i in images)
    ]
    when = plan.as_of.astimezone(UTC)
    lines = [
        f"## janitor plan: {code(plan.policy)} on {code(plan.namespace)}",
        "",
        f"**{_count(len(deletes), 'image')} to delete** ({_size(deletes)}) of "
        f"{len(plan.images)} in {len(touched)} of "
        f"{_count(len(groups), 'repository', 'repositories')}.",
        "",
        "| | |",
        "| --- | --- |",
        f"| Policy | {code(plan.policy)} from {code(plan.policy_source)}"
        + (
            f", sha256 {code(plan.policy_sha256.partition(':')[2][:12])}"
            if plan.policy_sha256
            else ""
        )
        + f", mode {code(plan.mode)} |",
        f"| Namespace | {code(plan.namespace)} on "
        + (escape(plan.hub_url) if plan.hub_url else "a snapshot file (not appliable)")
        + f", backend {code(plan.backend)} |",
        f"| Evaluated at | {short_time(when)} UTC |",
        f"| Protect list | {code(plan.protect_list) if plan.protect_list else 'none'} |",
    ]
    if json_file is not None:
        digest = f" (sha256 {code(plan_hash.partition(':')[2][:12])})" if plan_hash else ""
        lines.append(
            f"| Saved plan | {code(json_file)}{digest}: apply with "
            f"{code('janitor apply ' + json_file)} |"
        )
    if plan.violations:
        lines += ["", "> **The policy's limits refuse this plan:**"]
        lines += [f"> - {escape(v)}" for v in plan.violations]
    lines += [
        "",
        "| repository | images | delete | keep | to free |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, images in groups:
        gone = [i for i in images if i.verdict == "delete"]
        lines.append(
            f"| {code(name)} | {len(images)} | {len(gone)} | {len(images) - len(gone)} | "
            f"{_size(gone)} |"
        )
    for name, images in touched:
        gone = [i for i in images if i.verdict == "delete"]
        lines += [
            "",
            f"### {code(plan.namespace + '/' + name)}: delete {len(gone)} of {len(images)} "
            f"({_size(gone)})",
            "",
            "| image | tags | pushed | pulled | size | why |",
            "| --- | --- | --- | --- | ---: | --- |",
        ]
        for image in gone[:ROW_LIMIT]:
            tags = ", ".join(code(t) for t in image.tags) or "untagged"
            lines.append(
                f"| {code(short_digest(image.digest))} | {tags} | "
                f"{short_time(image.last_pushed, never='unknown')} | "
                f"{short_time(image.last_pulled)} | {human_bytes(image.size)} | "
                f"{escape('; '.join(image.reasons))} |"
            )
        if len(gone) > ROW_LIMIT:
            lines += ["", f"... and {len(gone) - ROW_LIMIT} more (the JSON form lists them all)."]
    return "\n".join(lines) + "\n"
