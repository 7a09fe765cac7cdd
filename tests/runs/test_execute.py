"""The executor on its own, against an in-memory backend (tests/runs/fakehub.py): one test per
rule of janitor/execute.py. The end-to-end tests (test_runs.py) run it over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from janitor.execute import ExecutionTotals, Executor, ItemOutcome
from janitor.hub.errors import HubServerError, HubTransportError
from janitor.hub.models import DeleteMetrics
from janitor.plan import Decision
from janitor.records import HubMetrics
from tests.runs.fakehub import REPOSITORY, Call, FakeHub, decision, digest


class Recorder:
    """The sink: every batch of outcomes in order, and the last outcome of each digest."""

    def __init__(self) -> None:
        self.batches: list[list[ItemOutcome]] = []

    def __call__(self, outcomes: Sequence[ItemOutcome]) -> None:
        self.batches.append(list(outcomes))

    def final(self) -> dict[str, str]:
        return {o.digest: o.outcome for batch in self.batches for o in batch}

    def detail(self, d: str) -> str:
        return next(
            o.detail or "" for batch in reversed(self.batches) for o in batch if o.digest == d
        )


def execute(
    hub: FakeHub,
    decisions: list[Decision],
    *,
    dry_run: bool = False,
    batch_size: int = 100,
    stop: threading.Event | None = None,
) -> tuple[ExecutionTotals, Recorder]:
    sink = Recorder()
    executor = Executor(
        backend=hub,
        namespace="acme",
        dry_run=dry_run,
        batch_size=batch_size,
        sink=sink,
        stop=stop or threading.Event(),
    )
    return executor.run([(REPOSITORY, decisions)]), sink


def test_a_dry_run_is_one_call_a_batch_and_deletes_nothing() -> None:
    hub = FakeHub({digest(1): (), digest(2): ("pr-1",)})
    totals, sink = execute(hub, [decision(1), decision(2)], dry_run=True)
    assert [c.dry_run for c in hub.calls] == [True]
    assert set(hub.images) == {digest(1), digest(2)}
    assert sink.final() == {digest(1): "would_delete", digest(2): "skipped_warning"}
    assert "current_tag: skip" in sink.detail(digest(2))
    assert (totals.would_delete, totals.skipped_by_warning, totals.bytes_planned) == (1, 1, 100)


def test_a_real_run_sends_the_dry_run_then_the_delete_and_records_each_outcome() -> None:
    hub = FakeHub({digest(1): (), digest(2): ()})
    totals, sink = execute(hub, [decision(1), decision(2)])
    assert [c.dry_run for c in hub.calls] == [True, False]
    assert hub.images == {}
    # each image was recorded "sending" before the real call, then "deleted"
    assert [o.outcome for o in sink.batches[0]] == ["sending", "sending"]
    assert sink.final() == {digest(1): "deleted", digest(2): "deleted"}
    assert (totals.deleted, totals.bytes_reclaimed, totals.hub_metrics.manifest_deletes) == (
        2,
        200,
        2,
    )


def test_current_tag_delete_ignores_exactly_that_images_warning() -> None:
    hub = FakeHub({digest(1): ("pr-1",), digest(2): ("pr-2",)})
    plan = [decision(1, tags=["pr-1"], current_tag="delete"), decision(2, tags=["pr-2"])]
    _, sink = execute(hub, plan)
    (real,) = hub.real_calls()
    assert real.digests == (digest(1),)
    assert [(w.digest, w.warning, w.tags) for w in real.ignore] == [
        (digest(1), "current_tag", ("pr-1",))
    ]
    assert sink.final() == {digest(1): "deleted", digest(2): "skipped_warning"}
    assert "pr-1 removed with it" in sink.detail(digest(1))
    assert set(hub.images) == {digest(2)}


def test_is_active_is_never_ignored() -> None:
    hub = FakeHub({digest(1): ("pr-1",)}, active={digest(1)})
    _, sink = execute(hub, [decision(1, tags=["pr-1"], current_tag="delete")])
    assert hub.real_calls() == []
    assert sink.final() == {digest(1): "skipped_warning"}
    assert "active" in sink.detail(digest(1))


def test_an_error_in_the_dry_run_marks_that_image_and_the_rest_goes() -> None:
    hub = FakeHub({digest(1): ()})
    _, sink = execute(hub, [decision(1), decision(2)])
    assert sink.final() == {digest(1): "deleted", digest(2): "error"}
    assert "not_found" in sink.detail(digest(2))


def test_a_tag_pushed_after_the_dry_run_skips_that_image_and_deletes_the_rest() -> None:
    def tag_after_dry_run(hub: FakeHub, call: Call) -> None:
        if not call.dry_run and len(hub.real_calls()) == 1:  # pushed just before the delete
            hub.images[digest(2)] = ("new",)

    hub = FakeHub({digest(1): (), digest(2): ()}, before_call=tag_after_dry_run)
    _, sink = execute(hub, [decision(1), decision(2)])
    assert [c.digests for c in hub.real_calls()] == [(digest(1), digest(2)), (digest(1),)]
    assert sink.final() == {digest(1): "deleted", digest(2): "skipped_warning"}
    assert "only after the dry run" in sink.detail(digest(2))
    assert set(hub.images) == {digest(2)}


def test_a_delete_that_may_have_been_applied_is_rechecked_never_resent() -> None:
    hub = FakeHub(
        {digest(1): (), digest(2): ()},
        fail=lambda hub, call: HubTransportError("connection dropped", maybe_applied=True),
    )
    totals, sink = execute(hub, [decision(1), decision(2)])
    assert len(hub.real_calls()) == 1  # the re-check is a dry run
    assert [c.dry_run for c in hub.calls] == [True, False, True]
    assert sink.final() == {digest(1): "deleted", digest(2): "deleted"}
    assert "confirmed gone by a re-check" in sink.detail(digest(1))
    assert totals.failure is not None  # the run stops after such a call


def test_an_unanswered_delete_hub_did_not_apply_yet_stays_unconfirmed() -> None:
    hub = FakeHub(
        {digest(1): ()},
        apply=False,
        fail=lambda hub, call: HubTransportError("timed out", maybe_applied=True),
    )
    totals, sink = execute(hub, [decision(1)])
    assert sink.final() == {digest(1): "unconfirmed"}
    assert (totals.unconfirmed, totals.errors) == (1, 1)


def test_an_answered_failure_hub_did_not_apply_is_an_error() -> None:
    hub = FakeHub(
        {digest(1): ()},
        apply=False,
        fail=lambda hub, call: HubServerError("500", status=500, maybe_applied=True),
    )
    _, sink = execute(hub, [decision(1)])
    assert sink.final() == {digest(1): "error"}
    assert "still present" in sink.detail(digest(1))


def test_batches_follow_the_batch_size_and_the_active_from_of_each_entry() -> None:
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    hub = FakeHub({digest(n): () for n in range(1, 6)})
    plan = [decision(n, active_from=early if n <= 3 else late) for n in range(1, 6)]
    execute(hub, plan, dry_run=True, batch_size=2)
    assert [(len(c.digests), c.active_from) for c in hub.calls] == [
        (2, early),
        (1, early),
        (2, late),
    ]


def test_a_stop_request_leaves_the_next_batches_not_attempted() -> None:
    stop = threading.Event()
    hub = FakeHub({digest(n): () for n in range(1, 5)}, before_call=lambda h, c: stop.set())
    totals, sink = execute(hub, [decision(n) for n in range(1, 5)], batch_size=2, stop=stop)
    final = sink.final()
    assert [final[digest(n)] for n in range(1, 5)] == ["deleted"] * 2 + ["not_attempted"] * 2
    assert totals.interrupted and set(hub.images) == {digest(3), digest(4)}


def test_a_200_whose_metrics_say_fewer_deletes_is_rechecked() -> None:
    hub = FakeHub({digest(1): (), digest(2): ()}, apply=False)
    hub.metrics = lambda call, manifests, tags: DeleteMetrics()  # 0 deletes, nothing deleted
    totals, sink = execute(hub, [decision(1), decision(2)])
    assert sink.final() == {digest(1): "error", digest(2): "error"}
    assert "reported 0 manifest delete(s) for 2 image(s)" in sink.detail(digest(1))
    assert totals.deleted == 0 and totals.hub_metrics == HubMetrics()


def test_inflated_metrics_are_rechecked_and_bounded_by_what_was_sent() -> None:
    hub = FakeHub({digest(1): ("v1",), digest(2): ()})
    hub.metrics = lambda call, manifests, tags: DeleteMetrics(1_999_998, 0, 5, 0)
    plan = [decision(1, tags=["v1"], current_tag="delete"), decision(2)]
    totals, sink = execute(hub, plan)
    assert sink.final() == {digest(1): "deleted", digest(2): "deleted"}
    assert "more than the 2 image(s) sent hold" in sink.detail(digest(2))
    assert totals.hub_metrics == HubMetrics(manifest_deletes=2, tag_deletes=1)
