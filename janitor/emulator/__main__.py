"""``python -m janitor.emulator serve ...``: the emulator CLI without the main janitor CLI."""

from janitor.emulator.cli import emulator

if __name__ == "__main__":
    emulator(prog_name="janitor emulator")
