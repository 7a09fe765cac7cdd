"""Prometheus metrics of the service, on a registry of its own (never the global one, so
several services, or tests, in one process do not collide).

Counters count what this process did; ``janitor_last_success_timestamp_seconds`` is read from
the store (at start and by the maintenance job), so every replica reports the same last success
whoever ran it.

Names follow Prometheus' naming advice: base units in the name (``janitor_reclaimed_bytes_total``),
``_total`` on counters, a ``janitor_build_info`` gauge of 1 carrying the version as labels, and no
``*_created`` series (prometheus_client adds one per counter and histogram child by default; they
double the series for no use here).
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from janitor import __version__
from janitor.records import RunRecord
from janitor.store import Store

_STATUSES = ("succeeded", "failed", "interrupted")

# A process-wide switch of prometheus_client; janitor exposes only its own registry.
disable_created_metrics()


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._last_success: dict[str, float] = {}
        r = self.registry
        self.runs = Counter(
            "janitor_runs", "Runs finished by this process, by policy and status.",
            ["policy", "status"], registry=r,
        )  # fmt: skip
        self.deleted = Counter(
            "janitor_images_deleted", "Images Hub confirmed deleted.", ["policy"], registry=r
        )
        self.would_delete = Counter(
            "janitor_images_would_delete", "Images dry runs would have deleted.", ["policy"],
            registry=r,
        )  # fmt: skip
        self.image_errors = Counter(
            "janitor_image_errors", "Images Hub answered an error for.", ["policy"], registry=r
        )
        self.build_info = Gauge(
            "janitor_build_info", "Always 1; the labels say which janitor runs.",
            ["version", "python"], registry=r,
        )  # fmt: skip
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.bytes_reclaimed = Counter(
            "janitor_reclaimed_bytes", "Bytes freed by deleted images (where sizes are known).",
            ["policy"], registry=r,
        )  # fmt: skip
        self.hub_calls = Counter(
            "janitor_hub_calls", "Docker Hub API calls made by runs.", ["policy"], registry=r
        )
        self.hub_rate_limited = Counter(
            "janitor_hub_rate_limited", "Docker Hub answers 429 (rate limited) seen by runs.",
            ["policy"], registry=r,
        )  # fmt: skip
        self.run_duration = Histogram(
            "janitor_run_duration_seconds", "How long runs took.", ["policy"], registry=r,
            buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600),
        )  # fmt: skip
        self.last_success = Gauge(
            "janitor_last_success_timestamp_seconds",
            "When the policy's last succeeded run finished (unix time; any replica's run).",
            ["policy"], registry=r,
        )  # fmt: skip
        self.fires_skipped = Counter(
            "janitor_fires_skipped",
            "Scheduled fires this replica did not run: claimed by another replica, or the "
            "policy was still running.",
            ["policy", "reason"], registry=r,
        )  # fmt: skip
        self.runs_in_progress = Gauge(
            "janitor_runs_in_progress", "Runs this process has in flight.", registry=r
        )
        self.policies_loaded = Gauge(
            "janitor_policies_loaded", "Policies the service has loaded.", registry=r
        )
        self.policies_scheduled = Gauge(
            "janitor_policies_scheduled", "Loaded policies that have a schedule.", registry=r
        )
        self.reload_failures = Counter(
            "janitor_policy_reload_failures",
            "Reloads refused because the new policies were invalid.", registry=r,
        )  # fmt: skip
        self.reports_written = Counter(
            "janitor_reports_written", "Reports written, by kind (run, weekly).", ["kind"],
            registry=r,
        )  # fmt: skip
        self.scheduler_running = Gauge(
            "janitor_scheduler_running", "1 while the scheduler runs.", registry=r
        )

    def track_policies(self, names: Iterable[str]) -> None:
        """Create the series of each policy at zero, so a rate() has a start."""
        for name in names:
            for status in _STATUSES:
                self.runs.labels(name, status)
            for counter in (
                self.deleted,
                self.would_delete,
                self.image_errors,
                self.bytes_reclaimed,
                self.hub_calls,
                self.hub_rate_limited,
            ):
                counter.labels(name)

    def observe_run(self, record: RunRecord) -> None:
        m = record.metrics
        policy = record.policy
        self.runs.labels(policy, record.status).inc()
        self.deleted.labels(policy).inc(m.deleted)
        self.would_delete.labels(policy).inc(m.would_delete)
        self.image_errors.labels(policy).inc(m.errors)
        if m.bytes_reclaimed:
            self.bytes_reclaimed.labels(policy).inc(m.bytes_reclaimed)
        self.hub_calls.labels(policy).inc(m.hub_calls)
        self.hub_rate_limited.labels(policy).inc(m.hub_rate_limited)
        if record.duration_seconds is not None:
            self.run_duration.labels(policy).observe(max(record.duration_seconds, 0.0))
        if record.status == "succeeded" and record.finished_at is not None:
            self._set_last_success(policy, record.finished_at.timestamp())

    def _set_last_success(self, policy: str, value: float) -> None:
        # Never move it backwards when a store read races a run's own update.
        with self._lock:
            if value > self._last_success.get(policy, 0.0):
                self._last_success[policy] = value
                self.last_success.labels(policy).set(value)

    def refresh_last_success(self, store: Store, policies: Iterable[str]) -> None:
        """Read each policy's last succeeded run from the store (any replica's)."""
        for name in policies:
            latest = store.list_runs(policy=name, status="succeeded", limit=1)
            if latest and latest[0].finished_at is not None:
                self._set_last_success(name, latest[0].finished_at.timestamp())

    def render(self) -> bytes:
        return generate_latest(self.registry)
