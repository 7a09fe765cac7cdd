"""Small builders for store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from janitor.records import DecisionRecord
from janitor.store import Store

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(minutes: float = 0, *, days: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, days=days)


def decision(repository: str = "app", n: int = 0, **overrides: Any) -> DecisionRecord:
    values: dict[str, Any] = {
        "repository": repository,
        "digest": f"sha256:{n:064x}",
        "tags": (f"v{n}",),
        "last_pushed": at(days=-30 - n),
        "last_pulled": at(days=-10),
        "verdict": "delete",
        "reasons": (f"select 'old': last_pushed older than 30d (image {n})",),
        "outcome": "pending",
        "size": 1000 + n,
        "selected_by": "old",
    }
    values.update(overrides)
    return DecisionRecord(**values)


def start(store: Store, **overrides: Any) -> int:
    values: dict[str, Any] = {
        "policy": "nightly",
        "namespace": "acme",
        "trigger": "cli",
        "dry_run": False,
        "backend": "delete-images",
        "started_at": T0,
        "owner": "host-a:100",
    }
    values.update(overrides)
    return store.start_run(**values)
