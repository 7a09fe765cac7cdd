"""Databases whose records would not survive: refused before anything is written to them."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy.engine import URL

from janitor.store.database import is_sqlite_memory
from janitor.store.errors import StoreError


class DatabaseRefused(StoreError):
    """The configured database cannot keep janitor's records: a configuration mistake."""

    exit_code = 2


HINT = "set JANITOR_DATABASE_URL to a SQLite file (sqlite:///path/janitor.db) or PostgreSQL"


def check_sqlite_url(url: URL, *, deletes: bool) -> None:
    """Refuse (DatabaseRefused, exit 2) a SQLite database that cannot keep janitor's records:

    * ``sqlite://`` (in memory) when the run may delete: its records vanish when janitor exits,
      and nobody could tell what was deleted;
    * a path that exists and is not a regular file (``sqlite:////dev/null``: SQLite would create
      ``/dev/null-journal`` beside it and keep nothing).
    """
    if url.get_backend_name() != "sqlite":
        return
    if is_sqlite_memory(url):
        if deletes:
            raise DatabaseRefused(
                "JANITOR_DATABASE_URL is an in-memory SQLite database (sqlite://): the records "
                f"of a run that deletes would vanish when janitor exits; {HINT}"
            )
        return
    path = Path(str(url.database)).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # created on first use (and a folder that cannot be made says so then)
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise DatabaseRefused(
            f"JANITOR_DATABASE_URL: {path} is {kind}, so SQLite cannot keep janitor's records "
            f"there; {HINT}"
        )
