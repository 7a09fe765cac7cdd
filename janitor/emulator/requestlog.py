"""What the emulator was asked: every non-admin request, its JSON body (secrets masked), its answer.

Tests assert on it, e.g. that a dry run sent no real delete. Headers are not kept, so a token can
never end up here; the secret fields of the auth bodies are masked.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

MASK = "***"
SECRET_FIELDS = frozenset(
    {"password", "secret", "code", "login_2fa_token", "token", "access_token"}
)


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: object | None
    status: int  # 0: the connection was dropped without an answer
    at: float  # unix time the request arrived

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoggedRequest:
        return cls(
            method=str(data["method"]),
            path=str(data["path"]),
            query={str(k): str(v) for k, v in dict(data.get("query") or {}).items()},
            json=data.get("json"),
            status=int(data["status"]),
            at=float(data["at"]),
        )


def mask_secrets(body: object) -> object:
    """Replace the values of secret fields (at any depth) by ``***``."""
    if isinstance(body, dict):
        return {
            k: (MASK if k in SECRET_FIELDS and v is not None else mask_secrets(v))
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [mask_secrets(v) for v in body]
    return body


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        pattern = re.compile(path_regex) if path_regex else None
        with self._lock:
            return sum(
                1
                for e in self._entries
                if (method is None or e.method == method.upper())
                and (pattern is None or pattern.search(e.path))
            )
