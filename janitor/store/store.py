"""``Store``: janitor's record of runs, decisions, mail and leases, over SQLite or PostgreSQL.

Every method opens a connection from the engine's pool, does its work in one transaction and
commits before it returns, so a ``Store`` is safe to share between threads. Database failures come
out as ``StoreError`` with one readable line and the URL's password hidden.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal

import psycopg
from alembic import command
from alembic.util import CommandError
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError

from janitor.records import (
    DecisionRecord,
    HubMetrics,
    MailRecord,
    NotificationRecord,
    Outcome,
    OutcomeRow,
    RunMetrics,
    RunRecord,
    RunStatus,
)
from janitor.store import items, leases, mail, migrate, runs
from janitor.store.database import URL_HINT, is_sqlite_memory, make_engine, parse_url
from janitor.store.durable import check_sqlite_url
from janitor.store.errors import StoreError, driver_reason, safe_url

log = logging.getLogger("janitor.store")


class Store:
    """Runs and their decisions, the mail outbox and leases, in one database.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path/janitor.db`` (the parent folder is created),
    ``sqlite://`` (in memory, for tests), ``postgresql://user@host/db`` (driven by psycopg 3).
    Nothing connects before the first call.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self._url = parse_url(url)
        self._display_url = safe_url(self._url)
        check_sqlite_url(self._url, deletes=False)
        self._engine: Engine = make_engine(self._url, echo=echo)
        self._sqlite_file: Path | None = None
        if self._url.get_backend_name() == "sqlite" and not is_sqlite_memory(self._url):
            self._sqlite_file = Path(str(self._url.database)).expanduser()
        self._sqlite_identity: tuple[int, int] | None = None

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def display_url(self) -> str:
        """The database URL with its password hidden, for logs and health pages."""
        return self._display_url

    def check_for_deletes(self) -> None:
        """Refuse (DatabaseRefused, exit 2) a database whose records would vanish, before a run
        that may delete: see ``durable.check_sqlite_url``."""
        check_sqlite_url(self._url, deletes=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({self._display_url!r})"

    __str__ = __repr__

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections. The store reconnects if used again."""
        self._engine.dispose()
        self._sqlite_identity = None

    def _file_identity(self) -> tuple[int, int] | None:
        assert self._sqlite_file is not None
        try:
            st = os.stat(self._sqlite_file)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _check_file(self, action: str) -> None:
        """A SQLite file removed or replaced under an open connection takes every later write
        with it (they "succeed" into the unlinked file): refuse to go on, so that janitor never
        sends a delete whose record nobody will read."""
        if self._sqlite_file is None:
            return
        identity = self._file_identity()
        if self._sqlite_identity is None:
            self._sqlite_identity = identity
            return
        if identity != self._sqlite_identity:
            what = "removed" if identity is None else "replaced by another file"
            raise StoreError(
                f"the SQLite database {self._sqlite_file} was {what} while janitor was "
                f"{action}; what it records now would be lost, so it stops; {URL_HINT}"
            )

    def _unreachable(self, exc: BaseException) -> StoreError:
        return StoreError(
            f"cannot reach the database {self._display_url}: "
            f"{driver_reason(exc, self._url)}; {URL_HINT}"
        )

    @contextmanager
    def _connection(self, action: str, *, transaction: bool = True) -> Iterator[Connection]:
        """A pooled connection (in a transaction committed on success), with every database error
        turned into a ``StoreError`` that says what the store was doing."""
        try:
            conn = self._engine.connect()
        except DBAPIError as exc:
            raise self._unreachable(exc) from None
        if self._sqlite_file is not None and self._sqlite_identity is None:
            self._sqlite_identity = self._file_identity()  # the file this store writes to
        try:
            with conn:
                if transaction:
                    with conn.begin():
                        yield conn
                    self._check_file(action)
                else:
                    yield conn
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreError(
                    f"lost the connection to the database {self._display_url} while {action}: "
                    f"{driver_reason(exc, self._url)}"
                ) from None
            raise StoreError(
                f"database error while {action} ({self._display_url}): "
                f"{driver_reason(exc, self._url)}"
            ) from None
        except StatementError as exc:
            # A value refused before it reached the database (a naive datetime, a wrong type):
            # the caller's mistake, raised as such.
            if isinstance(exc.orig, ValueError | TypeError):
                raise exc.orig from None
            raise StoreError(
                f"database error while {action} ({self._display_url}): {type(exc).__name__}"
            ) from None
        except SQLAlchemyError as exc:
            raise StoreError(
                f"database error while {action} ({self._display_url}): {type(exc).__name__}"
            ) from None
        except psycopg.Error as exc:  # raised by the COPY that bulk-inserts decisions
            raise StoreError(
                f"database error while {action} ({self._display_url}): "
                f"{driver_reason(exc, self._url)}"
            ) from None

    # -- schema -------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers a trivial query."""
        with self._connection("checking the database", transaction=False) as conn:
            conn.execute(select(1)).scalar_one()

    def head_revision(self) -> str:
        """The newest schema revision this janitor knows."""
        return migrate.head_revision()

    def current_revision(self) -> str | None:
        """The database's schema revision; None for a database janitor never migrated."""
        with self._connection("reading the schema revision", transaction=False) as conn:
            return migrate.current_revision(conn)

    def upgrade(self) -> None:
        """Migrate the database to the newest schema (Alembic ``upgrade head``). Concurrent calls
        from several processes are safe on PostgreSQL (an advisory lock serialises them)."""
        with (
            self._connection("migrating the schema", transaction=False) as conn,
            migrate.sqlite_foreign_keys_off(conn),
            conn.begin(),
        ):
            migrate.lock_for_migration(conn)
            current = migrate.current_revision(conn)
            self._refuse_unknown(current)
            if current == migrate.head_revision():
                return
            log.info(
                "migrating the database %s from %s to %s",
                self._display_url,
                current or "an empty schema",
                migrate.head_revision(),
            )
            try:
                command.upgrade(migrate.alembic_config(conn), "head")
            except CommandError as exc:
                raise StoreError(
                    f"cannot migrate the database {self._display_url}: {exc}"
                ) from None

    def ensure_schema(self) -> None:
        """Upgrade only when the database is new or behind; one cheap query when it is current.
        Refuses a database migrated by a newer janitor."""
        current = self.current_revision()
        if current == migrate.head_revision():
            return
        self._refuse_unknown(current)
        self.upgrade()

    def _refuse_unknown(self, current: str | None) -> None:
        if current is not None and current not in migrate.known_revisions():
            raise StoreError(
                f"the database {self._display_url} has schema revision {current!r}, which this "
                f"janitor does not know (its newest is {migrate.head_revision()!r}): a newer "
                "janitor migrated it; upgrade janitor"
            )

    # -- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        policy: str,
        namespace: str,
        trigger: str,
        dry_run: bool,
        backend: str | None = None,
        started_at: datetime,
        owner: str | None,
        plan_hash: str | None = None,
    ) -> int:
        """Record a new run as ``running`` (heartbeat = ``started_at``); return its id.
        ``plan_hash``: the saved plan the run applies (``janitor apply``)."""
        with self._connection("starting a run") as conn:
            return runs.start_run(
                conn,
                policy=policy,
                namespace=namespace,
                trigger=trigger,
                dry_run=dry_run,
                backend=backend,
                started_at=started_at,
                owner=owner,
                plan_hash=plan_hash,
            )

    def heartbeat(self, run_id: int, now: datetime) -> None:
        with self._connection(f"recording run {run_id}'s heartbeat") as conn:
            if not runs.update_run(conn, run_id, heartbeat_at=now):
                raise _no_run(run_id)

    def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        finished_at: datetime,
        metrics: RunMetrics,
        hub_metrics: HubMetrics,
        error: str | None = None,
        report_path: str | None = None,
    ) -> RunRecord:
        """Record how the run ended and its metrics; return the finished record."""
        values = runs.finish_values(
            status=status,
            finished_at=finished_at,
            metrics=metrics,
            hub_metrics=hub_metrics,
            error=error,
            report_path=report_path,
        )
        with self._connection(f"finishing run {run_id}") as conn:
            if not runs.update_run(conn, run_id, **values):
                raise _no_run(run_id)
            record = runs.get_run(conn, run_id)
        assert record is not None
        return record

    def set_report_path(self, run_id: int, path: str) -> None:
        with self._connection(f"recording run {run_id}'s report") as conn:
            if not runs.update_run(conn, run_id, report_path=str(path)):
                raise _no_run(run_id)

    def set_backend(self, run_id: int, backend: str) -> None:
        """Record which deletion backend the run uses (known once ``auto`` has probed Hub)."""
        with self._connection(f"recording run {run_id}'s backend") as conn:
            if not runs.update_run(conn, run_id, backend=backend):
                raise _no_run(run_id)

    def mark_stale_runs_interrupted(
        self, *, now: datetime, stale_after: timedelta, owner: str | None = None
    ) -> list[int]:
        """Mark ``running`` runs whose heartbeat is older than ``now - stale_after`` (and, with
        ``owner``, every running run of that owner: a restarted process cleaning up after itself)
        as ``interrupted``; their ``pending`` items become ``not_attempted`` and their ``sending``
        ones ``unconfirmed``. Return the ids marked."""
        with self._connection("marking stale runs interrupted") as conn:
            return runs.mark_stale_runs_interrupted(
                conn, now=now, stale_after=stale_after, owner=owner
            )

    def get_run(self, run_id: int) -> RunRecord | None:
        with self._connection(f"reading run {run_id}", transaction=False) as conn:
            return runs.get_run(conn, run_id)

    def list_runs(
        self,
        *,
        policy: str | None = None,
        namespace: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: RunStatus | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs newest first; ``since`` <= started_at < ``until``; ``limit=None`` for all;
        ``offset`` skips that many (paging)."""
        with self._connection("listing runs", transaction=False) as conn:
            return runs.list_runs(
                conn,
                policy=policy,
                namespace=namespace,
                since=since,
                until=until,
                status=status,
                limit=limit,
                offset=offset,
            )

    def policy_names(self) -> list[str]:
        """Every policy name that has runs, sorted."""
        with self._connection("listing the policies with runs", transaction=False) as conn:
            return runs.policy_names(conn)

    # -- decisions ----------------------------------------------------------------------------

    def add_decisions(self, run_id: int, decisions: Iterable[DecisionRecord]) -> None:
        """Store the decisions (consumed lazily, inserted in batches) in one transaction. The
        ``run_id`` argument is the run; a record's own ``run_id``, if set, must agree."""
        with self._connection(f"storing run {run_id}'s decisions") as conn:
            if not runs.run_exists(conn, run_id):
                raise _no_run(run_id)
            items.add_decisions(conn, run_id, decisions)

    def set_outcomes(self, run_id: int, outcomes: Iterable[OutcomeRow]) -> None:
        """Set ``(repository, digest, outcome, detail[, hub_code])`` on the run's items, in bulk
        (an outcome without a hub_code clears it). An outcome
        for an image the run never recorded is logged and skipped (the others are kept)."""
        with self._connection(f"storing run {run_id}'s outcomes") as conn:
            missing = items.set_outcomes(conn, run_id, outcomes)
        if missing:
            shown = ", ".join(f"{r}@{d}" for r, d in missing[:5])
            log.warning(
                "run %d: %d outcome(s) for images the run never recorded were dropped: %s%s",
                run_id,
                len(missing),
                shown,
                ", ..." if len(missing) > 5 else "",
            )

    def close_pending(self, run_id: int, *, reason: str) -> dict[str, int]:
        """The run stopped early: its ``pending`` items become ``not_attempted`` with ``reason``
        as detail, its ``sending`` ones ``unconfirmed``; known outcomes stay. Return the counts."""
        with self._connection(f"closing run {run_id}'s open items") as conn:
            return items.close_open_items(conn, run_id, reason=reason)

    def decisions(
        self, run_id: int, *, outcome: Outcome | None = None, verdict: str | None = None
    ) -> Generator[DecisionRecord, None, None]:
        """The run's decisions ordered by repository then digest, streamed from the database.
        Holds a pooled connection until exhausted or closed: consume it, or ``close()`` it."""
        with self._connection(f"reading run {run_id}'s decisions", transaction=False) as conn:
            yield from items.decisions(conn, run_id, outcome=outcome, verdict=verdict)

    def outcome_counts(self, run_id: int) -> dict[str, int]:
        """Items per outcome; every outcome is a key (0 when none)."""
        with self._connection(f"counting run {run_id}'s outcomes", transaction=False) as conn:
            return items.outcome_counts(conn, run_id)

    def repository_summary(self, run_id: int) -> list[dict[str, object]]:
        """Per repository (sorted): ``repository``, ``images``, ``kept``, ``deleted``,
        ``would_delete``, ``skipped_warning``, ``errors``, ``pending``, ``not_attempted``,
        ``unconfirmed`` (sending or unconfirmed) and ``bytes`` (size of the deleted or would-be
        deleted images; None when no size is known)."""
        with self._connection(f"summarising run {run_id}", transaction=False) as conn:
            return items.repository_summary(conn, run_id)

    # -- mail outbox --------------------------------------------------------------------------

    def add_mail(
        self,
        *,
        kind: Literal["run", "weekly"],
        run_id: int | None,
        recipients: Sequence[str],
        subject: str,
        html_path: str,
        created_at: datetime,
    ) -> int:
        with self._connection("queueing a mail") as conn:
            return mail.add_mail(
                conn,
                kind=kind,
                run_id=run_id,
                recipients=recipients,
                subject=subject,
                html_path=str(html_path),
                created_at=created_at,
            )

    def pending_mail(self, limit: int = 20) -> list[MailRecord]:
        """Mails not sent yet, oldest first."""
        with self._connection("reading the mail outbox", transaction=False) as conn:
            return mail.pending_mail(conn, limit=limit)

    def mark_mail_sent(self, mail_id: int, sent_at: datetime) -> None:
        with self._connection(f"marking mail {mail_id} sent") as conn:
            if not mail.mark_sent(conn, mail_id, sent_at):
                raise StoreError(f"mail {mail_id} is not in the outbox")

    def mark_mail_failed(self, mail_id: int, error: str) -> None:
        """Count a failed attempt and keep its error (which must hold no secret)."""
        with self._connection(f"marking mail {mail_id} failed") as conn:
            if not mail.mark_failed(conn, mail_id, error):
                raise StoreError(f"mail {mail_id} is not in the outbox")

    # -- notification outbox ------------------------------------------------------------------

    def add_notification(
        self,
        *,
        kind: str,
        run_id: int | None,
        target: str,
        target_shown: str,
        title: str,
        body: str,
        created_at: datetime,
    ) -> int:
        """Queue a notification for ``target`` (a URL's fingerprint, never the URL)."""
        with self._connection("queueing a notification") as conn:
            return mail.add_notification(
                conn,
                kind=kind,
                run_id=run_id,
                target=target,
                target_shown=target_shown,
                title=title,
                body=body,
                created_at=created_at,
            )

    def pending_notifications(
        self, targets: Sequence[str], limit: int = 50
    ) -> list[NotificationRecord]:
        """Notifications to ``targets`` (fingerprints) neither sent nor given up, oldest first."""
        with self._connection("reading the notification outbox", transaction=False) as conn:
            return mail.pending_notifications(conn, targets=targets, limit=limit)

    def mark_notification_sent(self, entry_id: int, sent_at: datetime) -> None:
        with self._connection(f"marking notification {entry_id} sent") as conn:
            if not mail.mark_notification_sent(conn, entry_id, sent_at):
                raise StoreError(f"notification {entry_id} is not in the outbox")

    def mark_notification_failed(self, entry_id: int, error: str, *, give_up: bool = False) -> None:
        """Count a failed attempt and keep its error (which must hold no secret); ``give_up``
        stops retrying it."""
        with self._connection(f"marking notification {entry_id} failed") as conn:
            if not mail.mark_notification_failed(conn, entry_id, error, give_up=give_up):
                raise StoreError(f"notification {entry_id} is not in the outbox")

    # -- leases -------------------------------------------------------------------------------

    def try_acquire_lease(self, name: str, owner: str, *, ttl: timedelta, now: datetime) -> bool:
        """Take lease ``name`` for ``ttl`` if it is free, expired or already ``owner``'s (then it
        is extended). True when ``owner`` holds it afterwards."""
        with self._connection(f"acquiring lease {name!r}") as conn:
            return leases.try_acquire(conn, name, owner, ttl=ttl, now=now)

    def renew_lease(self, name: str, owner: str, *, ttl: timedelta, now: datetime) -> bool:
        """Extend ``owner``'s lease to ``now + ttl``; False when someone else holds it now."""
        with self._connection(f"renewing lease {name!r}") as conn:
            return leases.renew(conn, name, owner, ttl=ttl, now=now)

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up (nothing happens unless ``owner`` holds it)."""
        with self._connection(f"releasing lease {name!r}") as conn:
            leases.release(conn, name, owner)


def _no_run(run_id: int) -> StoreError:
    return StoreError(f"run {run_id} is not in the store")
