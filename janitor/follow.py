"""Companions are deleted after their subject, and only when it went.

A companion (a cosign signature, attestation or SBOM, or a referrer tagged ``sha256-<hex>``) is
planned for deletion only with its subject (see :mod:`janitor.policy.companions`). The executor
still must not delete it while its subject stays: Hub's dry run may skip the subject (a tag
added since the plan, an ``is_active`` warning), its delete may fail, or the run may stop. So a
repository's deletes go in waves: the ordinary images first, then the companions whose subject
is gone (or would go, in a dry run), then their own companions; every other companion is
skipped with the reason, never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from janitor.plan import Decision
from janitor.records import Outcome
from janitor.units import short_digest

GONE: frozenset[Outcome] = frozenset({"deleted", "would_delete"})

Emit = Callable[[str, Sequence[tuple[Decision, Outcome, str | None, str | None]]], None]


def after_subjects(
    repository: str,
    decisions: Sequence[Decision],
    outcomes: Mapping[tuple[str, str], Outcome],
    emit: Emit,
) -> Iterator[list[Decision]]:
    """The repository's planned deletes in waves, each yielded once the previous one ran (its
    outcomes are read from ``outcomes``); companions whose subject did not go are passed to
    ``emit`` as skipped."""
    planned = {d.image.digest for d in decisions}
    waiting: dict[str, list[Decision]] = {}
    wave: list[Decision] = []
    strays: list[Decision] = []
    for d in decisions:
        if d.subject is None:
            wave.append(d)
        elif d.subject in planned:
            waiting.setdefault(d.subject, []).append(d)
        else:
            strays.append(d)
    emit(
        repository,
        [
            (
                d,
                "skipped_warning",
                f"skipped: it goes only with {short_digest(d.subject or '')}, "
                "which this run does not delete",
                None,
            )
            for d in strays
        ],
    )
    while wave:
        yield wave
        following: list[Decision] = []
        skipped: list[tuple[Decision, Outcome, str | None, str | None]] = []
        for d in wave:
            companions = waiting.pop(d.image.digest, [])
            outcome = outcomes.get((repository, d.image.digest))
            if outcome in GONE:
                following.extend(companions)
                continue
            skipped.extend(
                (
                    c,
                    "skipped_warning",
                    f"skipped: it goes only with {short_digest(d.image.digest)}, which was not "
                    f"deleted ({outcome or 'not reached'})",
                    None,
                )
                for c in companions
            )
        emit(repository, skipped)
        wave = following
