"""Fault injection: each kind over real HTTP, and the plan's bookkeeping."""

from __future__ import annotations

import json

import httpx
import pytest

from janitor.emulator.faults import Fault, FaultPlan
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import HubState

from .conftest import digest

APP_TAGS = "/v2/namespaces/acme/repositories/app/tags"
DELETE = "/v2/namespaces/acme/delete-images"


def test_status_fault_fires_times_then_is_spent(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault("status", path=r"/tags$", status=503, times=2))
    first = client.get(APP_TAGS)
    assert first.status_code == 503
    body = first.json()
    assert body["message"] == "Service Unavailable" and body["txnid"] and body["errinfo"]
    assert client.get(APP_TAGS).status_code == 503
    assert client.get(APP_TAGS).status_code == 200
    assert len(emu.faults) == 0
    assert [e.status for e in emu.log.entries()] == [503, 503, 200]


def test_fault_matches_method_and_path(
    emu: RunningEmulator, client: httpx.Client, alice: dict[str, str]
) -> None:
    emu.faults.add(Fault("status", method="post", path="delete-images", status=500))
    assert client.get(APP_TAGS).status_code == 200
    assert (
        client.get("/v2/namespaces/acme/repositories/app/images", headers=alice).status_code == 200
    )
    body = {"dry_run": True, "manifests": [{"repository": "app", "digest": digest("app/old")}]}
    assert client.post(DELETE, json=body, headers=alice).status_code == 500
    assert client.post(DELETE, json=body, headers=alice).status_code == 200


def test_drop_closes_the_connection_without_an_answer(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    emu.faults.add(Fault("drop", path="/tags"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(APP_TAGS)
    assert client.get(APP_TAGS).status_code == 200
    assert [e.status for e in emu.log.entries()] == [0, 200]


def test_slow_answers_late_but_normally(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault("slow", path="/tags", delay=3.0))
    with pytest.raises(httpx.ReadTimeout):
        client.get(APP_TAGS, timeout=0.2)
    emu.faults.add(Fault("slow", path="/tags", delay=0.05))
    assert client.get(APP_TAGS).status_code == 200
    assert [e.status for e in emu.log.entries()] == [0, 200]  # the first caller gave up


def test_malformed_body(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault("malformed", path="/tags"))
    response = client.get(APP_TAGS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_rate_limit_fault_without_a_configured_limit(
    emu: RunningEmulator, client: httpx.Client
) -> None:
    emu.faults.add(Fault("rate_limit", times=2))
    for _ in range(2):
        limited = client.get(APP_TAGS)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert int(limited.headers["x-retry-after"]) == int(limited.headers["x-ratelimit-reset"])
    assert client.get(APP_TAGS).status_code == 200


def test_next_404_on_the_last_page(emu: RunningEmulator, client: httpx.Client) -> None:
    emu.faults.add(Fault("next_404", path="/tags"))
    first = client.get(APP_TAGS + "?page_size=3").json()  # not the last page: untouched
    assert first["next"].endswith("page=2")
    last = client.get(first["next"]).json()
    assert len(last["results"]) == 1
    assert last["next"] is not None and last["next"].endswith("page=3")
    assert client.get(last["next"]).status_code == 404
    assert client.get(first["next"]).json()["next"] is None  # spent


def test_status_after_apply_deletes_then_fails(
    emu: RunningEmulator, client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    emu.faults.add(Fault("status", path="delete-images", status=502, after_apply=True))
    ref = {"repository": "app", "digest": digest("app/old")}
    dry = client.post(DELETE, json={"dry_run": True, "manifests": [ref]}, headers=alice)
    assert dry.status_code == 200  # a dry run applies nothing, so the fault waits
    failed = client.post(DELETE, json={"manifests": [ref]}, headers=alice)
    assert failed.status_code == 502
    assert state.image("acme", "app", digest("app/old")) is None  # ... but it was applied
    retry = client.post(DELETE, json={"manifests": [ref]}, headers=alice)
    assert retry.json()["errinfo"]["details"]["errors"][0]["error"] == "not_found"


def test_faults_given_at_start(state: HubState) -> None:
    plan = FaultPlan([Fault("status", status=500)])
    with start_emulator(state, faults=plan) as emu, httpx.Client(base_url=emu.url, timeout=10) as c:
        assert emu.faults is plan
        assert c.get(APP_TAGS).status_code == 500
        assert c.get(APP_TAGS).status_code == 200


def test_plan_bookkeeping() -> None:
    plan = FaultPlan()
    first = plan.add(Fault("status", path="a", times=2))
    plan.add(Fault("drop", path="b"))
    assert plan.take("GET", "/x/b", ("status",)) is None
    assert plan.take("GET", "/x/a", ("status", "drop")) is first
    assert plan.pending()[0].times == 1
    assert plan.take("GET", "/x/a", ("status",)) is first
    assert [f.kind for f in plan.pending()] == ["drop"]
    plan.clear()
    assert len(plan) == 0


def test_parse_and_json_forms() -> None:
    fault = Fault.parse("status:status=503,method=POST,path=delete-images,times=2")
    assert fault.to_dict() == {
        "kind": "status", "method": "POST", "path": "delete-images", "times": 2,
        "status": 503, "delay": 0.0, "after_apply": False,
    }  # fmt: skip
    assert Fault.from_dict(fault.to_dict()) == fault
    assert Fault.parse("slow:delay=1.5").delay == 1.5
    assert Fault.parse("status:after_apply=true").after_apply
    assert Fault.parse(" drop ").kind == "drop"


@pytest.mark.parametrize(
    "spec",
    ["explode", "status:times=0", "status:status=42", "slow:delay=-1", "drop:after_apply=true",
     "status:colour=red", "status:times", "status:path=(", "status:after_apply=perhaps"],
)  # fmt: skip
def test_bad_faults_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        Fault.parse(spec)
