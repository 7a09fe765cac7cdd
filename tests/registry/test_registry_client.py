"""RegistryClient: the token flow against the emulator over HTTP (challenge -> realm -> token,
scope, a grant without ``delete``, renewal), manifests, DELETE answers, retries; and, through an
httpx.MockTransport, the hostile answers the emulator never gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.hub.auth import Credentials
from janitor.hub.errors import HubAuthError, HubForbidden, HubProtocolError, HubServerError
from janitor.hub.registry import RegistryClient, parse_challenge, repository_name

from .conftest import (
    B1,
    BOB,
    BOB_TOKEN,
    DOCUMENTED,
    IDX,
    IDX_AMD64,
    IDX_ARM64,
    TOKEN,
    UNTAGGED,
    USER,
    digest,
    registry_client,
    seed,
    serve,
    top_level,
)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The emulator as Hub's documents describe it: these tests are about those rules (the
    strict, live-Hub behaviour is tested in ``test_safety`` and ``tests/emulator``)."""
    with serve(load_seed(seed()), DOCUMENTED()) as emu:
        yield emu


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


def count(emu: RunningEmulator, method: str, path_regex: str) -> int:
    return emu.log.count(method, path_regex)


def test_one_challenge_and_one_token_per_repository(emulator: RunningEmulator) -> None:
    with registry_client(emulator) as client:
        assert client.head_manifest("acme/web", "build-1").digest == B1
        assert client.head_manifest("acme/web", B1).media_type is not None
        assert client.head_manifest("acme/api", "pr-9") is not None
        assert client.granted("acme/web") == frozenset({"pull", "push", "delete"})
    assert count(emulator, "GET", r"^/registry/v2/$") == 1
    assert count(emulator, "GET", r"^/registry/token$") == 2
    scopes = sorted(e.query["scope"] for e in emulator.log.entries() if e.path.endswith("/token"))
    assert scopes == [
        "repository:acme/api:pull,push,delete",
        "repository:acme/web:pull,push,delete",
    ]
    assert client.stats.by_endpoint["manifest-head"] == 3


def test_index_manifest_lists_its_children(emulator: RunningEmulator) -> None:
    with registry_client(emulator) as client:
        head = client.head_manifest("acme/web", "build-0")
        assert head is not None and head.is_index and head.digest == IDX
        manifest = client.get_manifest("acme/web", IDX)
        assert manifest is not None and manifest.children == (IDX_AMD64, IDX_ARM64)
        assert client.get_manifest("acme/web", digest(999)) is None
        assert client.head_manifest("acme/web", "no-such-tag") is None


def test_a_grant_without_delete_is_a_clear_error_before_any_delete(
    emulator: RunningEmulator,
) -> None:
    with registry_client(emulator, BOB, BOB_TOKEN) as client:
        assert client.granted("acme/web") == frozenset({"pull"})
        with pytest.raises(HubForbidden) as caught:
            client.delete_manifest("acme/web", UNTAGGED)
    text = str(caught.value)
    assert "granted 'bob' only pull on acme/web, not delete" in text
    assert "Read, Write, Delete" in text
    assert BOB_TOKEN not in text and BOB_TOKEN not in repr(caught.value)
    assert count(emulator, "DELETE", "") == 0
    assert UNTAGGED in top_level(emulator, "web")


def test_delete_answers(emulator: RunningEmulator) -> None:
    with registry_client(emulator) as client:
        assert client.delete_manifest("acme/web", B1) == "referenced"  # still tagged
        assert client.delete_manifest("acme/web", IDX_AMD64) == "referenced"  # in an index
        assert client.delete_manifest("acme/web", digest(999)) == "not_found"
        assert client.delete_manifest("acme/web", UNTAGGED) == "deleted"
        with pytest.raises(ValueError, match="by digest only"):
            client.delete_manifest("acme/web", "build-1")
    assert UNTAGGED not in top_level(emulator, "web")
    assert count(emulator, "DELETE", "") == 4


def test_a_failed_delete_is_never_repeated(emulator: RunningEmulator) -> None:
    emulator.faults.add(Fault("status", method="DELETE", path="/manifests/", status=500))
    with registry_client(emulator) as client, pytest.raises(HubServerError) as caught:
        client.delete_manifest("acme/web", UNTAGGED)
    assert caught.value.maybe_applied
    assert count(emulator, "DELETE", "") == 1
    assert UNTAGGED in top_level(emulator, "web")  # the fault answered before the handler


def test_reads_are_retried_and_429_waited_out(emulator: RunningEmulator) -> None:
    emulator.faults.add(Fault("status", method="HEAD", path="/manifests/", status=503))
    emulator.faults.add(Fault("rate_limit", method="HEAD", path="/manifests/"))
    clock = FakeClock()
    with registry_client(emulator, clock=clock, sleep=clock.sleep) as client:
        assert client.head_manifest("acme/web", "build-1") is not None
        assert client.stats.retries == 2
    assert count(emulator, "HEAD", "/manifests/") == 3
    assert clock.sleeps  # waited (on the fake clock) instead of hammering


