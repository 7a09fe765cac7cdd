"""Runs and their decisions: lifecycle, queries, time zones, bulk writes, stale runs."""

from __future__ import annotations

import logging
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import get_args

import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.pool import NullPool

from janitor.records import DecisionRecord, HubMetrics, Outcome, RunMetrics, RunStatus
from janitor.store import Store, StoreError

from .factories import T0, at, decision, start

METRICS = RunMetrics(**{f.name: 10 + i for i, f in enumerate(fields(RunMetrics))})
HUB_METRICS = HubMetrics(**{f.name: 100 + i for i, f in enumerate(fields(HubMetrics))})


def test_run_lifecycle(store: Store) -> None:
    run_id = start(store)
    running = store.get_run(run_id)
    assert running is not None
    assert (running.status, running.policy, running.namespace) == ("running", "nightly", "acme")
    assert (running.trigger, running.dry_run, running.backend) == ("cli", False, "delete-images")
    assert running.started_at == T0 and running.heartbeat_at == T0
    assert running.owner == "host-a:100"
    assert running.finished_at is None and running.duration_seconds is None
    assert running.metrics == RunMetrics() and running.hub_metrics == HubMetrics()

    store.add_decisions(
        run_id,
        [
            decision("web", 1),
            decision("web", 2),
            decision("api", 3, verdict="keep", outcome="kept", reasons=("kept by most_recent",)),
        ],
    )
    store.heartbeat(run_id, at(5))
    store.set_outcomes(
        run_id,
        [
            ("web", decision(n=1).digest, "deleted", None),
            ("web", decision(n=2).digest, "skipped_warning", "current_tag: latest"),
        ],
    )
    finished = store.finish_run(
        run_id,
        status="succeeded",
        finished_at=at(10),
        metrics=METRICS,
        hub_metrics=HUB_METRICS,
        report_path="/reports/run-1.html",
    )
    assert finished.status == "succeeded" and finished.error is None
    assert finished.finished_at == at(10) and finished.heartbeat_at == at(5)
    assert finished.duration_seconds == 600
    assert finished.metrics == METRICS and finished.hub_metrics == HUB_METRICS
    assert finished.report_path == "/reports/run-1.html"
    assert store.get_run(run_id) == finished

    stored = list(store.decisions(run_id))
    assert [(d.repository, d.outcome, d.detail) for d in stored] == [
        ("api", "kept", None),
        ("web", "deleted", None),
        ("web", "skipped_warning", "current_tag: latest"),
    ]
    assert stored[1] == replace(decision("web", 1), outcome="deleted", run_id=run_id)


def test_failed_run_keeps_its_error_and_report_path_can_come_later(store: Store) -> None:
    run_id = start(store)
    record = store.finish_run(
        run_id,
        status="failed",
        finished_at=at(1),
        metrics=RunMetrics(bytes_reclaimed=None, bytes_planned=5 * 2**40),
        hub_metrics=HubMetrics(),
        error="Hub answered 403: plan without image management",
    )
    assert record.status == "failed"
    assert record.error == "Hub answered 403: plan without image management"
    assert record.metrics.bytes_reclaimed is None
    assert record.metrics.bytes_planned == 5 * 2**40  # needs BIGINT
    assert record.report_path is None
    store.set_report_path(run_id, "/reports/run.html")
    got = store.get_run(run_id)
    assert got is not None and got.report_path == "/reports/run.html"


@pytest.mark.parametrize("status", [s for s in get_args(RunStatus) if s != "running"])
def test_every_final_status_is_accepted(store: Store, status: RunStatus) -> None:
    run_id = start(store)
    record = store.finish_run(
        run_id, status=status, finished_at=at(1), metrics=RunMetrics(), hub_metrics=HubMetrics()
    )
    assert record.status == status


def test_finishing_as_running_is_refused(store: Store) -> None:
    run_id = start(store)
    with pytest.raises(ValueError, match="status"):
        store.finish_run(
            run_id,
            status="running",
            finished_at=at(1),
            metrics=RunMetrics(),
            hub_metrics=HubMetrics(),
        )


def test_unknown_run_ids(store: Store) -> None:
    assert store.get_run(404) is None
    with pytest.raises(StoreError, match="run 404 is not in the store"):
        store.heartbeat(404, at(1))
    with pytest.raises(StoreError, match="run 404"):
        store.finish_run(
            404, status="failed", finished_at=at(1), metrics=RunMetrics(), hub_metrics=HubMetrics()
        )
    with pytest.raises(StoreError, match="run 404"):
        store.set_report_path(404, "/x.html")
    with pytest.raises(StoreError, match="run 404"):
        store.add_decisions(404, [decision()])
    assert list(store.decisions(404)) == []
    assert store.repository_summary(404) == []


