"""``python -m janitor``: the `janitor` command line."""

from janitor.cli import main

main()