def test_wrong_credentials_are_refused_once_and_never_sent_again(
    emulator: RunningEmulator,
) -> None:
    with registry_client(emulator, USER, "dckr_pat_wrong_secret") as client:
        for _ in range(2):
            with pytest.raises(HubAuthError) as caught:
                client.head_manifest("acme/web", "build-1")
            assert "dckr_pat_wrong_secret" not in str(caught.value)
    assert count(emulator, "GET", r"/registry/token$") == 1
    assert "dckr_pat_wrong_secret" not in repr(client)


def test_tokens_are_renewed_before_expiry_and_once_after_a_401() -> None:
    server_clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    config = EmulatorConfig(clock=server_clock, registry_token_ttl=60)
    with serve(load_seed(seed(), now=server_clock()), config) as emu:
        clock = FakeClock()
        with registry_client(emu, clock=clock, sleep=clock.sleep) as client:
            client.head_manifest("acme/web", "build-1")
            clock.now += 55  # past renew_at (60 s less a margin): a new token first
            server_clock.advance(55)
            client.head_manifest("acme/web", "build-1")
            assert count(emu, "GET", r"/registry/token$") == 2
            clock.now += 20  # the client thinks its token is good; the server has expired it
            server_clock.advance(61)
            assert client.head_manifest("acme/web", "build-1") is not None
        assert count(emu, "GET", r"/registry/token$") == 3
        statuses = [e.status for e in emu.log.entries() if e.method == "HEAD"]
        assert statuses == [200, 200, 401, 200]


# -- what the emulator never answers --------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]
CHALLENGE = 'Bearer realm="https://auth.example.test/token",service="registry.example.test"'
SAME_HOST_CHALLENGE = (
    'Bearer realm="https://registry.example.test/token",service="registry.example.test"'
)


def mock_client(handler: Handler, secret: str = TOKEN, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("auth_hosts", ("auth.example.test",))
    return RegistryClient(
        "https://registry.example.test",
        Credentials(USER, secret),
        transport=httpx.MockTransport(handler),
        max_retries=0,
        **kwargs,
    )


def test_credentials_never_go_to_a_plain_http_realm() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="http://evil.example/token"'}
        )

    with mock_client(handler) as client, pytest.raises(HubProtocolError, match="plain http"):
        client.head_manifest("acme/web", "latest")
    assert len(sent) == 1 and "authorization" not in sent[0].headers


def test_a_401_without_a_challenge_and_a_token_answer_without_token() -> None:
    with (
        mock_client(lambda r: httpx.Response(401)) as client,
        pytest.raises(HubProtocolError, match="without a Bearer challenge"),
    ):
        client.head_manifest("acme/web", "latest")

    def no_token(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.test":
            return httpx.Response(200, json={"expires_in": 300})
        return httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE})

    with mock_client(no_token) as client, pytest.raises(HubProtocolError, match="'token'"):
        client.head_manifest("acme/web", "latest")


def test_an_opaque_token_and_the_registry_s_insufficient_scope() -> None:
    """A token that is no JWT says nothing of its grant: the DELETE's own 401 tells."""
    secret = "dckr_pat_opaque_case_123"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.test":
            assert request.headers["authorization"].startswith("Basic ")
            return httpx.Response(200, json={"token": "opaque-token-value"})
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE})
        return httpx.Response(
            401,
            headers={"WWW-Authenticate": CHALLENGE + ',error="insufficient_scope"'},
            json={"errors": [{"code": "DENIED", "message": f"echo {secret} opaque-token-value"}]},
        )

    with mock_client(handler, secret) as client:
        assert client.granted("acme/web") is None
        with pytest.raises(HubForbidden, match="not delete") as caught:
            client.delete_manifest("acme/web", digest(1))
    assert secret not in str(caught.value)


def test_registry_texts_are_redacted() -> None:
    secret = "dckr_pat_echoed_secret_42"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.test":
            return httpx.Response(401, json={"details": f"bad password {secret}"})
        return httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE})

    with mock_client(handler, secret) as client, pytest.raises(HubAuthError) as caught:
        client.head_manifest("acme/web", "latest")
    assert secret not in str(caught.value) and "<redacted>" in str(caught.value)


def test_plain_http_registry_with_credentials_is_refused_unless_loopback() -> None:
    with pytest.raises(ValueError, match="https only"):
        RegistryClient("http://registry.example.test", Credentials(USER, TOKEN))
    RegistryClient("http://127.0.0.1:5000", Credentials(USER, TOKEN)).close()


def test_parse_challenge() -> None:
    parsed = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:a/b:pull,push",error="insufficient_scope"'
    )
    assert parsed is not None
    assert parsed.realm == "https://auth.docker.io/token"
    assert parsed.scope == "repository:a/b:pull,push"
    assert parsed.error == "insufficient_scope"
    assert parse_challenge('bearer realm="https://x/t", service=svc').service == "svc"
    assert parse_challenge('Bearer realm="https://x/\\"q\\"/t"').realm == 'https://x/"q"/t'
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge("Bearer service=x") is None
    assert parse_challenge(None) is None


