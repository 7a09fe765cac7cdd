"""The protect list: repositories, tags and digests that no policy may delete.

``policies/_protect.yaml`` (or the file ``JANITOR_PROTECT`` names)::

    namespace: acme                 # optional; absent, the list holds in every namespace
    repositories: ["prod-*"]        # every image of these repositories (globs, "re:...")
    tags: ["latest", "re:^v\\d+"]   # every image that currently carries a matching tag
    digests: ["sha256:4f1e..."]     # these images; an index also when one of its platforms is

Policies are judged one by one, so one policy's keep rules never stop another from deleting an
image. The protect list is the rule every policy obeys: it is loaded and validated with the
policies (the same strict, line-numbered errors), applied by the evaluator as a keep that always
wins (reason ``protected by _protect.yaml: ...``), and checked again by the executor right before
a delete is sent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, PlainValidator, PrivateAttr, field_validator, model_validator

from janitor.policy.model import NAMESPACE_PATTERN, RepositoryPattern, StrictModel, TagPattern
from janitor.policy.patterns import PatternList

PROTECT_FILE = "_protect.yaml"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


def _digest(value: object) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(
            f"{shown} is not an image digest (write sha256: and the 64 lower-case hex digits)"
        )
    return value


Digest = Annotated[str, PlainValidator(_digest)]


class ProtectList(StrictModel):
    """What no policy may delete; :meth:`why` says whether (and by which rule) an image is."""

    namespace: str | None = None
    repositories: list[RepositoryPattern] = Field(default_factory=list)
    tags: list[TagPattern] = Field(default_factory=list)
    digests: list[Digest] = Field(default_factory=list)

    _source: Path = PrivateAttr(default=Path(PROTECT_FILE))
    _repositories: PatternList | None = PrivateAttr(default=None)
    _tags: PatternList | None = PrivateAttr(default=None)
    _digests: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator("namespace")
    @classmethod
    def _namespace_ok(cls, value: str | None) -> str | None:
        if value is not None and not NAMESPACE_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a Docker Hub namespace (lower-case letters, digits, '-', '_')"
            )
        return value

    @model_validator(mode="after")
    def _compile(self) -> ProtectList:
        self._repositories = PatternList(self.repositories) if self.repositories else None
        self._tags = PatternList(self.tags) if self.tags else None
        self._digests = frozenset(self.digests)
        return self

    def at(self, source: Path) -> ProtectList:
        """This list, naming ``source`` in its reasons."""
        copy = self.model_copy()
        copy._source = source
        return copy

    @property
    def source(self) -> Path:
        return self._source

    @property
    def rules(self) -> int:
        return len(self.repositories) + len(self.tags) + len(self.digests)

    def covers_repository(self, namespace: str, repository: str) -> str | None:
        """The reason every image of the repository is protected, or None."""
        if self.namespace is not None and namespace != self.namespace:
            return None
        if self._repositories is not None:
            index = self._repositories.first(repository)
            if index >= 0:
                rule = self.repositories[index].text
                return self._reason(f"repository '{repository}' matches '{rule}'")
        return None

    def why(
        self,
        namespace: str,
        repository: str,
        digest: str,
        tags: tuple[str, ...],
        children: tuple[str, ...] = (),
    ) -> str | None:
        """``protected by _protect.yaml: current tag 'latest' matches 'latest'`` when a rule
        covers the image (its repository, one of its current ``tags``, its digest or one of its
        platform manifests' digests), else None."""
        if self.namespace is not None and namespace != self.namespace:
            return None
        whole = self.covers_repository(namespace, repository)
        if whole is not None:
            return whole
        if self._tags is not None:
            for tag in tags:
                index = self._tags.first(tag)
                if index >= 0:
                    rule = self.tags[index].text
                    return self._reason(f"current tag '{tag}' matches '{rule}'")
        if self._digests:
            if digest in self._digests:
                return self._reason(f"digest {digest} is listed")
            for child in children:
                if child in self._digests:
                    return self._reason(f"its platform manifest {child} is listed")
        return None

    def _reason(self, rule: str) -> str:
        return f"protected by {self._source.name}: {rule}"
