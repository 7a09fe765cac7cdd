"""``janitor emulator serve``: run an emulator as its own process until SIGINT or SIGTERM."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from janitor.emulator.config import EmulatorConfig
from janitor.emulator.faults import Fault, FaultPlan
from janitor.emulator.generate import generate_state
from janitor.emulator.model import HubState
from janitor.emulator.seed import SeedError, load_seed
from janitor.emulator.server import start_emulator

_SIZE = re.compile(r"^\s*(\d{1,30})\s*[xX]\s*(\d{1,30})\s*$")
MAX_REPOS = 100_000
"""The most repositories --generate makes: 100,000 repository stubs take seconds and ~150 MB."""
MAX_IMAGES = 100_000
"""The most images per generated repository: built when the repository is first read, with
push times that stay within the calendar (a million would reach back past year 1)."""


@click.group(name="emulator")
def emulator() -> None:
    """Run the Docker Hub API emulator (for tests, benchmarks and demos)."""


def _fault(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[Fault]:
    try:
        return [Fault.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@emulator.command()
@click.option(
    "--seed",
    "seed_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Seed file (YAML or JSON) to load.",
)
@click.option(
    "--generate",
    "size",
    metavar="REPOSxIMAGES",
    help="Generate a namespace instead, e.g. 100x1000.",
)
@click.option(
    "--namespace", default="bench", show_default=True, help="Name of the generated namespace."
)
@click.option(
    "--random-seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the generator (same seed, same data).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5555,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Requests per window per token (default: unlimited).",
)
@click.option(
    "--rate-window",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Rate-limit window in seconds.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_fault,
    metavar="SPEC",
    help="Inject a fault: KIND[:key=value,...], e.g. status:status=503,times=2.",
)
@click.option(
    "--tag-shape",
    type=click.Choice(["live", "spec"]),
    default="live",
    show_default=True,
    help="Tags as the live Hub sends them, or as the spec says.",
)
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Lifetime of issued tokens in seconds.",
)
@click.option(
    "--like-hub",
    is_flag=True,
    help="As strict as the live Hub: tag_status only, nanosecond times, page_size capped, a "
    "registry that deletes a tagged manifest with its tags, manifest GETs as pulls, tag DELETE "
    "on hub-tool's path only, the manifests listing (untagged images).",
)
@click.option(
    "--signed-fraction",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="With --generate: the fraction of tagged images that get a cosign signature "
    "(sha256-<hex>.sig, half of them an attestation .att too), as images of their own.",
)
def serve(
    seed_file: Path | None,
    size: str | None,
    namespace: str,
    random_seed: int,
    host: str,
    port: int,
    rate_limit: int | None,
    rate_window: float,
    faults: list[Fault],
    tag_shape: str,
    token_ttl: float,
    like_hub: bool,
    signed_fraction: float,
) -> None:
    """Serve an emulated Docker Hub until interrupted (SIGINT or SIGTERM)."""
    if (seed_file is None) == (size is None):
        raise click.UsageError("give exactly one of --seed FILE and --generate REPOSxIMAGES")
    state: HubState
    if seed_file is not None:
        try:
            state = load_seed(seed_file)
        except SeedError as exc:
            raise click.BadParameter(str(exc), param_hint="--seed") from None
    else:
        assert size is not None
        match = _SIZE.match(size)
        if match is None:
            raise click.BadParameter(
                "expected REPOSxIMAGES, e.g. 100x1000", param_hint="--generate"
            )
        repos, images = int(match.group(1)), int(match.group(2))
        if repos > MAX_REPOS or images > MAX_IMAGES:
            raise click.BadParameter(
                f"{repos}x{images} is too large: at most {MAX_REPOS:,} repositories of "
                f"{MAX_IMAGES:,} images each",
                param_hint="--generate",
            )
        state = generate_state(
            namespace=namespace,
            repos=repos,
            images=images,
            seed=random_seed,
            signed_fraction=signed_fraction,
        )
    config = (EmulatorConfig.like_hub if like_hub else EmulatorConfig)(
        rate_limit=rate_limit,
        rate_window=rate_window,
        tag_shape="spec" if tag_shape == "spec" else "live",
        token_ttl=token_ttl,
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            running = start_emulator(state, config, host=host, port=port, faults=FaultPlan(faults))
        except (OSError, RuntimeError) as exc:
            raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None
        with running as emu:
            click.echo(f"emulator listening on {emu.url}")
            while not stop.wait(0.5):
                if not emu.running:
                    raise click.ClickException("the emulator stopped unexpectedly")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