def test_list_runs_filters_and_order(store: Store) -> None:
    ids = {
        "a1": start(store, policy="a", namespace="acme", started_at=at(days=1)),
        "a2": start(store, policy="a", namespace="acme", started_at=at(days=2)),
        "b1": start(store, policy="b", namespace="other", started_at=at(days=3)),
        "a3": start(store, policy="a", namespace="acme", started_at=at(days=4)),
    }
    store.finish_run(
        ids["a2"],
        status="failed",
        finished_at=at(days=2, minutes=1),
        metrics=RunMetrics(),
        hub_metrics=HubMetrics(),
        error="boom",
    )

    def listed(**kwargs: object) -> list[int]:
        return [r.id for r in store.list_runs(**kwargs)]  # type: ignore[arg-type]

    assert listed() == [ids["a3"], ids["b1"], ids["a2"], ids["a1"]]
    assert listed(policy="a") == [ids["a3"], ids["a2"], ids["a1"]]
    assert listed(namespace="other") == [ids["b1"]]
    assert listed(status="failed") == [ids["a2"]]
    assert listed(status="running", policy="a") == [ids["a3"], ids["a1"]]
    # since inclusive, until exclusive
    assert listed(since=at(days=2), until=at(days=4)) == [ids["b1"], ids["a2"]]
    assert listed(limit=2) == [ids["a3"], ids["b1"]]
    assert listed(limit=None, policy="nobody") == []
    # same start time: the newer id first
    same = start(store, policy="a", started_at=at(days=4))
    assert listed(policy="a", limit=2) == [same, ids["a3"]]


def test_datetimes_come_back_utc_aware_whatever_went_in(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 1, 14, 0, 0, 123456, tzinfo=plus_two)  # 12:00:00.123456 UTC
    run_id = start(store, started_at=local)
    store.add_decisions(
        run_id,
        [
            decision(n=1, last_pushed=local, last_pulled=None),
            decision(n=2, last_pushed=None, last_pulled=datetime(1, 1, 1, tzinfo=UTC)),
        ],
    )
    record = store.get_run(run_id)
    assert record is not None
    assert record.started_at == local
    assert record.started_at.tzinfo is UTC and record.started_at.hour == 12
    assert record.started_at.microsecond == 123456
    first, second = store.decisions(run_id)
    assert first.last_pushed == local and first.last_pushed is not None
    assert first.last_pushed.tzinfo is UTC
    assert first.last_pulled is None  # never pulled stays None, not a sentinel date
    assert second.last_pushed is None
    assert second.last_pulled == datetime(1, 1, 1, tzinfo=UTC)


@pytest.mark.postgres
def test_postgres_session_time_zone_does_not_leak(postgres_url: str) -> None:
    """PostgreSQL answers in the session's time zone; the store still hands back UTC."""
    tokyo = make_url(postgres_url).update_query_dict({"options": "-c timezone=Asia/Tokyo"})
    with Store(tokyo.render_as_string(hide_password=False)) as store:
        run_id = start(store)
        record = store.get_run(run_id)
        assert record is not None
        assert record.started_at == T0 and record.started_at.tzinfo is UTC
        assert store.list_runs(since=T0, until=T0 + timedelta(seconds=1))[0].id == run_id


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        start(store, started_at=datetime(2026, 1, 1))
    run_id = start(store)
    with pytest.raises(ValueError, match="naive datetime"):
        store.add_decisions(run_id, [decision(last_pulled=datetime(2026, 1, 1))])
    with pytest.raises(ValueError, match="naive datetime"):
        store.list_runs(since=datetime(2026, 1, 1))
    assert list(store.decisions(run_id)) == []


def test_every_outcome_of_the_records_contract_can_be_stored(store: Store) -> None:
    run_id = start(store)
    outcomes = get_args(Outcome)
    store.add_decisions(run_id, [decision(n=i, outcome=o) for i, o in enumerate(outcomes)])
    assert store.outcome_counts(run_id) == dict.fromkeys(outcomes, 1)


def test_bad_values_are_refused_before_anything_is_stored(store: Store) -> None:
    run_id = start(store)
    with pytest.raises(ValueError, match="unknown outcome 'gone'"):
        store.add_decisions(run_id, [decision(n=1), decision(n=2, outcome="gone")])
    with pytest.raises(ValueError, match="unknown verdict"):
        store.add_decisions(run_id, [decision(verdict="maybe")])
    with pytest.raises(ValueError, match="belongs to run"):
        store.add_decisions(run_id, [decision(run_id=run_id + 1)])
    with pytest.raises(ValueError, match="unknown outcome"):
        store.set_outcomes(run_id, [("app", decision().digest, "vanished", None)])  # type: ignore[list-item]
    assert list(store.decisions(run_id)) == []