def test_repository_names_are_checked() -> None:
    assert repository_name("acme", "web-app_1.x") == "acme/web-app_1.x"
    for bad in ("../x", "a/b", "UPPER", ""):
        with pytest.raises(ValueError):
            repository_name("acme", bad)


def test_one_token_request_for_every_repository_a_run_touches() -> None:
    """``authorize`` asks the token service once, with one ``scope`` per repository, so the PAT
    is sent once per run (issue 13.6); the token is reused until near its expiry and then the
    same group is asked for again, once."""
    server_clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    config = EmulatorConfig(clock=server_clock, registry_token_ttl=300)
    with serve(load_seed(seed(), now=server_clock()), config) as emu:
        clock = FakeClock()
        with registry_client(emu, clock=clock, sleep=clock.sleep) as client:
            client.authorize(["acme/web", "acme/api", "acme/web"])
            assert count(emu, "GET", r"/registry/token$") == 1
            # the one token grants both (the emulator's JWT names each repository asked for)
            assert client.granted("acme/web") == frozenset({"pull", "push", "delete"})
            assert client.head_manifest("acme/web", "build-1") is not None
            assert client.head_manifest("acme/api", "pr-9") is not None
            assert client.granted("acme/api") == frozenset({"pull", "push", "delete"})
            client.authorize(["acme/web"])  # still valid: nothing asked
            assert count(emu, "GET", r"/registry/token$") == 1
            clock.now += 295
            server_clock.advance(295)
            assert client.head_manifest("acme/api", "pr-9") is not None
            assert client.head_manifest("acme/web", "build-1") is not None
        assert count(emu, "GET", r"/registry/token$") == 2
        statuses = [e.status for e in emu.log.entries() if e.method == "HEAD"]
        assert statuses == [200, 200, 200, 200]


def test_authorize_repeats_the_scope_parameter() -> None:
    asked: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            asked.append(request.url.params.get_list("scope"))
            return httpx.Response(200, json={"token": "opaque-group-token"})
        return httpx.Response(401, headers={"WWW-Authenticate": SAME_HOST_CHALLENGE})

    with mock_client(handler) as client:
        client.authorize(["acme/web", "acme/api"])
    assert asked == [
        ["repository:acme/web:pull,push,delete", "repository:acme/api:pull,push,delete"]
    ]


@pytest.mark.parametrize(
    ("registry", "realm", "allowed", "accepted"),
    [
        ("https://registry.example.test", "https://evil.example/token", (), False),
        ("https://registry.example.test", "https://auth.example.test/token", (), False),
        (
            "https://registry.example.test",
            "https://AUTH.example.test./token",
            ("auth.example.test",),
            True,
        ),
        ("https://registry.example.test", "https://registry.example.test:8443/token", (), True),
        ("https://registry-1.docker.io", "https://auth.docker.io/token", (), True),
        ("https://registry.example.test", "https://auth.docker.io/token", (), False),
        ("https://registry-1.docker.io", "https://auth.docker.io.evil.example/token", (), False),
    ],
)
def test_credentials_go_only_to_a_token_service_janitor_may_trust(
    registry: str, realm: str, allowed: tuple[str, ...], accepted: bool
) -> None:
    """Issue 20.2: the registry's 401 challenge names the realm janitor sends username and PAT
    to; a realm on any host but the registry's own (``auth.docker.io`` for Docker's registry)
    or one JANITOR_REGISTRY_AUTH_HOSTS lists is refused, and nothing is sent there."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "opaque-token"})
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
        return httpx.Response(200, headers={"Docker-Content-Digest": digest(1)})

    client = RegistryClient(
        registry,
        Credentials(USER, TOKEN),
        transport=httpx.MockTransport(handler),
        max_retries=0,
        auth_hosts=allowed,
    )
    with client:
        if accepted:
            assert client.head_manifest("acme/web", "latest") is not None
        else:
            with pytest.raises(HubAuthError, match="sends no credentials there") as caught:
                client.head_manifest("acme/web", "latest")
            assert "\n" not in str(caught.value) and "JANITOR_REGISTRY_AUTH_HOSTS" in str(
                caught.value
            )
    token_requests = [r for r in sent if r.url.path == "/token"]
    assert len(token_requests) == (1 if accepted else 0)
    assert all(
        "authorization" not in r.headers for r in sent if r.url.path != "/token" and not accepted
    )


def test_a_refused_organization_access_token_says_what_to_fix() -> None:
    oat = "dckr_oat_registry_probe_42"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(401, json={"details": "incorrect username or password"})
        return httpx.Response(401, headers={"WWW-Authenticate": SAME_HOST_CHALLENGE})

    with mock_client(handler, oat) as client, pytest.raises(HubAuthError) as caught:
        client.head_manifest("acme/web", "latest")
    assert "organization access token" in str(caught.value) and oat not in str(caught.value)
