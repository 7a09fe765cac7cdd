"""``python -m janitor.service``: the `janitor` command line with the service's commands
registered (the same as the `janitor` script once the root group registers them)."""

from janitor.cli import cli
from janitor.service.cli import register

register(cli)
cli(prog_name="janitor")
