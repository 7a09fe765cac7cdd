"""HubClient against answers the emulator will not give: hostile or impossible ones, produced by
an httpx.MockTransport. Everything Hub-like is tested against the emulator instead."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import (
    HubAuthError,
    HubError,
    HubForbidden,
    HubNotFound,
    HubProtocolError,
    HubRateLimited,
    HubServerError,
    HubTransportError,
)
from janitor.hub.models import DeleteWarning, ManifestRef

from .clock import FakeClock

DIGEST = "sha256:" + "d" * 64
SECRET = "dckr_pat_never-show-me"
TOKEN = "tok.en-never-show-me"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a script and records what it was sent."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            return httpx.Response(200, json={"access_token": TOKEN})
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


def client(recorder: Recorder, clock: FakeClock | None = None, **kwargs: Any) -> HubClient:
    clock = clock or FakeClock()
    kwargs.setdefault("credentials", Credentials("alice", SECRET))
    return HubClient(
        "https://hub.test",
        transport=httpx.MockTransport(recorder),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )


def page(results: list[Any], count: int | None = None, next: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"count": len(results) if count is None else count, "results": results}
    body["next"] = next
    return httpx.Response(200, json=body)


REPO = {"name": "web", "namespace": "acme"}


class TestConstruction:
    def test_tls_verification_stays_on_for_hub(self) -> None:
        with pytest.raises(ValueError, match=r"hub\.docker\.com"):
            HubClient("https://hub.docker.com", verify=False)

    def test_verify_off_elsewhere_warns(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="janitor.hub"):
            HubClient("https://hub.internal.test", verify=False).close()
        assert "verification is OFF" in caplog.text

    @pytest.mark.parametrize(
        "url",
        ["https://hub.test", "https://hub.test/", "https://hub.test/v2", "https://hub.test/v2/"],
    )
    def test_base_url_spellings(self, url: str) -> None:
        with HubClient(url) as hub:
            assert hub.base_url == "https://hub.test"

    @pytest.mark.parametrize("url", ["ftp://hub.test", "hub.test", "https://hub.test/?token=x"])
    def test_bad_base_url(self, url: str) -> None:
        with pytest.raises(ValueError):
            HubClient(url)

    def test_repr_shows_no_secret(self) -> None:
        with HubClient("https://hub.test", Credentials("alice", SECRET)) as hub:
            assert SECRET not in repr(hub) and "alice" in repr(hub)

    @pytest.mark.parametrize("name", ["", "..", "a/b", "../etc"])
    def test_names_are_single_path_segments(self, name: str) -> None:
        recorder = Recorder(page([]))
        with client(recorder) as hub, pytest.raises(ValueError):
            list(hub.iter_tags("acme", name))
        assert recorder.requests == []


class TestPaging:
    def test_next_links_are_rehosted_but_otherwise_followed_as_given(self) -> None:
        recorder = Recorder(
            page(
                [REPO],
                count=2,
                next="https://hub.docker.com/v2/namespaces/acme/repositories?page=2",
            ),
            page([{**REPO, "name": "api"}], count=2),
        )
        with client(recorder) as hub:
            names = [r.name for r in hub.iter_repositories("acme")]
        assert names == ["web", "api"]
        first, second = (r.url for r in recorder.requests)
        assert first.params["page_size"] == "100"
        assert (second.host, second.params["page"]) == ("hub.test", "2")
        assert "page_size" not in second.params  # never rewritten (hub-feedback#2343)

    def test_relative_next_link(self) -> None:
        recorder = Recorder(
            page([REPO], count=2, next="/v2/namespaces/acme/repositories?page=2&page_size=100"),
            page([{**REPO, "name": "api"}], count=2),
        )
        with client(recorder) as hub:
            assert len(list(hub.iter_repositories("acme"))) == 2
        assert recorder.requests[1].url.host == "hub.test"

    def test_foreign_next_link_below_a_path_prefix(self) -> None:
        recorder = Recorder(
            page(
                [REPO],
                count=2,
                next="https://hub.docker.com/v2/namespaces/acme/repositories?page=2",
            ),
            page([{**REPO, "name": "api"}], count=2),
        )
        with HubClient("https://proxy.test/hub", transport=httpx.MockTransport(recorder)) as hub:
            assert len(list(hub.iter_repositories("acme"))) == 2
        first, second = (r.url for r in recorder.requests)
        assert first.path == second.path == "/hub/v2/namespaces/acme/repositories"
        assert second.host == "proxy.test"

    def test_next_links_in_a_loop(self) -> None:
        looping = "https://hub.test/v2/namespaces/acme/repositories?page=2&page_size=100"
        recorder = Recorder(page([REPO], count=9, next=looping))
        with client(recorder) as hub, pytest.raises(HubProtocolError, match="loop"):
            list(hub.iter_repositories("acme"))

    def test_next_404_before_count_is_an_error(self) -> None:
        recorder = Recorder(
            page([REPO], count=3, next="https://hub.test/v2/namespaces/acme/repositories?page=2"),
            httpx.Response(404, json={"message": "page not found"}),
        )
        with client(recorder) as hub, pytest.raises(HubProtocolError, match="1 of 3"):
            list(hub.iter_repositories("acme"))

    def test_empty_page_with_next_is_an_error(self) -> None:
        recorder = Recorder(
            page([], count=3, next="https://hub.test/v2/namespaces/acme/repositories?page=2")
        )
        with client(recorder) as hub, pytest.raises(HubProtocolError, match="empty page"):
            list(hub.iter_repositories("acme"))

    def test_streams_page_by_page(self) -> None:
        recorder = Recorder(
            page([REPO], count=2, next="https://hub.test/v2/namespaces/acme/repositories?page=2"),
            page([{**REPO, "name": "api"}], count=2),
        )
        with client(recorder) as hub:
            repos = hub.iter_repositories("acme")
            assert next(repos).name == "web"
            assert len(recorder.requests) == 1  # the second page is not fetched yet
            assert next(repos).name == "api"

    def test_hostile_page(self) -> None:
        recorder = Recorder(httpx.Response(200, json={"count": 1, "results": [{"name": 7}]}))
        with client(recorder) as hub, pytest.raises(HubProtocolError) as caught:
            list(hub.iter_repositories("acme"))
        assert "'name' is an integer" in str(caught.value)

    def test_results_not_a_list(self) -> None:
        recorder = Recorder(httpx.Response(200, json={"results": {"name": "web"}}))
        with client(recorder) as hub, pytest.raises(HubProtocolError, match="'results'"):
            list(hub.iter_repositories("acme"))

    def test_page_not_an_object(self) -> None:
        recorder = Recorder(httpx.Response(200, json=[REPO]))
        with client(recorder) as hub, pytest.raises(HubProtocolError, match="not an object"):
            list(hub.iter_repositories("acme"))


class TestRetries:
    def test_unreadable_json_is_retried_for_reads(self) -> None:
        recorder = Recorder(httpx.Response(200, content=b'{"count": 1, "resu'), page([REPO]))
        with client(recorder) as hub:
            assert [r.name for r in hub.iter_repositories("acme")] == ["web"]
            assert hub.stats.retries == 1

    def test_unreadable_json_for_ever(self) -> None:
        recorder = Recorder(httpx.Response(200, content=b"<html>"))
        with client(recorder, max_retries=2) as hub, pytest.raises(HubProtocolError, match="JSON"):
            list(hub.iter_repositories("acme"))
        assert len(recorder.requests) == 3

    def test_backoff_grows_and_honours_retry_after(self) -> None:
        clock = FakeClock()
        recorder = Recorder(
            httpx.Response(502),
            httpx.Response(503, headers={"Retry-After": "20"}),
            httpx.Response(500),
            page([REPO]),
        )
        with client(recorder, clock, backoff=1.0) as hub:
            list(hub.iter_repositories("acme"))
        first, second, third = clock.sleeps
        assert 0.5 <= first <= 1.0
        assert second == 20.0
        assert 2.0 <= third <= 4.0

    def test_gives_up_after_max_retries(self) -> None:
        recorder = Recorder(httpx.Response(503, json={"message": "upstream down"}))
        with client(recorder, max_retries=3) as hub, pytest.raises(HubServerError) as caught:
            list(hub.iter_repositories("acme"))
        assert len(recorder.requests) == 4
        assert "upstream down" in str(caught.value) and not caught.value.maybe_applied

    @pytest.mark.parametrize(
        "exc",
        [
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
        ],
    )
    def test_transport_errors_are_retried_for_reads(self, exc: Exception) -> None:
        recorder = Recorder(exc, page([REPO]))
        with client(recorder) as hub:
            assert len(list(hub.iter_repositories("acme"))) == 1

    def test_transport_error_mapped_once(self) -> None:
        recorder = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
        with client(recorder, max_retries=1) as hub, pytest.raises(HubTransportError) as caught:
            list(hub.iter_repositories("acme"))
        error = caught.value
        assert error.kind == "connect" and error.method == "GET"
        assert error.url == "https://hub.test/v2/namespaces/acme/repositories"  # no query
        assert "could not connect" in str(error) and "JANITOR_HUB_URL" in str(error)
        assert isinstance(error.__cause__, type(None))

    def test_redirect_is_not_followed(self) -> None:
        recorder = Recorder(httpx.Response(301, headers={"Location": "https://evil.test/"}))
        with client(recorder) as hub, pytest.raises(HubProtocolError, match="redirected"):
            list(hub.iter_repositories("acme"))
        assert len(recorder.requests) == 1


def delete(hub: HubClient, *, dry_run: bool, **kwargs: Any) -> Any:
    return hub.delete_images("acme", [ManifestRef("web", DIGEST)], dry_run=dry_run, **kwargs)


OK = httpx.Response(200, json={"dry_run": False, "metrics": {"manifest_deletes": 1}})


class TestDeleteImages:
    @pytest.mark.parametrize(
        "exc",
        [
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            httpx.ReadTimeout("timed out"),
            httpx.ReadError("connection reset"),
        ],
    )
    def test_real_delete_after_sending_is_never_repeated(self, exc: Exception) -> None:
        recorder = Recorder(exc, OK)
        with client(recorder) as hub, pytest.raises(HubTransportError) as caught:
            delete(hub, dry_run=False)
        assert caught.value.maybe_applied and len(recorder.requests) == 1
        assert "check before repeating" in str(caught.value)

    @pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
    def test_real_delete_not_sent_is_retried(self, exc: Exception) -> None:
        recorder = Recorder(exc, OK)
        with client(recorder) as hub:
            assert delete(hub, dry_run=False).accepted
        assert len(recorder.requests) == 2

    def test_real_delete_after_429_is_retried(self) -> None:
        recorder = Recorder(httpx.Response(429, headers={"Retry-After": "3"}), OK)
        with client(recorder) as hub:
            assert delete(hub, dry_run=False).accepted
            assert hub.stats.rate_limited == 1
        assert len(recorder.requests) == 2

    def test_real_delete_with_unreadable_answer(self) -> None:
        recorder = Recorder(httpx.Response(200, content=b"{"))
        with client(recorder) as hub, pytest.raises(HubProtocolError) as caught:
            delete(hub, dry_run=False)
        assert caught.value.maybe_applied and len(recorder.requests) == 1

    def test_dry_run_is_retried_like_a_read(self) -> None:
        recorder = Recorder(
            httpx.RemoteProtocolError("dropped"),
            httpx.Response(500),
            httpx.Response(200, json={"dry_run": True, "metrics": {"manifest_deletes": 1}}),
        )
        with client(recorder) as hub:
            result = delete(hub, dry_run=True)
        assert result.accepted and result.dry_run and len(recorder.requests) == 3

    def test_one_repository_per_call(self) -> None:
        recorder = Recorder(OK)
        with client(recorder) as hub:
            with pytest.raises(ValueError, match="one repository per call; got api, web"):
                hub.delete_images(
                    "acme",
                    [ManifestRef("web", DIGEST), ManifestRef("api", DIGEST)],
                    dry_run=True,
                )
            with pytest.raises(ValueError, match="one repository"):
                hub.delete_images(
                    "acme",
                    [ManifestRef("web", DIGEST)],
                    dry_run=True,
                    ignore_warnings=[DeleteWarning("api", DIGEST, "is_active")],
                )
            with pytest.raises(ValueError, match="at least one"):
                hub.delete_images("acme", [], dry_run=True)
        assert recorder.requests == []

    def test_other_400_raises(self) -> None:
        recorder = Recorder(httpx.Response(400, json={"message": "bad body"}))
        with client(recorder) as hub, pytest.raises(HubError, match="bad body") as caught:
            delete(hub, dry_run=True)
        assert caught.value.status == 400

    @pytest.mark.parametrize(
        ("status", "kind", "text"),
        [
            (401, HubAuthError, "refused"),
            (403, HubForbidden, "forbids"),
            (404, HubNotFound, "retired the image-management API"),
        ],
    )
    def test_error_statuses(self, status: int, kind: type[HubError], text: str) -> None:
        body = {"txnid": "t-9", "message": "nope", "errinfo": {"api_call_txnid": "t-9"}}
        recorder = Recorder(httpx.Response(status, json=body))
        with client(recorder) as hub, pytest.raises(kind) as caught:
            delete(hub, dry_run=True)
        error = caught.value
        assert (error.status, error.txnid, error.message) == (status, "t-9", "nope")
        assert error.errinfo == {"api_call_txnid": "t-9"}
        assert text in str(error)


class TestRateLimits:
    def test_429_storm_outlasting_patience(self) -> None:
        recorder = Recorder(httpx.Response(429, headers={"Retry-After": "1"}))
        with client(recorder, max_rate_limit_waits=3) as hub:
            with pytest.raises(HubRateLimited, match="429"):
                list(hub.iter_repositories("acme"))
            assert hub.stats.rate_limited == 4

    def test_a_wait_past_max_wait_fails_at_once(self) -> None:
        clock = FakeClock()
        far = str(int(clock()) + 3600)
        recorder = Recorder(httpx.Response(429, headers={"X-Retry-After": far}), page([REPO]))
        with client(recorder, clock, max_wait=10.0) as hub, pytest.raises(HubRateLimited) as e:
            list(hub.iter_repositories("acme"))
        assert e.value.retry_at == float(far) and "2023-11-14T23:13:20Z" in str(e.value)
        assert clock.slept == 0 and len(recorder.requests) == 1

    @pytest.mark.parametrize("header", ["Retry-After", "X-Retry-After"])
    def test_a_long_wait_within_max_wait_is_waited_in_full(self, header: str) -> None:
        clock = FakeClock()
        value = "600" if header == "Retry-After" else str(int(clock()) + 600)
        recorder = Recorder(httpx.Response(429, headers={header: value}), page([REPO]))
        with client(recorder, clock, max_wait=900.0) as hub:
            list(hub.iter_repositories("acme"))
        assert 600.0 <= clock.slept <= 601.1 and len(recorder.requests) == 2

    def test_a_far_future_reset_with_nothing_remaining_fails_at_once(self) -> None:
        """Issue 20.4: ``X-RateLimit-Reset: 9999999999`` with ``Remaining: 0`` made the limiter
        wait 120 s in a loop forever."""
        clock = FakeClock()
        exhausted = {
            "X-RateLimit-Limit": "180",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "9999999999",
        }
        recorder = Recorder(
            httpx.Response(
                200, json={"count": 2, "next": "/v2/x?page=2", "results": [REPO]}, headers=exhausted
            ),
            page([REPO]),
        )
        with client(recorder, clock) as hub, pytest.raises(HubRateLimited) as caught:
            list(hub.iter_repositories("acme"))
        assert "2286-11-20T17:46:39Z" in str(caught.value)
        assert clock.slept == 0 and len(recorder.requests) == 1

    def test_a_5xx_asking_for_a_wait_past_max_wait_fails_at_once(self) -> None:
        clock = FakeClock()
        recorder = Recorder(httpx.Response(503, headers={"Retry-After": "7200"}), page([REPO]))
        with client(recorder, clock, max_wait=60.0) as hub, pytest.raises(HubRateLimited):
            list(hub.iter_repositories("acme"))
        assert clock.slept == 0 and len(recorder.requests) == 1

    def test_headers_are_exposed(self) -> None:
        reset = "1700000060"
        recorder = Recorder(
            httpx.Response(
                200,
                json={"count": 0, "results": []},
                headers={
                    "X-RateLimit-Limit": "180",
                    "X-RateLimit-Remaining": "179",
                    "X-RateLimit-Reset": reset,
                },
            )
        )
        with client(recorder) as hub:
            list(hub.iter_repositories("acme"))
            assert (hub.rate_limit.limit, hub.rate_limit.remaining) == (180, 179)


class TestSecrets:
    def test_echoed_secrets_are_redacted(self, caplog: pytest.LogCaptureFixture) -> None:
        def echo(request: httpx.Request) -> httpx.Response:
            header = request.headers["Authorization"]
            return httpx.Response(
                403,
                json={
                    "message": f"bad header {header} / {SECRET}",
                    "errinfo": {"echo": [header, {"secret": SECRET}]},
                },
            )

        recorder = Recorder(echo)
        with (
            caplog.at_level(logging.DEBUG),
            client(recorder) as hub,
            pytest.raises(HubForbidden) as caught,
        ):
            list(hub.iter_repositories("acme"))
        for text in (str(caught.value), repr(caught.value), str(caught.value.errinfo), caplog.text):
            assert TOKEN not in text and SECRET not in text
        assert "<redacted>" in str(caught.value)

    def test_anonymous_401_says_credentials_are_needed(self) -> None:
        recorder = Recorder(httpx.Response(401, json={"detail": "authentication required"}))
        with client(recorder, credentials=None) as hub, pytest.raises(HubAuthError) as caught:
            list(hub.iter_tags("acme", "web"))
        assert "needs credentials" in str(caught.value)
        assert "Authorization" not in recorder.requests[0].headers
