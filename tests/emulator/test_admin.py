"""The admin API, the request log, and serving: start, stop, in-flight requests."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from janitor.emulator.app import create_app
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.faults import Fault
from janitor.emulator.requestlog import LoggedRequest, RequestLog
from janitor.emulator.seed import load_seed
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import HubState

from .conftest import NOW, TIMEOUT, digest, seed_data

APP_TAGS = "/v2/namespaces/acme/repositories/app/tags"


def test_log_endpoint_and_clear(emu: RunningEmulator, client: httpx.Client) -> None:
    client.get(APP_TAGS + "?page_size=2&name=v")
    client.post("/v2/users/login", json={"username": "alice", "password": "alice-pw"})
    entries = [LoggedRequest.from_dict(e) for e in client.get("/_emulator/log").json()["entries"]]
    assert entries == emu.log.entries()
    assert entries[0].method == "GET" and entries[0].path == APP_TAGS
    assert entries[0].query == {"page_size": "2", "name": "v"}
    assert entries[0].status == 200 and entries[0].json is None and entries[0].at > 0
    assert entries[1].json == {"username": "alice", "password": "***"}
    assert emu.log.count() == 2
    assert emu.log.count("post") == 1
    assert emu.log.count(path_regex=r"^/v2/namespaces/") == 1
    assert client.delete("/_emulator/log").status_code == 204
    assert emu.log.entries() == []


def test_fault_endpoints(emu: RunningEmulator, client: httpx.Client) -> None:
    created = client.post(
        "/_emulator/faults", json={"kind": "status", "status": 418, "path": "tags"}
    )
    assert created.status_code == 201 and created.json()["status"] == 418
    assert client.get("/_emulator/faults").json()["faults"][0]["kind"] == "status"
    assert client.get(APP_TAGS).status_code == 418
    client.post("/_emulator/faults", json={"kind": "drop"})
    assert client.delete("/_emulator/faults").status_code == 204
    assert client.get(APP_TAGS).status_code == 200
    refused = client.post("/_emulator/faults", json={"kind": "nope"})
    assert refused.status_code == 400 and "unknown fault kind" in refused.json()["message"]
    assert client.post("/_emulator/faults", content=b"{").status_code == 400


def test_admin_calls_are_not_logged_nor_faulted(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault("status", status=500, times=5))
    assert client.get("/_emulator/log").status_code == 200
    assert client.get("/_emulator/state/acme").status_code == 200
    assert emu.log.entries() == []
    assert emu.faults.pending()[0].times == 5


def test_state_endpoint(emu: RunningEmulator, client: httpx.Client, alice: dict[str, str]) -> None:
    dumped = client.get("/_emulator/state/acme").json()
    assert set(dumped) == {"namespaces"}
    app = dumped["namespaces"]["acme"]["repositories"]["app"]
    assert len(app["images"]) == 5
    client.post(
        "/v2/namespaces/acme/delete-images",
        json={"manifests": [{"repository": "app", "digest": digest("app/old")}]},
        headers=alice,
    )
    after = client.get("/_emulator/state/acme").json()["namespaces"]["acme"]["repositories"]["app"]
    assert digest("app/old") not in {i["digest"] for i in after["images"]}
    assert load_seed(client.get("/_emulator/state/acme").json()).namespace("acme") is not None
    assert client.get("/_emulator/state/nope").status_code == 404


def test_stop_with_a_request_in_flight(state: HubState) -> None:
    emu = start_emulator(state)
    emu.faults.add(Fault("slow", delay=60))
    outcome: list[object] = []

    def call() -> None:
        try:
            with httpx.Client(timeout=30) as c:
                outcome.append(c.get(emu.url + APP_TAGS).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    for _ in range(500):  # wait until the request is in the server's hands
        if emu.log.count() or emu.faults.pending() == []:
            break
        threading.Event().wait(0.01)
    emu.stop()
    caller.join(15)
    assert not caller.is_alive()
    assert not emu.running
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=TIMEOUT) as c:
        c.get(emu.url + APP_TAGS)
    emu.stop()  # idempotent


def test_two_emulators_side_by_side() -> None:
    first = load_seed(seed_data(), now=NOW)
    second = load_seed(seed_data(), now=NOW)
    with start_emulator(first) as a, start_emulator(second) as b:
        assert a.url != b.url
        with httpx.Client(timeout=TIMEOUT) as c:
            assert c.get(a.url + APP_TAGS).status_code == 200
            assert c.get(b.url + APP_TAGS).status_code == 200
        assert a.log.count() == b.log.count() == 1


def test_port_in_use_is_an_error(emu: RunningEmulator, state: HubState) -> None:
    with pytest.raises(OSError):
        start_emulator(state, port=emu.port)


def test_app_runs_under_an_asgi_transport(state: HubState) -> None:
    app = create_app(state, EmulatorConfig())

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            return await client.get(APP_TAGS + "?page_size=1")

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert response.json()["next"].startswith("http://hub.test/")
    assert isinstance(app.ctx.log, RequestLog) and app.ctx.log.count() == 1
