"""Every request the client sends, validated against the published specs with openapi-core:
the newest spec for auth, repositories and tags, the legacy one for the image endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.validation.request.exceptions import InvalidParameter, InvalidRequestBody

from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.emulator.specs import legacy_images_spec, newest_spec, openapi_request
from janitor.hub.auth import Credentials
from janitor.hub.inventory import iter_inventory
from janitor.hub.models import DeleteWarning, ManifestRef

from .conftest import BOB_PASSWORD, INDEX, OLD, OTP, PASSWORD, Connect

LEGACY = ("/images", "/images-summary", "/delete-images")


class Recording(httpx.BaseTransport):
    """A real HTTP transport that keeps every request it sends."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def spec_for(request: httpx.Request) -> OpenAPI:
    path = request.url.path
    legacy = path.endswith(LEGACY) or "/images/" in path
    return legacy_images_spec() if legacy else newest_spec()


def exercise(emulator: RunningEmulator, connect: Connect, transport: Recording) -> None:
    """Every endpoint janitor calls, each way it calls it."""
    hub = connect(emulator, transport=transport)
    list(iter_inventory(hub, "acme", concurrency=2))
    cutoff = datetime.now(UTC) - timedelta(days=30)
    list(hub.iter_images("acme", "web", status="active", currently_tagged=True, ordering="digest"))
    list(hub.iter_images("acme", "web", active_from=cutoff, ordering="-last_activity"))
    list(hub.iter_image_tags("acme", "web", OLD))
    hub.images_summary("acme", "web", active_from=cutoff)
    hub.images_summary("acme", "api")
    dry = hub.delete_images("acme", [ManifestRef("web", INDEX)], dry_run=True, active_from=cutoff)
    hub.delete_images(
        "acme",
        [ManifestRef("web", INDEX), ManifestRef("web", OLD)],
        dry_run=False,
        active_from=cutoff,
        ignore_warnings=(*dry.warnings, DeleteWarning("web", OLD, "is_active")),
    )
    emulator.faults.add(Fault("status", method="POST", path="^/v2/auth/token$", status=404))
    fallback = connect(emulator, Credentials("alice", PASSWORD), transport=transport)
    list(fallback.iter_repositories("acme", ordering="-last_updated"))
    bob = Credentials("bob", BOB_PASSWORD, otp=lambda: OTP)
    list(connect(emulator, bob, transport=transport).iter_tags("acme", "web"))


def test_every_request_matches_the_specs(emulator: RunningEmulator, connect: Connect) -> None:
    transport = Recording()
    exercise(emulator, connect, transport)
    seen = {(r.method, r.url.path.split("/")[-1]) for r in transport.requests}
    assert {
        ("POST", "token"),
        ("POST", "login"),
        ("POST", "2fa-login"),
        ("GET", "repositories"),
        ("GET", "tags"),
        ("GET", "images"),
        ("GET", "images-summary"),
        ("POST", "delete-images"),
    } <= seen
    for request in transport.requests:
        spec_for(request).validate_request(openapi_request(request))


def test_the_check_catches_a_wrong_request() -> None:
    """The validation above can fail: a page size Hub refuses is caught."""
    bad = httpx.Request(
        "GET", "https://hub.docker.com/v2/namespaces/acme/repositories?page_size=1000"
    )
    with pytest.raises(InvalidParameter, match="page_size"):
        newest_spec().validate_request(openapi_request(bad))
    body = httpx.Request(
        "POST",
        "https://hub.docker.com/v2/namespaces/acme/delete-images",
        json={"dry_run": "yes", "manifests": [{"repository": "web"}]},
    )
    with pytest.raises(InvalidRequestBody, match="'digest' is a required property"):
        legacy_images_spec().validate_request(openapi_request(body))
