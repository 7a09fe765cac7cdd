"""Hub API calls of the registry backend: deleting one tag, reading a repository's immutable tags.

``DELETE /v2/namespaces/{ns}/repositories/{repo}/tags/{tag}`` removes a tag (the image stays,
perhaps untagged, until its manifest is deleted through the registry). The newest spec lists this
path with GET and HEAD only; Hub answers DELETE there, and the older ``/v2/repositories/...``
path refuses tokens made from a personal access token. A tag that matches one of the
repository's immutable-tag rules cannot be deleted (403).

``GET /v2/namespaces/{ns}/repositories/{repo}`` carries ``immutable_tags_settings``
``{enabled, rules}``; each rule is a regular expression (the spec's examples: ``v.*``,
``.*-RELEASE``) that a whole tag must match. Enabled without rules means every tag is immutable,
and a rule janitor cannot compile protects every tag: the safe reading, since Hub itself would
refuse the delete.

Both calls go through the ``HubClient``'s own request path (``_call``: auth, pacing, retries,
the error tree), which is why this module lives in ``janitor.hub``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import re2

from janitor.hub.client import HubClient, _segment
from janitor.hub.errors import HubForbidden, HubProtocolError
from janitor.hub.parse import Fields

__all__ = ["ImmutableTags", "delete_tag", "immutable_tags"]

log = logging.getLogger("janitor.hub")


@dataclass(frozen=True, slots=True)
class ImmutableTags:
    """A repository's immutable-tag settings."""

    enabled: bool = False
    rules: tuple[str, ...] = ()

    def matches(self, tag: str) -> bool:
        """Whether ``tag`` is immutable (cannot be deleted)."""
        if not self.enabled:
            return False
        if not self.rules:
            return True
        for rule in self.rules:
            try:
                if re2.fullmatch(rule, tag) is not None:
                    return True
            except re2.error:
                log.warning(
                    "immutable-tag rule %r is not a regular expression janitor can read; "
                    "treating every tag as immutable",
                    rule,
                )
                return True
        return False


def _repo_path(namespace: str, repository: str) -> str:
    ns = _segment(namespace, "namespace")
    repo = _segment(repository, "repository")
    return f"/v2/namespaces/{ns}/repositories/{repo}"


def delete_tag(client: HubClient, namespace: str, repository: str, tag: str) -> bool:
    """Delete one tag; True when Hub deleted it, False when Hub no longer has it (404).

    Sent once: a 5xx or a connection lost after sending raises with ``maybe_applied=True``.
    """
    path = _repo_path(namespace, repository) + f"/tags/{_segment(tag, 'tag')}"
    answer = client._call(
        "DELETE", client._url(path), endpoint="tag-delete", mode="once", passthrough=(403, 404)
    )
    if answer.status == 403:
        raise HubForbidden(
            f"Docker Hub refused to delete tag {namespace}/{repository}:{tag} (403)",
            status=403,
            message=client._message_of(answer.body),
            method="DELETE",
            url=answer.url,
            hint="the tag may be immutable, or the user may not delete in this namespace",
        )
    return answer.status != 404


def immutable_tags(client: HubClient, namespace: str, repository: str) -> ImmutableTags:
    """The repository's ``immutable_tags_settings`` (disabled when Hub sends none)."""
    path = _repo_path(namespace, repository)
    answer = client._call("GET", client._url(path), endpoint="repository")
    where = f"the repository {namespace}/{repository}"
    settings = Fields(answer.body, where).mapping("immutable_tags_settings")
    if settings is None:
        return ImmutableTags()
    f = Fields(settings, f"the immutable tags settings of {namespace}/{repository}")
    rules = f.array("rules")
    if not all(isinstance(rule, str) for rule in rules):
        raise HubProtocolError(f"Docker Hub sent an immutable-tag rule of {where} that is not text")
    return ImmutableTags(enabled=bool(f.flag("enabled")), rules=tuple(rules))
