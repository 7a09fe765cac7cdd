"""The one transport under both clients: the rules where the Hub client and the registry client
used to differ now hold for both (each test runs against each client)."""

from __future__ import annotations

import gzip
import http.server
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trustme

from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import HubProtocolError, HubServerError, HubTransportError
from janitor.hub.registry import RegistryClient

from .clock import FakeClock

USER, PAT = "alice", "dckr_pat_transport_secret_0123"
DIGEST = "sha256:" + "ab" * 32
CHALLENGE = 'Bearer realm="https://registry.example.test/token",service="registry.example.test"'

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def untrusted_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTPS server on loopback whose certificate no system trusts; counts its accepts."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    accepted: list[int] = []

    class Server(http.server.ThreadingHTTPServer):
        def get_request(self) -> Any:
            accepted.append(1)
            return super().get_request()

    server = Server(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", accepted
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _hub(url: str, handler: Handler | None = None, **kwargs: Any) -> HubClient:
    clock = FakeClock()
    kwargs.setdefault("sleep", clock.sleep)
    return HubClient(
        url,
        Credentials(USER, PAT),
        transport=httpx.MockTransport(handler) if handler else None,
        clock=clock,
        backoff=0.01,
        **kwargs,
    )


def _registry(url: str, handler: Handler | None = None, **kwargs: Any) -> RegistryClient:
    clock = kwargs.pop("clock", FakeClock())
    return RegistryClient(
        url,
        Credentials(USER, PAT),
        transport=httpx.MockTransport(handler) if handler else None,
        clock=clock,
        sleep=clock.sleep,
        backoff=0.01,
        **kwargs,
    )


def test_an_untrusted_certificate_is_final_for_both_clients(
    untrusted_server: tuple[str, list[int]],
) -> None:
    """Before: the registry client retried a failed certificate check 5 times."""
    url, accepted = untrusted_server
    with _hub(url) as hub, pytest.raises(HubTransportError, match="CERTIFICATE") as caught:
        list(hub.iter_repositories("acme"))
    assert hub.stats.calls == 1 and hub.stats.retries == 0
    assert not caught.value.maybe_applied
    with _registry(url) as registry, pytest.raises(HubTransportError, match="CERTIFICATE"):
        registry.head_manifest("acme/web", "latest")
    assert registry.stats.calls == 1 and registry.stats.retries == 0
    assert len(accepted) == 2  # one connection each


def _registry_handler(manifest: Callable[[httpx.Request], httpx.Response]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "registry-token-value", "expires_in": 300})
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": CHALLENGE})
        return manifest(request)

    return handler


def test_unreadable_json_is_retried_by_both_clients() -> None:
    """Before: only the Hub client retried a 2xx whose body was not JSON."""
    answers = [httpx.Response(200, content=b"{not json"), None]

    def hub_handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            return httpx.Response(200, json={"access_token": "hub-token-value"})
        first = answers.pop(0)
        return first or httpx.Response(200, json={"count": 0, "next": None, "results": []})

    with _hub("https://hub.example.test", hub_handler) as hub:
        assert list(hub.iter_repositories("acme")) == []
        assert hub.stats.retries == 1

    manifest_answers = [b"{not json", b'{"mediaType": "x", "manifests": []}']

    def manifest(request: httpx.Request) -> httpx.Response:
        headers = {"Docker-Content-Digest": DIGEST, "Content-Type": "application/json"}
        return httpx.Response(200, content=manifest_answers.pop(0), headers=headers)

    with _registry("https://registry.example.test", _registry_handler(manifest)) as registry:
        fetched = registry.get_manifest("acme/web", DIGEST)
        assert fetched is not None and fetched.digest == DIGEST
        assert registry.stats.retries == 1


def test_a_429_with_only_x_ratelimit_reset_waits_until_the_reset_in_both_clients() -> None:
    """Before: only the Hub client read ``X-RateLimit-Reset`` on a 429 (the registry client
    retried after a short backoff, too early)."""
    clock = FakeClock()
    reset = clock() + 40
    sent: list[float] = []

    def manifest(request: httpx.Request) -> httpx.Response:
        sent.append(clock())
        if len(sent) == 1:
            return httpx.Response(
                429, headers={"X-RateLimit-Reset": str(int(reset)), "X-RateLimit-Remaining": "0"}
            )
        return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST})

    with _registry(
        "https://registry.example.test", _registry_handler(manifest), clock=clock
    ) as registry:
        assert registry.head_manifest("acme/web", "latest") is not None
    assert sent[1] >= reset


def test_a_write_is_resent_only_when_provably_unsent() -> None:
    """A connect error is retried for a DELETE; a 5xx after sending is not (both clients share
    the rule, the registry's DELETE shows it)."""
    calls: list[str] = []

    def refuse_then_accept(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "DELETE" and calls.count("DELETE") == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(202)

    def token(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST})
        return refuse_then_accept(request)

    with _registry("https://registry.example.test", _registry_handler(token)) as registry:
        assert registry.delete_manifest("acme/web", DIGEST) == "deleted"
    assert calls.count("DELETE") == 2

    deletes: list[int] = []

    def fail(request: httpx.Request) -> httpx.Response:
        deletes.append(1)
        return httpx.Response(502)

    with (
        _registry("https://registry.example.test", _registry_handler(fail)) as registry,
        pytest.raises(HubServerError) as caught,
    ):
        registry.delete_manifest("acme/web", DIGEST)
    assert len(deletes) == 1 and caught.value.maybe_applied


