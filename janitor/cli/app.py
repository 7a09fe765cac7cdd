"""The root command group, the shared application object and the error mapping."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from janitor import __version__
from janitor.config import Settings, load_settings
from janitor.errors import ConfigError, JanitorError, UsageError
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.logs import configure, redact, register_secret
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
        """The store, migrated on first use. (The Store creates a SQLite file's folder itself and
        says so in a StoreError when it cannot.)"""
        if self._store is None:
            store = Store(self.settings.database_url)
            try:
                store.ensure_schema()
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._store

    def hub_client(self) -> HubClient:
        s = self.settings
        credentials = None
        if s.hub_username and s.hub_token is not None:
            register_secret(s.hub_token.reveal())
            try:
                credentials = Credentials(s.hub_username, s.hub_token.reveal())
            except ValueError as exc:  # names the variable, never the secret
                raise ConfigError(str(exc)) from None
        elif s.hub_token is not None:
            raise ConfigError(
                "JANITOR_HUB_TOKEN is set but JANITOR_HUB_USERNAME is not: Hub needs both"
            )
        try:
            return HubClient(
                s.hub_url,
                credentials,
                timeout=s.timeout,
                verify=not s.hub_insecure,
                max_wait=s.max_wait_seconds,
            )
        except ValueError as exc:  # the URL rules of the client (load_settings checks them too)
            raise ConfigError(f"JANITOR_HUB_URL: {exc}") from None

    def policies(self, names: Iterable[str] = (), path: Path | None = None) -> list[Policy]:
        folder = path or self.settings.policies
        if not folder.exists():
            raise UsageError(
                f"no policies at {folder}: create it, or point --policies / JANITOR_POLICIES "
                "at your policy folder"
            )
        loaded = load_policies(
            folder,
            allowed_namespaces=self.settings.namespaces or None,
            protect=self.settings.protect,
        )
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


class PathType(click.Path):
    """``click.Path`` that refuses a NUL character as a usage error (``os.stat`` raises
    ValueError for it, which click does not catch)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if "\x00" in str(value):
            self.fail("a path cannot contain a NUL character", param, ctx)
        if not self.dir_okay and isinstance(value, str) and value.endswith("/"):
            # a trailing slash names a folder; turned into a Path it would silently vanish
            self.fail(f"{value!r} names a folder; a file is expected here", param, ctx)
        return super().convert(value, param, ctx)


RUN_ID = click.IntRange(1, 2**63 - 1)
"""A run id as the store can hold it (a number too large is a usage error, not a crash)."""


def one_line(text: object) -> str:
    """``text`` on one line, with known secrets masked: what an error message may show."""
    return redact(" ".join(str(text).split()))


def handle_errors(func: F) -> F:
    """Map janitor's errors to one line on stderr and the documented exit code. Anything else is
    a bug: one line too (exit 1), the traceback only with --verbose."""

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
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(getattr(exc, "exit_code", 1))
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # the reader of our standard output left
            quiet_after_broken_pipe()
        except OSError as exc:  # a file janitor was told to read or write
            if verbose:
                log.exception("%s", exc)
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"error: {one_line(exc.strerror or exc)}{where}", err=True)
            ctx.exit(1)
        except Exception as exc:
            if verbose:
                log.exception("unexpected %s", type(exc).__name__)
            click.echo(
                f"error: internal error ({type(exc).__name__}: {one_line(exc)}); this is a bug "
                "in janitor: run with --verbose for the traceback and report it",
                err=True,
            )
            ctx.exit(1)

    return wrapper  # type: ignore[return-value]


# click >= 8.2 raises this for a group called without its command (older versions print help).
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


class JanitorGroup(click.Group):
    """The root group: a wrong command line gets one line on stderr (``error: ...`` and where to
    find help) and exit code 2, like every other mistake janitor reports."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except _NO_ARGS_IS_HELP as exc:  # a group without its command: show its help
            assert exc.ctx is not None
            click.echo(exc.ctx.get_help())
            sys.exit(2)
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see `{exc.ctx.command_path} --help`)"
            click.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except BrokenPipeError:
            quiet_after_broken_pipe()
        except Exception as exc:  # outside any command (click's own parsing): still one line
            click.echo(f"error: internal error ({type(exc).__name__}: {one_line(exc)})", err=True)
            sys.exit(1)
        try:
            sys.stdout.flush()  # what is still buffered, while a broken pipe can be handled
        except BrokenPipeError:
            quiet_after_broken_pipe()
        sys.exit(code if isinstance(code, int) else 0)


def quiet_after_broken_pipe() -> NoReturn:
    """The reader of standard output went away (``janitor runs show 1 | head``): end quietly
    with the status of a process that SIGPIPE ended (128 + 13), as other Unix tools do, and
    point standard output at /dev/null so that Python's final flush does not complain (see
    "Note on SIGPIPE" in Python's signal module documentation)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test's captured output)
        fd = None
    if fd is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    sys.exit(128 + signal.SIGPIPE)


@click.group(cls=JanitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="janitor")
@click.option(
    "--config",
    "config_file",
    type=PathType(dir_okay=False, path_type=Path),
    help="TOML config file (default: $JANITOR_CONFIG or ./janitor.toml when present).",
)
@click.option("--policies", type=PathType(path_type=Path), help="Policy folder or file.")
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
