"""A client of Docker Hub's registry API (``registry-1.docker.io``): tokens, manifests, DELETE.

Where Hub's ``delete-images`` is gone, a manifest is deleted with the OCI registry endpoint
``DELETE /v2/{name}/manifests/{digest}`` (``registry-openapi.yaml``). This client does the three
things janitor needs from that API:

* **Tokens** (``registry-auth.md``, ``registry-token.md``). ``GET /v2/`` without credentials
  answers 401 with ``WWW-Authenticate: Bearer realm="...",service="..."``; the realm is the token
  service (never a hard-coded host). For each repository janitor asks the realm once for
  ``scope=repository:NS/REPO:pull,push,delete`` with Basic auth (username + personal access
  token) and caches the token until shortly before ``expires_in`` (60 s when absent). The token
  service grants the *intersection* of the actions asked for and those the account holds, and a
  subset is no error: the token's ``access`` claim says what was granted, ``granted()`` reads it
  and ``require_delete()`` turns a missing ``delete`` into a clear error before anything is sent.
  Credentials go to the realm only over https (plain http only on loopback, for tests), and
  only on the registry's own host, on ``auth.docker.io`` for Docker's registry, or on a host
  ``JANITOR_REGISTRY_AUTH_HOSTS`` allows: a challenge naming any other host is refused before a
  credential leaves. ``authorize(names)`` asks for several repositories in one request.
* **Manifests**: ``HEAD``/``GET /v2/{name}/manifests/{reference}`` (a tag or a digest) with an
  ``Accept`` header naming the four manifest and index media types Hub serves, so an index is
  returned as an index; ``Docker-Content-Digest`` is the digest.
* **Deletion**: ``DELETE /v2/{name}/manifests/{digest}``: 202 deleted, 404 gone, 403 still
  referenced by a tag or an index, 405 not a digest. A DELETE is sent once: a 5xx or a dropped
  connection after sending raises with ``maybe_applied=True`` (the spec says a 500 is retried by
  the registry in the background), never a second DELETE.

Every request goes through the ``Transport`` the Hub client uses too (``transport.py``): pacing,
429 waits, retries of reads, the "may have been applied" rule for the DELETE, TLS errors final,
redaction of the PAT and every token, call counting and the error tree, in one place.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Unpack
from urllib.parse import quote

import httpx

from janitor.hub.auth import Credentials, jwt_claims, login_hint
from janitor.hub.errors import HubAuthError, HubError, HubForbidden, HubProtocolError, safe_url
from janitor.hub.transport import Answer, Endpoints, Options, Transport, check_base_url, loopback

__all__ = [
    "DEFAULT_REGISTRY_URL",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_ACCEPT",
    "Challenge",
    "Manifest",
    "ManifestInfo",
    "RegistryClient",
    "parse_challenge",
    "repository_name",
]

log = logging.getLogger("janitor.hub.registry")

DEFAULT_REGISTRY_URL = "https://registry-1.docker.io"
INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
DOCKER_REGISTRY_HOSTS = frozenset({"registry-1.docker.io", "registry.docker.io"})
DOCKER_AUTH_HOST = "auth.docker.io"  # Docker's token service, named by its registry's challenge
SCOPE_ACTIONS = "pull,push,delete"
SCOPES_PER_REQUEST = 25  # repositories per token request (keeps the URL short)
DEFAULT_TOKEN_LIFETIME = 60.0  # registry-token.md: expires_in defaults to 60 seconds
RELOGIN_GRACE = 10.0  # a token younger than this refused with 401 is not renewed

_NAME_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CHALLENGE_PARAM = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))'
)

Mode = Literal["read", "once"]


def _hint(status: int, endpoint: str) -> str | None:
    if status == 404:
        return "check JANITOR_REGISTRY_URL and the names"
    if status >= 500:
        return "the registry had a server error; try again later"
    return None


DeleteAnswer = Literal["deleted", "not_found", "referenced"]


def repository_name(namespace: str, repository: str) -> str:
    """``namespace/repository``, each part checked against the registry's name grammar."""
    for part, what in ((namespace, "namespace"), (repository, "repository")):
        if not isinstance(part, str) or not _NAME_PART.match(part):
            raise ValueError(f"invalid {what} for the registry: {part!r}")
    return f"{namespace}/{repository}"


