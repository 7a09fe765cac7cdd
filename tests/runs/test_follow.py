"""A repository's deletes in waves: companions after their subject, and only when it went."""

from __future__ import annotations

from collections.abc import Sequence

from janitor.follow import after_subjects
from janitor.hub.models import Image
from janitor.plan import Decision
from janitor.records import Outcome


def d(n: int, subject: int | None = None) -> Decision:
    image = Image(namespace="acme", repository="web", digest=f"sha256:{n:064x}")
    return Decision(
        image, "delete", (), True, subject=None if subject is None else f"sha256:{subject:064x}"
    )


def test_companions_go_after_their_subject_and_only_when_it_went() -> None:
    outcomes: dict[tuple[str, str], Outcome] = {}
    emitted: list[tuple[str, str, str | None]] = []

    def emit(
        repository: str, rows: Sequence[tuple[Decision, Outcome, str | None, str | None]]
    ) -> None:
        emitted.extend((row[0].image.digest[-2:], row[1], row[2]) for row in rows)

    # 1 and 2 are images; 11 signs 1, 12 signs 2, 21 signs 11 (a chain), 31 signs 9 (not planned)
    plan = [d(21, 11), d(1), d(11, 1), d(12, 2), d(2), d(31, 9)]
    waves = []
    for wave in after_subjects("web", plan, outcomes, emit):
        waves.append(sorted(x.image.digest[-2:] for x in wave))
        for x in wave:  # the executor's work: 2 is skipped by Hub, the rest goes
            gone = not x.image.digest.endswith("02")
            outcomes[("web", x.image.digest)] = "deleted" if gone else "skipped_warning"
    assert waves == [["01", "02"], ["0b"], ["15"]]
    skipped = {digest: detail for digest, outcome, detail in emitted}
    assert set(skipped) == {"1f", "0c"}
    assert "which this run does not delete" in (skipped["1f"] or "")
    assert "which was not deleted (skipped_warning)" in (skipped["0c"] or "")
