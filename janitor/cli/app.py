"""The root command group, the shared application object and the error mapping."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from janitor import __version__
from janitor.config import Settings, load_settings
from janitor.errors import ConfigError, JanitorError, UsageError
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.logs import configure, register_secret
from janitor.policy import Policy, PolicyLoadError, load_policies
from janitor.store import Store, StoreError

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("janitor.cli")


@dataclass
class App:
    settings: Settings
    verbose: bool = False
    _store: Store | None = field(default=None, repr=False)

    def store(self) -> Store:
        if self._store is None:
            url = self.settings.database_url
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                    parents=True, exist_ok=True
                )
            self._store = Store(url)
            self._store.ensure_schema()
        return self._store

    def hub_client(self) -> HubClient:
        s = self.settings
        credentials = None
        if s.hub_username and s.hub_token is not None:
            register_secret(s.hub_token.reveal())
            credentials = Credentials(s.hub_username, s.hub_token.reveal())
        elif s.hub_token is not None:
            raise ConfigError(
                "JANITOR_HUB_TOKEN is set but JANITOR_HUB_USERNAME is not: Hub needs both"
            )
        return HubClient(s.hub_url, credentials, timeout=s.timeout, verify=not s.hub_insecure)

    def policies(self, names: Iterable[str] = (), path: Path | None = None) -> list[Policy]:
        folder = path or self.settings.policies
        if not folder.exists():
            raise UsageError(
                f"no policies at {folder}: create it, or point --policies / JANITOR_POLICIES "
                "at your policy folder"
            )
        loaded = load_policies(folder, allowed_namespaces=self.settings.namespaces or None)
        wanted = list(names)
        if not wanted:
            return loaded
        by_name = {p.name: p for p in loaded}
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise UsageError(
                f"no policy named {', '.join(map(repr, unknown))} in {folder} "
                f"(known: {', '.join(sorted(by_name)) or 'none'})"
            )
        return [by_name[n] for n in wanted]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def handle_errors(func: F) -> F:
    """Map janitor's errors to one line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.find_object(App)
        verbose = bool(app and app.verbose)
        try:
            return func(*args, **kwargs)
        except PolicyLoadError as exc:
            for error in exc.errors:
                click.echo(f"error: {error}", err=True)
            click.echo(f"{len(exc.errors)} policy error(s); nothing was run", err=True)
            ctx.exit(2)
        except (JanitorError, HubError, StoreError) as exc:
            if verbose:
                log.exception("%s", exc)
            click.echo(f"error: {exc}", err=True)
            ctx.exit(getattr(exc, "exit_code", 1))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="janitor")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file (default: $JANITOR_CONFIG or ./janitor.toml when present).",
)
@click.option("--policies", type=click.Path(path_type=Path), help="Policy folder or file.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging and full tracebacks.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or one JSON object per line.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_file: Path | None,
    policies: Path | None,
    verbose: bool,
    log_format: str,
) -> None:
    """janitor cleans Docker Hub namespaces by retention policy, safely and on record."""
    configure(level=logging.DEBUG if verbose else logging.INFO, fmt=log_format)  # type: ignore[arg-type]
    try:
        settings = load_settings(config_file=config_file)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    if policies is not None:
        settings = settings.with_overrides(policies=policies)
    app = App(settings=settings, verbose=verbose)
    ctx.obj = app
    ctx.call_on_close(app.close)


def progress_printer(enabled: bool) -> Callable[[str], None] | None:
    """Progress on a terminal only: quiet in logs, pipes and --json."""
    if not enabled or not sys.stderr.isatty():
        return None

    def show(message: str) -> None:
        click.echo(f"\r\033[K{message}", err=True, nl=False)

    return show
