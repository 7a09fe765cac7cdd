"""janitor's own error tree: each error knows the exit code the CLI maps it to.

Exit codes: 0 success, 1 a run failed, 2 bad input (policy, config, arguments).
"""

from __future__ import annotations


class JanitorError(Exception):
    """A failure with a message meant for the person running janitor (one readable line)."""

    exit_code = 1


class ConfigError(JanitorError):
    """The configuration (environment or janitor.toml) is wrong."""

    exit_code = 2


class UsageError(JanitorError):
    """The command line asks for something that cannot be done (unknown policy, bad date...)."""

    exit_code = 2


class RunFailed(JanitorError):
    """A run ended in the `failed` state; its record says why."""

    exit_code = 1
