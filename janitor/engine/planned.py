"""A run's planned deletes, held compactly until the executor reaches them.

The plan of a million-image namespace holds hundreds of thousands of deletes; this keeps about 42
bytes of each (``Planned``) and rebuilds the executor's values one repository at a time."""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from janitor.errors import JanitorError
from janitor.hub.models import Image, TagRef
from janitor.plan import CurrentTagAction, Decision


class Entries:
    """The few distinct (select entry, current_tag, active_from) of a run's planned deletes,
    numbered, so that each planned image refers to its entry with one byte."""

    def __init__(self) -> None:
        self.index: dict[tuple[str | None, CurrentTagAction, datetime | None], int] = {}
        self.table: list[tuple[str | None, CurrentTagAction, datetime | None]] = []

    def number(self, decision: Decision) -> int:
        key = (decision.selected_by, decision.current_tag, decision.active_from)
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.table)
            self.table.append(key)
        return found


_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Planned:
    """One repository's planned deletes, kept compact until the executor gets to them.

    The plan of a million-image namespace holds hundreds of thousands of deletes. As whole
    ``Decision`` values (image, times, historical tags, reasons: all recorded already) they
    cost about 1 KB each; the executor needs only digest, size, current tags and the selecting
    entry: about 42 bytes each here (a sha256 digest packed in 32 bytes, the size in 8, one byte
    for the entry, one for whether the size is known; the current tags of the tagged ones, the
    platform manifests of the indexes).
    ``decisions()`` rebuilds the executor's values one repository at a time."""

    namespace: str
    repository: str
    digests: bytes | tuple[str, ...]  # 32 bytes per digest when all are sha256, else the text
    sizes: array[int]
    sized: bytes  # 1 where the size is known
    entry: bytes  # the number of the image's (entry, current_tag, active_from) in Entries
    tags: dict[int, tuple[str, ...]]  # position -> current tags, for the tagged images only
    subjects: dict[int, str]  # position -> the image a companion is deleted with (companions only)
    children: dict[int, tuple[str, ...]]  # position -> platform manifests, for indexes only

    @classmethod
    def of(
        cls, namespace: str, repository: str, deletes: Sequence[Decision], entries: Entries
    ) -> Planned:
        numbers = [entries.number(d) for d in deletes]
        if max(numbers) > 255:  # more distinct entries than a byte counts: never in practice
            raise JanitorError("a policy with more than 256 select entries is not supported")
        texts = tuple(d.image.digest for d in deletes)
        packed = all(_SHA256.fullmatch(digest) for digest in texts)
        return cls(
            namespace=namespace,
            repository=repository,
            digests=b"".join(bytes.fromhex(t[7:]) for t in texts) if packed else texts,
            sizes=array("q", (d.image.size or 0 for d in deletes)),
            sized=bytes(d.image.size is not None for d in deletes),
            entry=bytes(numbers),
            tags={i: d.image.current_tags for i, d in enumerate(deletes) if d.image.current_tags},
            subjects={i: d.subject for i, d in enumerate(deletes) if d.subject is not None},
            children={i: d.image.children for i, d in enumerate(deletes) if d.image.children},
        )

    def digest(self, i: int) -> str:
        if isinstance(self.digests, bytes):
            return "sha256:" + self.digests[32 * i : 32 * i + 32].hex()
        return self.digests[i]

    def decisions(self, entries: Entries) -> tuple[Decision, ...]:
        out = []
        for i in range(len(self.entry)):
            selected_by, current_tag, active_from = entries.table[self.entry[i]]
            image = Image(
                namespace=self.namespace,
                repository=self.repository,
                digest=self.digest(i),
                tags=tuple(TagRef(t, True) for t in self.tags.get(i, ())),
                size=self.sizes[i] if self.sized[i] else None,
                children=self.children.get(i, ()),
            )
            out.append(
                Decision(
                    image=image,
                    verdict="delete",
                    reasons=(),  # recorded with the decision; the executor never reads them
                    candidate=True,
                    selected_by=selected_by,
                    current_tag=current_tag,
                    active_from=active_from,
                    subject=self.subjects.get(i),
                )
            )
        return tuple(out)


def expanded(
    planned: list[Planned], entries: Entries
) -> Iterator[tuple[str, tuple[Decision, ...]]]:
    for repository_plan in planned:
        yield repository_plan.repository, repository_plan.decisions(entries)
