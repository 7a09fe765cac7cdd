"""Which process a run belongs to (``host:pid``), and whether that process is still alive."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str | None, me: str) -> bool:
    """True only when ``owner`` (``host:pid``, see ``owner_id``) is a process of this host that
    no longer exists (or is a zombie: killed, not yet reaped). Anything in doubt (another host,
    an owner janitor cannot read, a process that exists, a pid reused since) is False: then the
    heartbeat's age decides."""
    if not owner or owner == me or os.name != "posix":
        return False
    host, sep, pid_text = owner.rpartition(":")
    if not sep or host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 1 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, as another user
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] == "Z"
