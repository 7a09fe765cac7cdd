"""Whether a run may delete: the two-key rule of DESIGN.md."""

from __future__ import annotations

from dataclasses import dataclass

from janitor.config import Settings
from janitor.policy import Policy


@dataclass(frozen=True)
class RunMode:
    """Whether a run may delete, and why."""

    dry_run: bool
    note: str | None = None


def decide_mode(
    policy: Policy, *, dry_run_flag: bool, apply_flag: bool, service: bool, settings: Settings
) -> RunMode:
    """``--dry-run`` never deletes. A one-shot run deletes only with ``--apply`` and a policy whose
    mode is ``delete`` (``require_apply = false`` drops the ``--apply`` key for cron-driven
    one-shot runs). The service deletes for ``mode: delete`` policies."""
    if dry_run_flag:
        return RunMode(True)
    if policy.mode != "delete":
        note = None
        if apply_flag:
            note = (
                f"policy {policy.name!r} has mode: dry-run, so --apply still makes a dry run; "
                "set mode: delete in the policy file to let it delete"
            )
        return RunMode(True, note)
    if service or apply_flag or not settings.require_apply:
        return RunMode(False)
    return RunMode(
        True,
        f"policy {policy.name!r} has mode: delete; this was a dry run: "
        "run `janitor run --apply` to delete",
    )
