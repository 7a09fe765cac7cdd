"""Fault injection: make the next matching requests fail the way the real Hub sometimes does.

A :class:`Fault` matches a request by method and a regular expression searched in the path, fires
``times`` times, then is spent. Kinds:

``status``
    answer ``status`` with a Hub-shaped error body. With ``after_apply=True`` (only meaningful on
    ``POST .../delete-images``) the deletion is applied first and the error answered after: a 5xx
    after Hub already did the work.
``drop``
    close the connection without an answer.
``slow``
    sleep ``delay`` seconds, then answer normally.
``malformed``
    answer 200 with a truncated, invalid JSON body.
``rate_limit``
    answer 429 with the retry headers, as if the rate-limit window were exhausted.
``echo``
    answer ``status`` with an error body that repeats the request: its body (a login's secret)
    and its headers (``Authorization`` included), in every field a client may show (``message``,
    ``detail``, ``details``, ``errors[]``, ``errinfo``), as a careless proxy or Hub might.
``next_404``
    on the first matching *last* page of a listing, add a ``next`` link to the page after it, which
    answers 404 as every page past the end does (a quirk seen on the live Hub).
``drop_row``
    the next matching page of a listing silently leaves out its first row (``count`` unchanged):
    a listing that does not add up.
``repeat_page``
    the next matching page after the first serves the rows of the page before it again.

The CLI takes a fault as ``KIND[:key=value[,key=value...]]``, e.g.
``status:status=503,method=POST,path=delete-images,times=2`` or ``slow:delay=1.5``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

FaultKind = Literal[
    "status",
    "drop",
    "slow",
    "malformed",
    "rate_limit",
    "echo",
    "next_404",
    "drop_row",
    "repeat_page",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# Fired by the request pipeline before the handler runs; the others need the handler's help.
PIPELINE_KINDS = frozenset({"status", "drop", "slow", "malformed", "rate_limit", "echo"})


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = None
    path: str | None = None
    times: int = 1
    status: int = 503
    delay: float = 0.0
    after_apply: bool = False
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __init__(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        status: int = 503,
        delay: float = 0.0,
        after_apply: bool = False,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("a fault fires at least once (times >= 1)")
        if not 100 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP status")
        if delay < 0:
            raise ValueError("delay cannot be negative")
        if after_apply and kind != "status":
            raise ValueError("after_apply is only for kind 'status'")
        self.kind = cast(FaultKind, kind)
        self.method = method.upper() if method else None
        self.path = path
        self.times = times
        self.status = status
        self.delay = delay
        self.after_apply = after_apply
        self._pattern = re.compile(path) if path else None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "status": self.status,
            "delay": self.delay,
            "after_apply": self.after_apply,
        }

    @classmethod
    def from_dict(cls, data: object) -> Fault:
        """Build a fault from its JSON form (the admin API's ``POST /_emulator/faults`` body)."""
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        known = {"kind", "method", "path", "times", "status", "delay", "after_apply"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        if "kind" not in data:
            raise ValueError("a fault needs a 'kind'")
        try:
            return cls(
                str(data["kind"]),
                method=_opt_str(data.get("method")),
                path=_opt_str(data.get("path")),
                times=int(data.get("times", 1)),
                status=int(data.get("status", 503)),
                delay=float(data.get("delay", 0.0)),
                after_apply=_as_bool(data.get("after_apply", False)),
            )
        except (TypeError, re.error) as exc:
            raise ValueError(f"invalid fault: {exc}") from None

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse the CLI form ``KIND[:key=value[,key=value...]]``."""
        kind, _, rest = spec.strip().partition(":")
        data: dict[str, object] = {"kind": kind.strip()}
        if rest.strip():
            for part in rest.split(","):
                key, sep, value = part.partition("=")
                if not sep:
                    raise ValueError(f"fault option {part!r} is not key=value")
                data[key.strip()] = value.strip()
        return cls.from_dict(data)


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


class FaultPlan:
    """A thread-safe, ordered list of faults; the first matching one fires."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = list(faults or [])

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """The faults not yet spent, in firing order (copies of their current state)."""
        with self._lock:
            return [Fault.from_dict(f.to_dict()) for f in self._faults]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def take(
        self,
        method: str,
        path: str,
        kinds: frozenset[str] | set[str] | tuple[str, ...],
        *,
        after_apply: bool = False,
    ) -> Fault | None:
        """Fire the first fault of one of ``kinds`` that matches, spending one of its ``times``.

        ``after_apply`` selects between the two families of ``status`` faults: the pipeline asks
        for those that answer instead of the handler, the delete handler for those that answer
        after it applied the deletion.
        """
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind not in kinds or fault.after_apply != after_apply:
                    continue
                if not fault.matches(method, path):
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[index]
                return fault
        return None


def echo_body(
    method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> dict[str, Any]:
    """What an ``echo`` fault answers: the request repeated in every field of an error body."""
    seen = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
    text = f"{method} {path} sent {body.decode('utf-8', 'replace')} with headers {seen}"
    return {
        "message": text,
        "detail": text,
        "details": text,
        "errors": [{"code": "DENIED", "message": text, "detail": seen}],
        "errinfo": {"request": text, "headers": seen},
        "txnid": text,
    }
