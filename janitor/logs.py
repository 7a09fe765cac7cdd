"""Logging: one line per event, plain or JSON, with known secrets redacted as a last line of
defence (secrets are never passed to a logger in the first place)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Literal

_secrets: set[str] = set()
_lock = threading.Lock()
REDACTED = "********"


def register_secret(value: str | None) -> None:
    """Remember a secret so that no log line can ever carry it."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = redact(record.getMessage())
            record.msg, record.args = message, None
        return True


class TextFormatter(logging.Formatter):
    """The plain format, with known secrets masked in the whole line, traceback included (the
    filter only sees the message; an exception's text is formatted later)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("run_id", "policy", "namespace", "event"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(
    *, level: int = logging.INFO, fmt: Literal["text", "json"] = "text", stream=None
) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_janitor", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._janitor = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in (
        "httpx",
        "httpcore",
        "uvicorn.access",
        "alembic",
        "apscheduler.executors.default",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