def test_a_duplicate_image_fails_the_whole_batch(store: Store) -> None:
    run_id = start(store)
    with pytest.raises(StoreError, match=r"storing run \d+'s decisions"):
        store.add_decisions(run_id, [decision(n=1), decision(n=2), decision(n=1)])
    assert list(store.decisions(run_id)) == []


def test_decisions_filters_and_order(store: Store) -> None:
    run_id = start(store)
    store.add_decisions(
        run_id,
        [
            decision("zeta", 1),
            decision("alpha", 9),
            decision("alpha", 3, verdict="keep", outcome="kept"),
            decision("mid", 2, tags=(), reasons=()),
        ],
    )
    assert [(d.repository, d.digest[-1]) for d in store.decisions(run_id)] == [
        ("alpha", "3"),
        ("alpha", "9"),
        ("mid", "2"),
        ("zeta", "1"),
    ]
    assert [d.digest[-1] for d in store.decisions(run_id, verdict="keep")] == ["3"]
    assert [d.digest[-1] for d in store.decisions(run_id, outcome="pending")] == ["9", "2", "1"]
    first, *_ = store.decisions(run_id, outcome="pending", verdict="delete")
    assert first.repository == "alpha"
    (untagged,) = [d for d in store.decisions(run_id) if d.repository == "mid"]
    assert untagged.tags == () and untagged.reasons == ()


def test_set_outcomes_last_wins_and_unknown_images_are_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = start(store)
    other = start(store)
    store.add_decisions(run_id, [decision(n=1), decision(n=2)])
    store.add_decisions(other, [decision(n=3)])
    d1, d2, d3 = (decision(n=n).digest for n in (1, 2, 3))
    with caplog.at_level(logging.WARNING, logger="janitor.store"):
        store.set_outcomes(
            run_id,
            [
                ("app", d1, "sending", None),
                ("app", d1, "deleted", None),
                ("app", d2, "error", "not_found"),
                ("app", d3, "deleted", None),  # an image of another run
            ],
        )
    assert [(d.outcome, d.detail) for d in store.decisions(run_id)] == [
        ("deleted", None),
        ("error", "not_found"),
    ]
    assert [d.outcome for d in store.decisions(other)] == ["pending"]
    (warning,) = [r for r in caplog.records if r.name == "janitor.store"]
    assert f"app@{d3}" in warning.getMessage() and "1 outcome(s)" in warning.getMessage()


def test_outcome_counts_and_repository_summary(store: Store) -> None:
    run_id = start(store)
    store.add_decisions(
        run_id,
        [
            decision("web", 1, outcome="deleted", size=100),
            decision("web", 2, outcome="deleted", size=None),
            decision("web", 3, outcome="error", detail="child_manifest"),
            decision("web", 4, verdict="keep", outcome="kept", size=10**12),
            decision("api", 5, outcome="would_delete", size=3 * 2**40),
            decision("api", 6, outcome="skipped_warning"),
            decision("api", 7, outcome="not_attempted"),
            decision("api", 8, outcome="sending"),
            decision("db", 9, verdict="keep", outcome="kept"),
            decision("db", 10, outcome="pending"),
        ],
    )
    counts = store.outcome_counts(run_id)
    assert counts == {
        "kept": 2,
        "pending": 1,
        "would_delete": 1,
        "deleted": 2,
        "skipped_warning": 1,
        "error": 1,
        "not_attempted": 1,
        "sending": 1,
        "unconfirmed": 0,
    }
    zero = dict.fromkeys(
        (
            "kept",
            "deleted",
            "would_delete",
            "skipped_warning",
            "errors",
            "pending",
            "not_attempted",
            "unconfirmed",
        ),
        0,
    )
    assert store.repository_summary(run_id) == [
        {
            **zero,
            "repository": "api",
            "images": 4,
            "would_delete": 1,
            "skipped_warning": 1,
            "not_attempted": 1,
            "unconfirmed": 1,
            "bytes": 3 * 2**40,
        },
        {**zero, "repository": "db", "images": 2, "kept": 1, "pending": 1, "bytes": None},
        {
            **zero,
            "repository": "web",
            "images": 4,
            "kept": 1,
            "deleted": 2,
            "errors": 1,
            "bytes": 100,
        },
    ]
    assert store.outcome_counts(start(store)) == dict.fromkeys(get_args(Outcome), 0)


