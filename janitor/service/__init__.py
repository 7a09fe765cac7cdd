"""The background service behind `janitor serve`: scheduled runs, replicas sharing a store,
lifecycle and signals, /healthz and /metrics.

Modules: ``scheduler`` (the Service and its jobs), ``claims`` (leases: one run per fire across
replicas), ``firetimes`` (cron arithmetic), ``lifecycle`` (signals, pid file), ``http``,
``metrics``, ``listing`` (`janitor schedule`). The click commands are in ``janitor.cli.serve``;
the running lease and the run path in ``janitor.engine``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from janitor.service.scheduler import Service, ServiceOptions

__all__ = ["Service", "ServiceOptions"]


def __getattr__(name: str) -> Any:
    # Lazy: `janitor.service.firetimes` and friends import without the whole run path.
    if name in __all__:
        from janitor.service import scheduler

        return getattr(scheduler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
