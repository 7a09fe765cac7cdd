"""Fuzz the loader: whatever it is given, the answer is a Policy or a PolicyLoadError whose
errors are single lines naming the file; never another exception."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from janitor.policy import Policy, PolicyLoadError, parse_policy, policy_from_data

from .strategies import policy_data

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
SOURCE = Path("fuzz.yaml")

KEYS = [
    "name",
    "namespace",
    "repositories",
    "include",
    "exclude",
    "schedule",
    "timezone",
    "mode",
    "select",
    "keep",
    "limits",
    "report",
    "email",
    "currently_tagged",
    "tags",
    "last_pushed",
    "last_pulled",
    "older_than",
    "newer_than",
    "never",
    "current_tag",
    "most_recent",
    "pulled_within",
    "pushed_within",
    "max_deletes",
    "max_fraction_per_repository",
    "status",
]
WORDS = [
    "30d",
    "0d",
    "-1d",
    "P90D",
    "6m",
    "acme",
    "library",
    "match",
    "skip",
    "delete",
    "dry-run",
    "re:(a+)+$",
    "re:(a)\\1",
    "pr-*",
    "[",
    "0 3 * * *",
    "0 3 1 * 1",
    "UTC",
    "Mars/Base",
    "ops@example.com",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(WORDS),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.binary(max_size=4),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=4), st.integers(), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8) | values


def _check(result: Any) -> None:
    assert isinstance(result, Policy)


def _attempt(call: Any) -> None:
    try:
        _check(call())
    except PolicyLoadError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.file == SOURCE
            assert "\n" not in str(error), str(error)
            assert error.line is None or error.line >= 1


@SETTINGS
@given(data=documents)
def test_any_data_loads_or_fails_cleanly(data: object) -> None:
    _attempt(lambda: policy_from_data(data, SOURCE))


@SETTINGS
@given(data=documents)
def test_any_yaml_document_loads_or_fails_cleanly(data: object) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    _attempt(lambda: parse_policy(text, SOURCE))


FRAGMENTS = [
    "namespace: acme",
    "name: x",
    "select:",
    "  - last_pushed: {older_than: 30d}",
    "  - last_pulled: {older_than: 30d, never: match}",
    "  - tags: [pr-*]",
    "keep:",
    "  - most_recent: 3",
    "select: &a [*a]",
    "a: &b 1",
    "b: *b",
    "c: *nope",
    "[",
    "{",
    "}",
    "- ",
    "\t- x",
    "? complex",
    ": value",
    "---",
    "...",
    "%YAML 1.1",
    "!!binary AAAA",
    "!!python/name:os.system",
    "x: !!set {a, b}",
    "'unclosed",
    "<<: {namespace: acme}",
    "namespace: acme",
    "\ufeff",
    "\x00",
]


@SETTINGS
@given(lines=st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=10))
def test_any_text_loads_or_fails_cleanly(lines: list[str]) -> None:
    _attempt(lambda: parse_policy("\n".join(lines), SOURCE))


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(_paths(value, (*prefix, i)))
    return found


@SETTINGS
@given(base=policy_data(), data=st.data())
def test_mutated_valid_policies_load_or_fail_cleanly(
    base: dict[str, Any], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(_paths(base)))
    replacement = data.draw(values)
    target: Any = base
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = replacement
    _attempt(lambda: policy_from_data(base, SOURCE))


@SETTINGS
@given(data=policy_data())
def test_generated_policies_are_valid(data: dict[str, Any]) -> None:
    policy = policy_from_data(data, SOURCE)
    assert len(policy.select) == len(data["select"])
    # a dump of the validated model validates again to an equal policy
    again = policy_from_data(policy.model_dump(exclude_none=True), SOURCE)
    assert again.model_dump() == policy.model_dump()
