"""Hub API calls of the registry backend: deleting one tag, reading a repository's immutable tags.

A tag DELETE removes a tag (the image stays, perhaps untagged, until its manifest is deleted
through the registry). Hub has two paths for it (see ``delete_tag``): the newest spec's
``/v2/namespaces/...`` path, which it lists with GET and HEAD only, and hub-tool's older
``/v2/repositories/.../tags/{tag}/``, which refuses tokens made from a personal access token
for some accounts (``../shared/reference/003_*``). A tag that matches one of the repository's
immutable-tag rules cannot be deleted (403).

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
import threading
from dataclasses import dataclass
from typing import Literal

import re2

from janitor.hub.client import HubClient, _segment
from janitor.hub.errors import HubError, HubForbidden, HubProtocolError
from janitor.hub.parse import Fields

__all__ = ["ImmutableTags", "delete_tag", "forget_tag_delete_paths", "immutable_tags"]

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


TagDeletePath = Literal["namespaces", "repositories"]
_PATHS: tuple[TagDeletePath, TagDeletePath] = ("namespaces", "repositories")
_working: dict[str, TagDeletePath] = {}  # per Hub URL: the tag DELETE path Hub answered
_working_lock = threading.Lock()

PAT_REFUSED_HINT = (
    "the older /v2/repositories/... path refuses tokens made from a personal access token for "
    "some accounts ('token issued from personal access token is not allowed'); Hub serves no "
    "other tag DELETE to this account, so delete the tag in Hub's web UI or log in with a "
    "password"
)


def forget_tag_delete_paths() -> None:
    """Forget which tag DELETE path each Hub answered (tests)."""
    with _working_lock:
        _working.clear()


def _tag_url(client: HubClient, path: TagDeletePath, ns: str, repo: str, tag: str) -> str:
    if path == "namespaces":
        return client._url(f"/v2/namespaces/{ns}/repositories/{repo}/tags/{tag}")
    return client._url(f"/v2/repositories/{ns}/{repo}/tags/{tag}/")


def delete_tag(
    client: HubClient, namespace: str, repository: str, tag: str, *, confirmed: bool = False
) -> bool:
    """Delete one tag; True when Hub deleted it, False when Hub no longer has it (404).

    Hub has two tag DELETEs: ``/v2/namespaces/{ns}/repositories/{repo}/tags/{tag}`` (the newest
    spec lists only GET and HEAD there) and ``/v2/repositories/{ns}/{repo}/tags/{tag}/``
    (Docker's hub-tool; Docker staff in docker/hub-feedback#1759). The first is tried first;
    when it answers 405, or 404 for a tag the caller just ``confirmed`` exists, the other is
    tried once, and the one that works is remembered for the process. Sent once per path: a 5xx
    or a connection lost after sending raises with ``maybe_applied=True``.
    """
    parts = (
        _segment(namespace, "namespace"),
        _segment(repository, "repository"),
        _segment(tag, "tag"),
    )
    with _working_lock:
        known = _working.get(client.base_url)
    order = (known,) if known is not None else _PATHS
    first_status: int | None = None
    for path in order:
        answer = client._call(
            "DELETE",
            _tag_url(client, path, *parts),
            endpoint="tag-delete" if path == "namespaces" else "tag-delete-legacy",
            mode="once",
            passthrough=(403, 404, 405),
        )
        if answer.status == 403:
            raise HubForbidden(
                f"Docker Hub refused to delete tag {namespace}/{repository}:{tag} (403)",
                status=403,
                message=client._message_of(answer.body),
                method="DELETE",
                url=answer.url,
                hint=(
                    PAT_REFUSED_HINT
                    if path == "repositories"
                    else "the tag may be immutable, or the user may not delete in this namespace"
                ),
            )
        if answer.status < 300 or (answer.status == 404 and first_status == 405):
            _remember(client.base_url, path)
        if answer.status < 300:
            return True
        if answer.status == 404 and not (confirmed and first_status is None and known is None):
            return False
        if first_status == 404 and answer.status == 405:
            _remember(client.base_url, _PATHS[0])  # the first path is Hub's: the tag is gone
            return False
        first_status = answer.status
    raise HubError(
        f"Docker Hub answers no tag DELETE for {namespace}/{repository}:{tag} (405 on "
        + " and ".join(p for p in order)
        + " paths)",
        status=405,
        method="DELETE",
        hint="Hub may have moved its tag DELETE again; delete the tag in Hub's web UI",
    )


def _remember(base_url: str, path: TagDeletePath) -> None:
    with _working_lock:
        if _working.get(base_url) != path:
            log.info("Docker Hub at %s deletes tags through its %s path", base_url, path)
        _working[base_url] = path


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