def _host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _check_name(name: str) -> None:
    parts = name.split("/")
    if len(parts) != 2:
        raise ValueError(f"a registry name is namespace/repository, not {name!r}")
    repository_name(*parts)


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``WWW-Authenticate: Bearer ...`` challenge."""

    realm: str
    service: str | None = None
    scope: str | None = None
    error: str | None = None


def parse_challenge(header: str | None) -> Challenge | None:
    """The Bearer challenge of a 401 (RFC 6750 section 3), None when there is none."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _CHALLENGE_PARAM.match(rest, position)
        if match is None:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else (bare or "")
        params[match.group(1).lower()] = value
        position = match.end()
        while position < len(rest) and rest[position] in ", ":
            position += 1
    realm = params.get("realm")
    if not realm:
        return None
    return Challenge(
        realm=realm,
        service=params.get("service"),
        scope=params.get("scope"),
        error=params.get("error"),
    )


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    """What ``HEAD /v2/{name}/manifests/{reference}`` tells."""

    digest: str
    media_type: str | None
    size: int | None

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES


@dataclass(frozen=True, slots=True)
class Manifest:
    """A fetched manifest: for an index, the digests of the manifests it lists."""

    digest: str
    media_type: str | None
    children: tuple[str, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES


@dataclass(frozen=True, slots=True, repr=False)
class _Token:
    value: str
    obtained_at: float
    renew_at: float
    granted: frozenset[str] | None  # None: the token does not say (not a JWT with ``access``)

    def __repr__(self) -> str:
        return f"_Token(granted={self.granted!r}, renew_at={self.renew_at!r})"


def _granted_actions(token: str, name: str) -> frozenset[str] | None:
    """The actions a Docker-style JWT grants on repository ``name``; None when unreadable."""
    claims = jwt_claims(token)
    access = claims.get("access") if isinstance(claims, dict) else None
    if not isinstance(access, list):
        return None
    actions: set[str] = set()
    for entry in access:
        if (
            isinstance(entry, dict)
            and entry.get("type") == "repository"
            and entry.get("name") == name
            and isinstance(entry.get("actions"), list)
        ):
            actions.update(a for a in entry["actions"] if isinstance(a, str))
    return frozenset(actions)


class RegistryClient(Endpoints):
    """A registry API client; thread safe. Its HTTP connections open on first use and close
    with ``close()`` (they reopen when used again); its tokens outlive ``close()``."""

    def __init__(
        self,
        base_url: str = DEFAULT_REGISTRY_URL,
        credentials: Credentials | None = None,
        *,
        auth_hosts: Collection[str] = (),
        **options: Unpack[Options],
    ) -> None:
        url = check_base_url(base_url, "registry")
        if url.scheme == "http" and credentials is not None and not loopback(url.host):
            raise ValueError(
                f"the registry URL {safe_url(base_url)!r} is plain http: janitor sends registry "
                "credentials and tokens over https only"
            )
        self._base = str(url.copy_with(path=url.path.rstrip("/") or "/")).rstrip("/")
        self._credentials = credentials
        self._auth_hosts = frozenset(_host(h) for h in auth_hosts if h.strip())
        self._transport = Transport(service="the registry", hint=_hint, **options)
        self._clock = self._transport.clock
        self._token_lock = threading.Lock()  # one token request at a time
        self._challenge: Challenge | None = None
        self._anonymous = False  # the registry answered /v2/ without asking for a token
        self._tokens: dict[str, _Token] = {}
        self._groups: dict[str, tuple[str, ...]] = {}  # the names asked for with each name
        self._auth_failure: HubAuthError | None = None
        if credentials is not None:
            self._transport.add_credentials(credentials.username, credentials.secret)

    def __repr__(self) -> str:
        user = self._credentials.username if self._credentials else None
        return f"RegistryClient(base_url={self._base!r}, user={user!r})"

    @property
    def base_url(self) -> str:
        return self._base

    # -- the public calls ------------------------------------------------------------------

    def granted(self, name: str) -> frozenset[str] | None:
        """The actions the token for repository ``name`` grants (None when it does not say)."""
        token = self._token(name)
        if token is None:
            return frozenset(SCOPE_ACTIONS.split(","))  # a registry that asks for no token
        return token.granted

    def require_delete(self, name: str) -> None:
        """Refuse early, with a clear error, when the token for ``name`` lacks ``delete``."""
        granted = self.granted(name)
        if granted is not None and "delete" not in granted:
            raise self._lacking_delete(name, granted)

    def head_manifest(self, name: str, reference: str) -> ManifestInfo | None:
        """``HEAD /v2/{name}/manifests/{reference}``; None when the registry answers 404."""
        response = self._send("HEAD", name, reference, endpoint="manifest-head", passthrough=(404,))
        if response.status == 404:
            return None
        return ManifestInfo(
            digest=self._digest_header(response, name, reference),
            media_type=_media_type(response),
            size=_int_header(response, "content-length"),
        )

    def get_manifest(self, name: str, reference: str) -> Manifest | None:
        """``GET /v2/{name}/manifests/{reference}``; None when the registry answers 404."""
        response = self._send(
            "GET", name, reference, endpoint="manifest-get", passthrough=(404,), parse_json=True
        )
        if response.status == 404:
            return None
        digest = self._digest_header(response, name, reference)
        body = response.body
        media_type = _media_type(response)
        if media_type is None and isinstance(body, dict):
            declared = body.get("mediaType")
            media_type = declared if isinstance(declared, str) else None
        children: tuple[str, ...] = ()
        listed = body.get("manifests") if isinstance(body, dict) else None
        if isinstance(listed, list):
            children = tuple(
                entry["digest"]
                for entry in listed
                if isinstance(entry, dict) and isinstance(entry.get("digest"), str)
            )
            if media_type is None:
                media_type = "application/vnd.oci.image.index.v1+json"
        return Manifest(digest=digest, media_type=media_type, children=children)

    def delete_manifest(self, name: str, digest: str) -> DeleteAnswer:
        """``DELETE /v2/{name}/manifests/{digest}``, sent once.

        ``deleted`` (202), ``not_found`` (404) or ``referenced`` (403 from a token that has
        ``delete``: a tag or an index still references it). A token without ``delete`` raises
        ``HubForbidden``; a 5xx or a connection lost after sending raises with
        ``maybe_applied=True``.
        """
        if not _DIGEST.match(digest):
            raise ValueError(f"the registry deletes manifests by digest only, not {digest!r}")
        self.require_delete(name)
        response = self._send(
            "DELETE",
            name,
            digest,
            endpoint="manifest-delete",
            mode="once",
            passthrough=(403, 404, 405),
            action="delete",
        )
        status = response.status
        if status == 404:
            return "not_found"
        if status == 403:
            granted = self.granted(name)
            if granted is None or "delete" in granted:
                return "referenced"
            raise self._lacking_delete(name, granted)
        if status == 405:
            raise HubError(
                f"the registry refused DELETE of {name}@{digest} (405): {self._message(response)}",
                status=405,
                method="DELETE",
                url=response.url,
                hint="the registry deletes manifests by digest only",
            )
        return "deleted"

    # -- tokens ----------------------------------------------------------------------------

    def _lacking_delete(self, name: str, granted: frozenset[str]) -> HubForbidden:
        user = self._credentials.username if self._credentials else "anonymous"
        shown = ",".join(sorted(granted)) or "nothing"
        return HubForbidden(
            f"the registry's token service granted {user!r} only {shown} on {name}, not delete",
            status=403,
            method="GET",
            url=self._challenge.realm if self._challenge else None,
            hint="deleting through the registry needs a personal access token with the "
            "'Read, Write, Delete' scope, of a user who may delete in this namespace",
        )

    def _ping(self) -> Challenge | None:
        """``GET /v2/`` without credentials: the challenge names the token service."""
        if self._challenge is not None or self._anonymous:
            return self._challenge
        response = self._request(
            "GET",
            f"{self._base}/v2/",
            endpoint="registry-ping",
            mode="read",
            passthrough=(401,),
            bearer=None,
        )
        if response.status != 401:
            self._anonymous = True
            log.info("the registry at %s asks for no token", self._base)
            return None
        challenge = parse_challenge(response.headers.get("www-authenticate"))
        if challenge is None:
            raise HubProtocolError(
                "the registry answered 401 without a Bearer challenge naming its token service",
                status=401,
                method="GET",
                url=response.url,
            )
        realm = httpx.URL(challenge.realm)
        if realm.scheme not in ("http", "https") or not realm.host:
            raise HubProtocolError(
                "the registry's challenge names a token service that is not an http(s) URL",
                method="GET",
                url=response.url,
            )
        if realm.scheme == "http" and not loopback(realm.host):
            raise HubProtocolError(
                f"the registry names a token service over plain http ({safe_url(realm)}); "
                "janitor sends credentials over https only",
                method="GET",
                url=response.url,
            )
        if not self._may_authenticate_at(realm.host):
            raise HubAuthError(
                f"the registry at {httpx.URL(self._base).host} names a token service on "
                f"{_host(realm.host)}, which is neither the registry's own host nor allowed by "
                "JANITOR_REGISTRY_AUTH_HOSTS: janitor sends no credentials there",
                method="GET",
                url=response.url,
                hint="if that host is the registry's real token service, add it to "
                "JANITOR_REGISTRY_AUTH_HOSTS",
            )
        self._challenge = challenge
        return challenge

    def _may_authenticate_at(self, host: str) -> bool:
        """Credentials go only to the registry's own host, to Docker's token service when the
        registry is Docker's, or to a host the configuration allows."""
        own = _host(httpx.URL(self._base).host)
        realm = _host(host)
        if realm == own or realm in self._auth_hosts:
            return True
        return own in DOCKER_REGISTRY_HOSTS and realm == DOCKER_AUTH_HOST

    def authorize(self, names: Sequence[str]) -> None:
        """Ask the token service once for every repository in ``names`` that has no valid
        token yet (one ``scope`` parameter each, as ``registry-token.md`` allows), so a run
        sends the PAT as few times as possible. Later renewals ask for the same group again."""
        wanted: list[str] = []
        for name in names:
            _check_name(name)
            if name not in wanted:
                wanted.append(name)
        with self._token_lock:
            missing = [n for n in wanted if not self._valid(n)]
            for start in range(0, len(missing), SCOPES_PER_REQUEST):
                group = tuple(missing[start : start + SCOPES_PER_REQUEST])
                for name in group:
                    self._groups[name] = group
                if not self._fetch_group(group):
                    return  # a registry that asks for no token

    def _valid(self, name: str) -> bool:
        cached = self._tokens.get(name)
        return cached is not None and self._clock() < cached.renew_at

    def _token(self, name: str) -> _Token | None:
        with self._token_lock:
            if not self._valid(name):
                self._fetch_group(self._groups.get(name, (name,)))
            return self._tokens.get(name)

    def _fetch_group(self, names: tuple[str, ...]) -> bool:
        """One token for ``names`` (under the token lock); False when none is needed."""
        if self._auth_failure is not None:
            raise self._auth_failure.with_traceback(None)
        challenge = self._ping()
        if challenge is None:
            return False
        for name, token in self._fetch_token(challenge, names).items():
            self._tokens[name] = token
        return True

    def _fetch_token(self, challenge: Challenge, names: tuple[str, ...]) -> dict[str, _Token]:
        params: dict[str, str | list[str]] = {
            "scope": [f"repository:{name}:{SCOPE_ACTIONS}" for name in names]
        }
        if challenge.service:
            params["service"] = challenge.service
        auth = None
        if self._credentials is not None:
            auth = httpx.BasicAuth(self._credentials.username, self._credentials.secret)
        response = self._request(
            "GET",
            challenge.realm,
            endpoint="registry-token",
            mode="read",
            params=params,
            passthrough=(400, 401, 403),
            bearer=None,
            basic=auth,
            parse_json=True,
            issues_secret=True,
        )
        user = self._credentials.username if self._credentials else "anonymous"
        if response.status != 200:
            error = HubAuthError(
                f"the registry's token service refused user {user!r} "
                f"({response.status}): {self._message(response)}",
                status=response.status,
                method="GET",
                url=challenge.realm,
                hint=login_hint(self._credentials) if self._credentials else None,
            )
            if response.status == 401:
                self._auth_failure = error  # never send refused credentials again
            raise error
        body = response.body
        value = None
        if isinstance(body, dict):
            value = next(
                (body[k] for k in ("token", "access_token") if isinstance(body.get(k), str)),
                None,
            )
        if not value:
            raise HubProtocolError(
                "the registry's token service answered without a 'token'",
                method="GET",
                url=challenge.realm,
            )
        self._transport.add_secret(value)
        lifetime = DEFAULT_TOKEN_LIFETIME
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            lifetime = float(expires_in) if expires_in > 0 else DEFAULT_TOKEN_LIFETIME
        now = self._clock()
        tokens: dict[str, _Token] = {}
        for name in names:
            granted = _granted_actions(value, name)
            log.debug(
                "registry token for %s: %s, valid %.0f s",
                name,
                ",".join(sorted(granted)) if granted is not None else "grant not stated",
                lifetime,
            )
            tokens[name] = _Token(
                value=value,
                obtained_at=now,
                renew_at=now + lifetime - min(10.0, lifetime / 5),
                granted=granted,
            )
        return tokens

    # -- sending ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        name: str,
        reference: str,
        *,
        endpoint: str,
        mode: Mode = "read",
        passthrough: Collection[int] = (),
        action: str = "pull",
        parse_json: bool = False,
    ) -> Answer:
        """A manifest request with the repository's token; renews the token once on a 401."""
        if not (_DIGEST.match(reference) or _TAG.match(reference)):
            raise ValueError(f"not a tag or digest: {reference!r}")
        _check_name(name)
        url = f"{self._base}/v2/{name}/manifests/{quote(reference, safe=':')}"
        renewed = False
        while True:
            token = self._token(name)
            response = self._request(
                method,
                url,
                endpoint=endpoint,
                mode=mode,
                passthrough=(*passthrough, 401),
                bearer=token.value if token else None,
                accept=MANIFEST_ACCEPT if method != "DELETE" else None,
                parse_json=parse_json,
            )
            if response.status != 401:
                return response
            challenge = parse_challenge(response.headers.get("www-authenticate"))
            if challenge is not None and challenge.error == "insufficient_scope":
                if action == "delete":
                    granted = token.granted if token is not None else None
                    raise self._lacking_delete(name, granted or frozenset())
                raise HubForbidden(
                    f"the registry's token does not allow {action} on {name}",
                    status=401,
                    method=method,
                    url=url,
                    hint="check that the user may read this repository",
                )
            fresh = token is not None and self._clock() - token.obtained_at < RELOGIN_GRACE
            if renewed or token is None or fresh:
                raise HubAuthError(
                    f"the registry refused {method} {name}@{reference} (401): "
                    f"{self._message(response)}",
                    status=401,
                    method=method,
                    url=url,
                )
            with self._token_lock:  # every repository that shared the refused token renews
                for shared in [n for n, t in self._tokens.items() if t.value == token.value]:
                    del self._tokens[shared]
            renewed = True

    def _request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        mode: Mode,
        passthrough: Collection[int] = (),
        params: dict[str, str | list[str]] | None = None,
        bearer: str | None,
        basic: httpx.BasicAuth | None = None,
        accept: str | None = None,
        parse_json: bool = False,
        issues_secret: bool = False,
    ) -> Answer:
        """One logical request through the transport, with the registry's headers."""
        headers: dict[str, str] = {}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if accept is not None:
            headers["Accept"] = accept
        return self._transport.request(
            method,
            url,
            endpoint=endpoint,
            mode=mode,
            params=params,
            headers=headers,
            auth=basic,
            passthrough=passthrough,
            parse_json=parse_json,
            issues_secret=issues_secret,
        )

    def _message(self, answer: Answer) -> str:
        """The registry's own words (``errors[].code: message``, or a token service's
        ``details``), redacted, one line."""
        return self._transport.message(answer.content) or f"HTTP {answer.status}"

    def _digest_header(self, response: Answer, name: str, reference: str) -> str:
        digest = response.headers.get("docker-content-digest")
        if digest is None and _DIGEST.match(reference):
            return reference
        if digest is None or not _DIGEST.match(digest):
            raise HubProtocolError(
                f"the registry's answer for {name}:{reference} has no Docker-Content-Digest",
                method=response.method,
                url=response.url,
            )
        return digest


def _media_type(response: Answer) -> str | None:
    value = response.headers.get("content-type")
    if not value:
        return None
    return value.split(";")[0].strip() or None


def _int_header(response: Answer, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