def test_bulk_insert_of_20000_decisions(store: Store) -> None:
    run_id = start(store)

    def generate() -> object:
        for i in range(20_000):
            yield decision(
                f"repo-{i % 37}",
                i,
                verdict="delete" if i % 3 else "keep",
                outcome="pending" if i % 3 else "kept",
                last_pulled=None if i % 5 == 0 else at(days=-i % 400),
            )

    store.add_decisions(run_id, generate())  # type: ignore[arg-type]
    counts = store.outcome_counts(run_id)
    assert counts["pending"] + counts["kept"] == 20_000
    assert counts["kept"] == len(range(0, 20_000, 3))
    store.set_outcomes(
        run_id,
        ((f"repo-{i % 37}", f"sha256:{i:064x}", "deleted", None) for i in range(20_000) if i % 3),
    )
    assert store.outcome_counts(run_id)["deleted"] == counts["pending"]
    streamed = 0
    never_pulled = 0
    previous: tuple[str, str] = ("", "")
    for record in store.decisions(run_id):
        key = (record.repository, record.digest)
        assert key > previous
        previous = key
        streamed += 1
        never_pulled += record.last_pulled is None
    assert streamed == 20_000
    assert never_pulled == 4_000
    summary = store.repository_summary(run_id)
    assert len(summary) == 37 and sum(r["images"] for r in summary) == 20_000  # type: ignore[misc]


def test_a_decisions_stream_can_be_abandoned(store: Store) -> None:
    run_id = start(store)
    store.add_decisions(run_id, [decision(n=i) for i in range(5)])
    stream = store.decisions(run_id)
    assert next(stream).digest == decision(n=0).digest
    stream.close()
    assert len(list(store.decisions(run_id))) == 5


def test_stale_runs_are_marked_interrupted_by_heartbeat_age(store: Store) -> None:
    stale = start(store, started_at=at(0))
    store.heartbeat(stale, at(5))
    fresh = start(store, started_at=at(0))
    store.heartbeat(fresh, at(55))
    done = start(store, started_at=at(0))
    store.finish_run(
        done, status="succeeded", finished_at=at(1), metrics=RunMetrics(), hub_metrics=HubMetrics()
    )
    store.add_decisions(
        stale,
        [
            decision(n=1, outcome="pending"),
            decision(n=2, outcome="sending"),
            decision(n=3, outcome="deleted"),
            decision(n=4, verdict="keep", outcome="kept"),
        ],
    )
    store.add_decisions(fresh, [decision(n=1, outcome="pending")])

    marked = store.mark_stale_runs_interrupted(now=at(60), stale_after=timedelta(minutes=10))
    assert marked == [stale]
    record = store.get_run(stale)
    assert record is not None
    assert record.status == "interrupted" and record.finished_at == at(60)
    assert record.error == (
        "interrupted: the process stopped before the run finished "
        "(last heartbeat 2026-03-01T12:05:00Z)"
    )
    items = {d.digest[-1]: d for d in store.decisions(stale)}
    assert items["1"].outcome == "not_attempted" and "not attempted" in (items["1"].detail or "")
    assert items["2"].outcome == "unconfirmed" and "sent" in (items["2"].detail or "")
    assert items["3"].outcome == "deleted" and items["4"].outcome == "kept"

    assert [d.outcome for d in store.decisions(fresh)] == ["pending"]
    assert store.get_run(fresh).status == "running"  # type: ignore[union-attr]
    assert store.get_run(done).status == "succeeded"  # type: ignore[union-attr]
    # Exactly at the boundary is not stale yet; and marking twice marks nothing new.
    assert store.mark_stale_runs_interrupted(now=at(65), stale_after=timedelta(minutes=10)) == []


def test_a_restarted_owner_marks_all_its_running_runs(store: Store) -> None:
    mine = start(store, owner="host-a:100", started_at=at(0))
    mine_too = start(store, owner="host-a:100", started_at=at(59))
    theirs = start(store, owner="host-b:7", started_at=at(59))
    store.add_decisions(mine_too, [decision(n=1)])
    marked = store.mark_stale_runs_interrupted(
        now=at(60), stale_after=timedelta(hours=1), owner="host-a:100"
    )
    assert sorted(marked) == sorted([mine, mine_too])
    assert [d.outcome for d in store.decisions(mine_too)] == ["not_attempted"]
    assert store.get_run(theirs).status == "running"  # type: ignore[union-attr]


