"""The background service: APScheduler runs each scheduled policy through the one run path
(``janitor.engine.run_policy``, as `janitor run` does), the weekly report on its own cron, and
a maintenance job.

Jobs live in APScheduler's memory job store and are rebuilt from the policies at start-up and on
reload (the policy files are the truth, not a scheduler table). Every job has ``coalesce=True``
(fires missed during a pause run once), ``max_instances=1`` and a ``misfire_grace_time``.

Where several replicas share a store, a fire runs once: see :mod:`janitor.service.claims`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from starlette.applications import Starlette

from janitor import __version__
from janitor.config import Settings
from janitor.engine import (
    PolicyBusy,
    RunContext,
    lease_name,
    owner_id,
    recover_stale_runs,
    run_policy,
    utcnow,
)
from janitor.errors import JanitorError
from janitor.hub.client import HubClient
from janitor.notify import known_targets, retry_notifications
from janitor.policy import Policy, PolicyLoadError
from janitor.records import RunRecord
from janitor.report.mail import Mailer
from janitor.reporting import deliver, retry_outbox, write_weekly_report
from janitor.service.access import Access
from janitor.service.claims import claim_fire
from janitor.service.dashboard import DashboardSource
from janitor.service.firetimes import (
    cron_trigger,
    fire_key,
    latest_fire_time,
    next_fire_times,
    report_trigger,
)
from janitor.service.http import Health, HttpServer, create_http_app
from janitor.service.metrics import ServiceMetrics
from janitor.store import Store, StoreError

log = logging.getLogger("janitor.service")

POLICY_JOB_PREFIX = "policy:"
START_JOB_PREFIX = "start:"
WEEKLY_JOB = "weekly-report"
MAINTENANCE_JOB = "maintenance"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_STATE_NAMES = {STATE_RUNNING: "running", STATE_PAUSED: "paused", STATE_STOPPED: "stopped"}


@dataclass(frozen=True)
class ServiceOptions:
    host: str = "0.0.0.0"  # a service in a container listens on every interface
    port: int | None = None  # None: settings.http_port; 0: any free port
    http: bool = True
    once_at_start: bool = False
    misfire_grace_seconds: int = 3600
    """A fire missed (the process paused, the machine slept) still runs within this time; fires
    missed together coalesce into one run."""
    maintenance_seconds: float = 60.0
    shutdown_grace_seconds: float = 60.0
    running_lease_ttl: timedelta | None = None
    """None: a little longer than settings.stale_after_seconds (see engine.running_lease_ttl)."""
    max_workers: int = 16
    fire_every: float | None = None
    """A seam for tests and demos: fire every scheduled policy every this many seconds (aligned
    to the epoch, so replicas agree on fire names) instead of on its cron."""


def policy_job_id(name: str) -> str:
    return POLICY_JOB_PREFIX + name


def _one_line(exc: BaseException) -> str:
    """An unexpected error as one line: its type and its message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Service:
    """The scheduler, its jobs, the HTTP endpoints and the metrics of one ``janitor serve``.

    ``load_policies`` is called on reload (SIGHUP); whatever it raises keeps the current set.
    ``clock`` is used for fire names, leases and records; the scheduler itself fires on the real
    clock.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        hub_factory: Callable[[], HubClient],
        load_policies: Callable[[], list[Policy]],
        mailer: Mailer | None = None,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        options: ServiceOptions | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub_factory = hub_factory
        self.load_policies = load_policies
        self.mailer = mailer
        self.clock = clock
        self.owner = owner or owner_id()
        self.options = options or ServiceOptions()
        self.report_trigger: CronTrigger = report_trigger(settings.report_schedule)
        self.metrics = ServiceMetrics()
        self.http: HttpServer | None = None
        self._policies: dict[str, Policy] = {}
        self._lock = threading.Lock()
        self._in_flight: dict[str, threading.Event] = {}  # policy name -> its run's stop event
        self._accepting = False
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(self.options.max_workers)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.options.misfire_grace_seconds,
            },
        )

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def policies(self) -> dict[str, Policy]:
        with self._lock:
            return dict(self._policies)

    @property
    def scheduler(self) -> BackgroundScheduler:
        return self._scheduler

    def start(self, policies: Sequence[Policy]) -> None:
        """Clean up after a previous life of this process, schedule the jobs, start the
        scheduler and the HTTP server. Raises StoreError/JanitorError when it cannot."""
        now = self.clock()
        mine = self.store.mark_stale_runs_interrupted(
            now=now,
            stale_after=timedelta(seconds=self.settings.stale_after_seconds),
            owner=self.owner,
        )
        for run_id in mine:
            record = self.store.get_run(run_id)
            log.warning(
                "run %d (policy %s, owner %s) was left running by a process that stopped: "
                "marked interrupted",
                run_id,
                record.policy if record else "?",
                record.owner if record else "?",
            )
        self._accepting = True
        self._install(policies)
        self._scheduler.add_job(
            self._weekly_job,
            trigger=self.report_trigger,
            id=WEEKLY_JOB,
            name="weekly report",
            replace_existing=True,
        )
        self._scheduler.add_job(
            self._maintenance_job,
            trigger="interval",
            seconds=self.options.maintenance_seconds,
            id=MAINTENANCE_JOB,
            name="maintenance",
            misfire_grace_time=max(1, int(self.options.maintenance_seconds)),
            replace_existing=True,
        )
        self.metrics.refresh_last_success(self.store, self.policies)
        if self.options.http:
            port = self.settings.http_port if self.options.port is None else self.options.port
            self.http = HttpServer(self._http_app(), self.options.host, port)
            self.http.start()  # before the scheduler: a port in use fails before any run
        try:
            self._scheduler.start()
        except BaseException:
            if self.http is not None:
                self.http.stop()
            raise
        self.metrics.scheduler_running.set(1)
        if self.options.once_at_start:
            for name in self.policies:
                self._scheduler.add_job(
                    self._start_job,
                    args=[name],
                    id=START_JOB_PREFIX + name,
                    name=f"policy {name} at start",
                    misfire_grace_time=None,
                )
        weekly = next_fire_times(self.report_trigger, self.clock(), 1)
        log.info(
            "janitor %s serving: %d policies (%d scheduled), weekly report %r (UTC, next %s), "
            "store %s, owner %s",
            __version__,
            len(self._policies),
            self._scheduled_count(),
            self.settings.report_schedule,
            _iso(weekly[0]) if weekly else "never",
            getattr(self.store, "display_url", "?"),
            self.owner,
            extra={"event": "started"},
        )

    def _http_app(self) -> Starlette:
        """/healthz, /metrics and the dashboard, behind the access rules for this address."""
        access = Access.decide(
            self.options.host, self.settings.http_token, metrics_auth=self.settings.metrics_auth
        )
        if access.dashboard_refused:
            log.warning("%s", access.dashboard_refused, extra={"event": "dashboard_refused"})
        source = DashboardSource(
            store=self.store,
            policies=lambda: self.policies,
            report_schedule=self.settings.report_schedule,
            report_to=self.settings.report_to,
            clock=self.clock,
        )
        return create_http_app(self.health, self.metrics, access=access, dashboard=source)

    def stop(self, grace: float | None = None, *, force: threading.Event | None = None) -> bool:
        """Stop taking new runs, ask runs in flight to stop after their current batch (they are
        recorded as interrupted), shut the scheduler down and the HTTP server. Waits at most
        ``grace`` seconds (or until ``force`` is set) for runs in flight; returns True when
        everything finished in time. Runs still going then are marked interrupted."""
        grace = self.options.shutdown_grace_seconds if grace is None else grace
        with self._lock:
            self._accepting = False
            in_flight = dict(self._in_flight)
        if self._scheduler.state == STATE_RUNNING:
            self._scheduler.pause()
        for event in in_flight.values():
            event.set()
        log.info(
            "stopping: no new runs; %d run(s) in flight asked to stop after their current batch%s",
            len(in_flight),
            f" ({', '.join(sorted(in_flight))})" if in_flight else "",
            extra={"event": "stopping"},
        )
        done = threading.Event()

        def shut_down() -> None:
            if self._scheduler.state != STATE_STOPPED:
                self._scheduler.shutdown(wait=True)
            done.set()

        threading.Thread(target=shut_down, name="janitor-shutdown", daemon=True).start()
        deadline = threading.Event()
        timer = threading.Timer(grace, deadline.set)
        timer.daemon = True
        timer.start()
        while not done.wait(0.1):
            if deadline.is_set() or (force is not None and force.is_set()):
                break
        timer.cancel()
        self.metrics.scheduler_running.set(0)
        clean = done.is_set()
        if not clean:
            with self._lock:
                left = sorted(self._in_flight)
            why = (
                "asked again to stop"
                if force is not None and force.is_set()
                else f"runs still in flight after {grace:.0f} s"
            )
            log.error(
                "%s (%s): marking them interrupted and exiting without waiting",
                why,
                ", ".join(left) or "none",
            )
            try:
                self.store.mark_stale_runs_interrupted(
                    now=self.clock(), stale_after=timedelta(days=36500), owner=self.owner
                )
            except StoreError as exc:
                log.error("could not mark the runs interrupted: %s", exc)
        if self.http is not None:
            self.http.stop()
        log.info("stopped%s", "" if clean else " (forced)", extra={"event": "stopped"})
        return clean

    def reload(self) -> bool:
        """Reload the policies; keep the current set (and log why) if the new one cannot be
        loaded or scheduled, whatever the failure: the service stays whole. Returns whether the
        new set was installed."""
        try:
            policies = self.load_policies()
            for policy in policies:  # every trigger builds before any job changes
                if policy.schedule is not None:
                    self.trigger_for(policy)
        except PolicyLoadError as exc:
            for error in exc.errors:
                log.error("reload refused: %s", error, extra={"event": "reload_error"})
            self._refuse_reload(f"{len(exc.errors)} policy error(s)")
            return False
        except JanitorError as exc:
            self._refuse_reload(f"the policies could not be read: {exc}")
            return False
        except Exception as exc:  # a loader's bug must not take the service down
            self._refuse_reload(f"the policies could not be read: {_one_line(exc)}")
            log.debug("traceback", exc_info=True)
            return False
        before = self.policies
        try:
            self._install(policies)
        except Exception as exc:
            self._install(list(before.values()))
            self._refuse_reload(f"the policies could not be scheduled: {_one_line(exc)}")
            log.debug("traceback", exc_info=True)
            return False
        after = set(self.policies)
        log.info(
            "policies reloaded: %d policies (%d scheduled)%s%s",
            len(after),
            self._scheduled_count(),
            f"; added {', '.join(sorted(after - set(before)))}" if after - set(before) else "",
            f"; removed {', '.join(sorted(set(before) - after))}" if set(before) - after else "",
            extra={"event": "reloaded"},
        )
        return True

    def _refuse_reload(self, why: str) -> None:
        self.metrics.reload_failures.inc()
        log.error(
            "reload refused (%s): keeping the %d policies loaded before",
            why,
            len(self._policies),
            extra={"event": "reload_refused"},
        )

    def _install(self, policies: Sequence[Policy]) -> None:
        """Make the scheduler's policy jobs match ``policies``."""
        new = {p.name: p for p in policies}
        with self._lock:
            self._policies = new
        for job in self._scheduler.get_jobs():
            name = job.id.removeprefix(POLICY_JOB_PREFIX)
            if job.id.startswith(POLICY_JOB_PREFIX) and (
                name not in new or new[name].schedule is None
            ):
                job.remove()
        for policy in new.values():
            if policy.schedule is None:
                log.info(
                    "policy %s has no schedule: it runs only with `janitor run`",
                    policy.name,
                    extra={"policy": policy.name},
                )
                continue
            trigger = self.trigger_for(policy)
            self._scheduler.add_job(
                self._policy_job,
                trigger=trigger,
                args=[policy.name],
                id=policy_job_id(policy.name),
                name=f"policy {policy.name}",
                replace_existing=True,
            )
            upcoming = next_fire_times(trigger, self.clock(), 1)
            log.info(
                "policy %s scheduled: %r in %s, %s, next fire %s",
                policy.name,
                policy.schedule,
                policy.timezone,
                "deletes (mode: delete)" if policy.mode == "delete" else "dry runs",
                _iso(upcoming[0]) if upcoming else "never",
                extra={"policy": policy.name},
            )
        self.metrics.track_policies(new)
        self.metrics.policies_loaded.set(len(new))
        self.metrics.policies_scheduled.set(self._scheduled_count())

    def trigger_for(self, policy: Policy) -> BaseTrigger:
        """The policy's trigger: its cron in its timezone (or the ``fire_every`` seam)."""
        if policy.schedule is None:
            raise ValueError(f"policy {policy.name!r} has no schedule")
        if self.options.fire_every is not None:
            return IntervalTrigger(seconds=self.options.fire_every, start_date=_EPOCH, timezone=UTC)
        return cron_trigger(policy.schedule, policy.timezone)

    def _scheduled_count(self) -> int:
        with self._lock:
            return sum(1 for p in self._policies.values() if p.schedule is not None)

    # ---------------------------------------------------------------------------------- jobs

    def fire_now(self, job_id: str) -> None:
        """Make a job fire now (its trigger then goes on as before): for tests and operators."""
        self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    def _policy_job(self, name: str) -> RunRecord | None:
        try:
            return self.run_scheduled(name)
        except Exception as exc:  # a job must never take the scheduler down
            log.error("policy %s: the scheduled run could not be done: %s", name, exc)
            log.debug("traceback", exc_info=True)
            return None

    def run_scheduled(self, name: str) -> RunRecord | None:
        """One scheduled fire of policy ``name``: claim it, run it, report it. None when this
        replica does not run it (claimed elsewhere, still running, stopping, policy gone)."""
        policy = self.policies.get(name)
        if policy is None or policy.schedule is None or not self._accepting:
            return None
        now = self.clock()
        fire = latest_fire_time(self.trigger_for(policy), now) or now.replace(microsecond=0)
        key = fire_key(policy_job_id(name), fire)
        if not claim_fire(self.store, key, self.owner, now=now):
            log.info(
                "skipped: another replica runs policy %s (fire %s)",
                name,
                _iso(fire),
                extra={"policy": name, "event": "skipped"},
            )
            self.metrics.fires_skipped.labels(name, "claimed").inc()
            return None
        log.info(
            "policy %s: fire %s claimed by this replica",
            name,
            _iso(fire),
            extra={"policy": name, "event": "claimed"},
        )
        return self._run(policy, trigger="schedule", fire=_iso(fire))

    def _start_job(self, name: str) -> RunRecord | None:
        policy = self.policies.get(name)
        if policy is None or not self._accepting:
            return None
        try:
            return self._run(policy, trigger="manual", fire="start")
        except Exception as exc:
            log.error("policy %s: the run at start could not be done: %s", name, exc)
            log.debug("traceback", exc_info=True)
            return None

    def _run(self, policy: Policy, *, trigger: str, fire: str) -> RunRecord | None:
        """Run ``policy`` through the one run path unless a run of it is in flight, here
        (checked in memory) or in another process (its running lease); then count it."""
        name = policy.name
        stop = threading.Event()
        with self._lock:
            if not self._accepting:
                return None
            busy = name in self._in_flight
            if not busy:
                self._in_flight[name] = stop
        if busy:
            self._skip_running(name, fire)
            return None
        self.metrics.runs_in_progress.inc()
        try:
            done = run_policy(
                self._context(stop), policy, trigger=trigger, mailer=self.mailer, service=True
            )
        except PolicyBusy:
            self._skip_running(name, fire)
            return None
        finally:
            self.metrics.runs_in_progress.dec()
            with self._lock:
                del self._in_flight[name]
        self.metrics.observe_run(done.record)
        if done.report is not None:
            self.metrics.reports_written.labels("run").inc()
        return done.record

    def _skip_running(self, name: str, fire: str) -> None:
        log.info(
            "skipped: policy %s is still running (here or on another replica); fire %s",
            name,
            fire,
            extra={"policy": name, "event": "skipped"},
        )
        self.metrics.fires_skipped.labels(name, "running").inc()

    def _context(self, stop: threading.Event) -> RunContext:
        return RunContext(
            settings=self.settings,
            store=self.store,
            hub_factory=self.hub_factory,
            clock=self.clock,
            stop=stop,
            owner=self.owner,
            lease_ttl=self.options.running_lease_ttl,
        )

    def _weekly_job(self) -> Path | None:
        try:
            return self.weekly_report()
        except Exception as exc:
            log.error("the weekly report could not be made: %s", exc)
            log.debug("traceback", exc_info=True)
            return None

    def weekly_report(self) -> Path | None:
        """Write the weekly report for the week ending at the latest fire of the report
        schedule, and mail it to JANITOR_REPORT_TO; once across replicas."""
        if not self._accepting:
            return None
        now = self.clock()
        fire = latest_fire_time(self.report_trigger, now) or now.replace(microsecond=0)
        if not claim_fire(self.store, fire_key(WEEKLY_JOB, fire), self.owner, now=now):
            log.info(
                "skipped: another replica writes the weekly report (fire %s)",
                _iso(fire),
                extra={"event": "skipped"},
            )
            return None
        report, path = write_weekly_report(
            self.store,
            self.settings.report_dir,
            since=fire - timedelta(days=7),
            until=fire,
            now=now,
        )
        self.metrics.reports_written.labels("weekly").inc()
        log.info("weekly report written: %s", path, extra={"event": "weekly_report"})
        if path is not None:
            deliver(
                self.store,
                self.mailer,
                report,
                list(self.settings.report_to),
                kind="weekly",
                run_id=None,
                html_path=path,
                now=now,
                notify=self.settings.notify,
                public_url=self.settings.public_url,
            )
        return path

    def _maintenance_job(self) -> None:
        try:
            self.maintenance()
        except Exception as exc:
            log.error("maintenance failed: %s", exc)
            log.debug("traceback", exc_info=True)

    def maintenance(self) -> list[int]:
        """Mark runs of dead processes interrupted, retry queued mail and notifications (one
        replica at a time), refresh the last-success gauges. Returns the runs marked
        interrupted."""
        ctx = self._context(threading.Event())
        recovered = recover_stale_runs(ctx)
        targets = known_targets(self.policies.values(), self.settings)
        if (self.mailer is not None or targets) and self.store.try_acquire_lease(
            lease_name("maintenance", "outbox"),
            self.owner,
            ttl=timedelta(seconds=max(30.0, self.options.maintenance_seconds * 0.9)),
            now=self.clock(),
        ):
            if self.mailer is not None:
                sent = retry_outbox(self.store, self.mailer, now=self.clock())
                if sent:
                    log.info("sent %d queued report(s)", sent)
            if retry_notifications(self.store, targets, now=self.clock()):
                log.info("sent queued notifications")
        self.metrics.refresh_last_success(self.store, self.policies)
        return recovered

    # ---------------------------------------------------------------------------- operability

    def health(self) -> Health:
        state = _STATE_NAMES.get(self._scheduler.state, "unknown")
        details: dict[str, object] = {"scheduler": state}
        healthy = state == "running" and self._accepting
        if not self._accepting and state != "stopped":
            details["scheduler"] = "stopping"
        try:
            self.store.ping()
            details["store"] = "ok"
        except StoreError as exc:
            details["store"] = "unreachable"
            details["store_error"] = str(exc)
            healthy = False
        with self._lock:
            details["policies"] = len(self._policies)
            details["scheduled"] = sum(1 for p in self._policies.values() if p.schedule)
            details["running"] = sorted(self._in_flight)
        details["owner"] = self.owner
        details["version"] = __version__
        return Health(healthy, details)

    def next_fires(self) -> dict[str, datetime | None]:
        """Each job's next fire time as APScheduler has it (UTC)."""
        return {
            job.id: (job.next_run_time.astimezone(UTC) if job.next_run_time else None)
            for job in self._scheduler.get_jobs()
        }


__all__ = [
    "MAINTENANCE_JOB",
    "WEEKLY_JOB",
    "Service",
    "ServiceOptions",
    "policy_job_id",
]
