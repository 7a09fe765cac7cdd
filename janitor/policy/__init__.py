"""Retention policies: the YAML language, its strict loader, and the pure evaluator.

A policy file (see ``policies/*.yaml`` for commented examples)::

    name: ci-images
    namespace: acme
    repositories: {include: ["web-*", "api"], exclude: ["*-base"]}
    schedule: "0 3 * * *"
    timezone: UTC
    mode: dry-run
    select:
      - name: untagged-and-cold
        currently_tagged: false
        last_pushed: {older_than: 30d}
        last_pulled: {older_than: 30d, never: match}
    keep:
      - most_recent: 5
      - tags: ["latest", "re:^v?\\\\d+\\\\.\\\\d+\\\\.\\\\d+$"]
    limits: {max_deletes: 500, max_fraction_per_repository: 0.8}

Durations are described in :mod:`janitor.policy.durations`, patterns in
:mod:`janitor.policy.patterns`, the schedule in :mod:`janitor.policy.schedule`, the verdict
rules in :mod:`janitor.policy.evaluation`.
"""

from janitor.policy.durations import Duration, parse_duration
from janitor.policy.errors import PolicyError, PolicyLoadError
from janitor.policy.evaluation import evaluate, evaluate_repository
from janitor.policy.limits import check_limits
from janitor.policy.load import load_policies, load_policy_file, parse_policy, policy_from_data
from janitor.policy.model import KeepRule, Limits, Policy, SelectEntry

__all__ = [
    "Duration",
    "KeepRule",
    "Limits",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "SelectEntry",
    "check_limits",
    "evaluate",
    "evaluate_repository",
    "load_policies",
    "load_policy_file",
    "parse_duration",
    "parse_policy",
    "policy_from_data",
]