def test_close_pending_only_touches_open_items(store: Store) -> None:
    run_id = start(store)
    store.add_decisions(
        run_id,
        [
            decision(n=1, outcome="pending"),
            decision(n=2, outcome="pending"),
            decision(n=3, outcome="sending"),
            decision(n=4, outcome="error", detail="not_found"),
        ],
    )
    closed = store.close_pending(run_id, reason="not attempted: limits refuse this run")
    assert closed == {"not_attempted": 2, "unconfirmed": 1}
    assert [(d.outcome, d.detail) for d in store.decisions(run_id)][::3] == [
        ("not_attempted", "not attempted: limits refuse this run"),
        ("error", "not_found"),
    ]
    assert store.close_pending(run_id, reason="again") == {"not_attempted": 0, "unconfirmed": 0}


def test_deleting_a_run_cascades_to_its_items(db_url: str, store: Store) -> None:
    run_id = start(store)
    store.add_decisions(run_id, [decision(n=1), decision(n=2)])
    mail_id = store.add_mail(
        kind="run",
        run_id=run_id,
        recipients=["ops@example.com"],
        subject="s",
        html_path="/r.html",
        created_at=at(1),
    )
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.exec_driver_sql(f"DELETE FROM runs WHERE id = {run_id}")
    finally:
        engine.dispose()
    assert list(store.decisions(run_id)) == []
    (mail,) = store.pending_mail()
    assert mail.id == mail_id and mail.run_id is None


def test_decision_records_round_trip_field_for_field(store: Store) -> None:
    run_id = start(store)
    original = DecisionRecord(
        repository="team/service",
        digest="sha256:" + "ab" * 32,
        tags=("latest", "1.2.3", "ünïcode"),
        last_pushed=at(days=-400),
        last_pulled=at(days=-200),
        verdict="delete",
        reasons=("select 'stale': pushed 400d ago", "no keep rule matched"),
        outcome="would_delete",
        detail='dry run:\tHub said "ok"\nsecond line \\N \\ end, ünïcode',
        size=2**40 + 1,
        selected_by="stale",
    )
    store.add_decisions(run_id, [original])
    assert list(store.decisions(run_id)) == [replace(original, run_id=run_id)]


def test_in_memory_sqlite_is_shared_between_calls() -> None:
    with Store("sqlite://") as store:
        store.ensure_schema()
        run_id = start(store)
        assert store.get_run(run_id) is not None
        assert store.dialect == "sqlite"
        assert store.list_runs()[0].started_at == T0


def test_sqlite_file_in_a_missing_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "janitor.db"
    with Store(f"sqlite:///{path}") as store:
        store.ensure_schema()
        start(store)
    assert path.is_file()


def test_an_interrupted_run_counts_what_its_items_say(store: Store) -> None:
    """A process that died never wrote its metrics: recovery counts them from the items."""
    from datetime import timedelta

    from janitor.records import DecisionRecord

    started = datetime(2026, 1, 1, tzinfo=UTC)
    run_id = store.start_run(
        policy="p",
        namespace="acme",
        trigger="schedule",
        dry_run=False,
        started_at=started,
        owner="dead:1",
    )

    def item(digest: str, verdict: str, outcome: str, size: int | None) -> DecisionRecord:
        return DecisionRecord(
            repository="web" if digest < "c" else "api",
            digest=digest,
            tags=(),
            last_pushed=started,
            last_pulled=None,
            verdict=verdict,  # type: ignore[arg-type]
            reasons=("r",),
            outcome="pending" if outcome != "kept" else "kept",  # type: ignore[arg-type]
            size=size,
            selected_by="s" if verdict == "delete" else None,
        )

    store.add_decisions(
        run_id,
        [
            item("a", "delete", "x", 10),
            item("b", "delete", "x", 20),
            item("c", "delete", "x", None),
            item("d", "keep", "kept", 5),
        ],
    )
    store.set_outcomes(run_id, [("web", "a", "deleted", None), ("web", "b", "sending", None)])
    assert store.mark_stale_runs_interrupted(
        now=started + timedelta(hours=1), stale_after=timedelta(minutes=10)
    ) == [run_id]
    run = store.get_run(run_id)
    assert run is not None and run.status == "interrupted"
    m = run.metrics
    assert (m.repositories_scanned, m.images_scanned, m.candidates, m.kept) == (2, 4, 3, 1)
    assert (m.planned_deletes, m.deleted, m.errors) == (3, 1, 1)  # b is unconfirmed
    assert m.bytes_reclaimed == 10
    outcomes = {d.digest: d.outcome for d in store.decisions(run_id)}
    assert outcomes == {"a": "deleted", "b": "unconfirmed", "c": "not_attempted", "d": "kept"}
