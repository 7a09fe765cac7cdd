"""Apprise notification URLs, checked without sending anything: what the configuration and the
policy loader need from ``janitor.notify`` (kept apart so that neither imports the notifier,
which imports them)."""

from __future__ import annotations

import logging
import re

_SPLIT = re.compile(r"[,\s]+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}", re.IGNORECASE)


def quiet_apprise() -> None:
    """Apprise logs request URLs (and so tokens) at DEBUG, and so does urllib3 under it: keep
    them out of janitor's log. Reasons for failures come from each result's own entries."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def url_scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and _SCHEME.fullmatch(scheme) else ""


def check_notify_url(url: str) -> None:
    """Raise ValueError (naming only the scheme) unless apprise can notify ``url``."""
    scheme = url_scheme(url)
    if not scheme:
        raise ValueError(
            "an entry is not an apprise URL (expected scheme://..., e.g. slack://... or "
            "json://host/path)"
        )
    import apprise

    quiet_apprise()
    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        raise ValueError(
            f"a {scheme}:// URL that apprise cannot use (unknown service or missing parts; "
            "see https://github.com/caronc/apprise/wiki)"
        )


def parse_notify_urls(text: str) -> tuple[str, ...]:
    """Apprise URLs separated by commas or white space, checked, without repeats."""
    urls: list[str] = []
    for url in _SPLIT.split(text.strip()):
        if url and url not in urls:
            check_notify_url(url)
            urls.append(url)
    return tuple(urls)