def test_the_registry_reads_hub_style_error_texts_and_hub_reads_registry_style_ones() -> None:
    """One extraction of the other side's words: ``errors[]`` and ``message``/``detail``."""

    def hub_handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            return httpx.Response(200, json={"access_token": "hub-token-value"})
        return httpx.Response(418, json={"errors": [{"code": "TEAPOT", "message": "short"}]})

    with _hub("https://hub.example.test", hub_handler) as hub, pytest.raises(Exception) as caught:
        list(hub.iter_repositories("acme"))
    assert "TEAPOT: short" in str(caught.value)

    def manifest(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"[]", headers={"Docker-Content-Digest": "bad"})

    with (
        _registry("https://registry.example.test", _registry_handler(manifest)) as registry,
        pytest.raises(HubProtocolError, match="Docker-Content-Digest"),
    ):
        registry.get_manifest("acme/web", "latest")


def test_the_registry_s_rate_limit_headers_feed_the_same_pacing() -> None:
    """``ratelimit-limit``/``ratelimit-remaining`` (``100;w=21600``) are read like Hub's
    ``X-RateLimit-*`` (issue 13.5): the registry client exposes them and its limiter counts
    down from them."""

    def manifest(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={
                "Docker-Content-Digest": DIGEST,
                "RateLimit-Limit": "100;w=21600",
                "RateLimit-Remaining": "76;w=21600",
            },
        )

    with _registry("https://registry.example.test", _registry_handler(manifest)) as registry:
        assert registry.head_manifest("acme/web", "latest") is not None
        assert (registry.rate_limit.limit, registry.rate_limit.remaining) == (100, 76)


@pytest.fixture
def dripping_server() -> Iterator[tuple[str, list[str]]]:
    """A plain HTTP server on loopback that answers 200 at once, then drips its body a byte
    every 50 ms (each read well inside any per-read timeout); records each request line."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _drip(self) -> None:
            seen.append(f"{self.command} {self.path}")
            if self.path == "/v2/":  # the registry's version check: at once, asking no token
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"count": 0, "next": null, "results": []}' + b" " * 200
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Docker-Content-Digest", DIGEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass  # the client gave up

        do_GET = _drip
        do_DELETE = _drip

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_dripping_answer_meets_the_overall_deadline(
    dripping_server: tuple[str, list[str]],
) -> None:
    """Issue 20.4: httpx's timeout is per read; a listing that drips a byte at a time never
    tripped it. Every exchange now has an overall deadline: a read fails as a timeout and is
    retried like one."""
    url, seen = dripping_server
    with (
        HubClient(url, None, timeout=5.0, deadline=0.5, max_retries=1, backoff=0.01) as hub,
        pytest.raises(HubTransportError, match=r"no complete answer within 0\.5 s") as e,
    ):
        list(hub.iter_repositories("acme"))
    assert e.value.kind == "timeout" and not e.value.maybe_applied
    assert len(seen) == 2  # the read was retried once


def test_a_write_whose_answer_drips_is_never_resent(dripping_server: tuple[str, list[str]]) -> None:
    url, seen = dripping_server
    registry = RegistryClient(url, None, timeout=5.0, deadline=0.5, max_retries=3, backoff=0.01)
    with registry, pytest.raises(HubTransportError) as caught:
        registry.delete_manifest("acme/web", DIGEST)
    assert caught.value.maybe_applied and caught.value.kind == "timeout"
    assert [line.split()[0] for line in seen] == ["GET", "DELETE"]


@pytest.mark.parametrize("declared", [True, False])
def test_an_answer_past_the_size_cap_is_a_clear_error(declared: bool) -> None:
    """Issue 20.4: two 100 MB listings cost 678 MB. An answer larger than ``max_body`` is
    refused (by its Content-Length, or as soon as the bytes read pass the cap), not retried."""
    big = b'{"count": 1, "next": null, "results": [' + b" " * (2 * 1024 * 1024) + b"]}"
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if declared:
            return httpx.Response(200, content=big)
        return httpx.Response(200, stream=httpx.ByteStream(big))

    hub = HubClient(
        "https://hub.example.test", None, transport=httpx.MockTransport(handler), max_body=1024**2
    )
    with hub, pytest.raises(HubProtocolError, match="larger than janitor reads"):
        list(hub.iter_repositories("acme"))
    assert len(sent) == 1


def test_a_compressed_bomb_counts_in_full() -> None:
    bomb = gzip.compress(b" " * (4 * 1024 * 1024))  # 4 KiB on the wire, 4 MiB decoded

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})

    hub = HubClient(
        "https://hub.example.test", None, transport=httpx.MockTransport(handler), max_body=1024**2
    )
    with hub, pytest.raises(HubProtocolError, match="larger than janitor reads"):
        list(hub.iter_repositories("acme"))


@pytest.mark.parametrize("escaped", [False, True])
def test_a_listing_that_echoes_a_secret_is_redacted_however_it_is_spelled(escaped: bool) -> None:
    """A 2xx answer is redacted too (a proxy may echo into a listing): plainly, or with every
    character a JSON escape (the raw text then never shows the secret)."""
    spelled = "".join(f"\\u{ord(c):04x}" for c in PAT) if escaped else PAT
    raw = (
        '{"count": 1, "next": null, "results": [{"name": "web", "namespace": "acme", '
        f'"description": "{spelled}"}}]}}'
    ).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            return httpx.Response(200, json={"access_token": "hub-token-value"})
        return httpx.Response(200, content=raw)

    with _hub("https://hub.example.test", handler) as hub:
        answer = hub._call("GET", hub._url("/v2/namespaces/acme/repositories"), endpoint="x")
    assert PAT not in json.dumps(answer.body)
    assert answer.body["results"][0]["description"] == "<redacted>"
