"""The JSON Schema of a policy file, for editors (`janitor policies schema`).

Generated from the pydantic models (:mod:`janitor.policy.model`): their fields, types, defaults
and docstrings. A schema can say less than the loader: the rules below are the ones JSON Schema
can express (bounds, non-empty lists, required companions, the shapes of a keep rule), added
here because the models check them in validators that a schema generator cannot read. What no
schema can say (an empty age window, a cron minute out of range, a regex RE2 refuses, a name
used twice, an unknown time zone) only `janitor policies check` finds. The loader stays the
judge; tests/policy/test_schema.py checks that the two agree on every example and broken file.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from janitor.policy.model import Policy

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_AT_LEAST_ONE_CONDITION = ["currently_tagged", "tags", "last_pushed", "last_pulled"]
_KEEP_SHAPES = [["most_recent"], ["tags"], ["pulled_within"], ["pushed_within"]]

# (definition, property): what the schema adds to the generated property.
_PROPERTIES: dict[tuple[str, str], dict[str, Any]] = {
    ("Policy", "name"): {
        "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        "examples": ["ci-images", "pr-builds"],
    },
    ("Policy", "namespace"): {
        "pattern": r"^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$",
        "not": {"const": "library"},
        "examples": ["acme"],
    },
    ("Policy", "timezone"): {"examples": ["UTC", "Europe/Berlin", "America/New_York"]},
    ("Policy", "schedule"): {
        "pattern": r"^\s*(@[a-zA-Z]+|\S+(\s+\S+){4})\s*$",
        "examples": ["0 3 * * *", "30 2 * * 1-5", "@daily"],
    },
    ("Policy", "select"): {"minItems": 1},
    ("SelectEntry", "tags"): {"minItems": 1},
    ("SelectEntry", "name"): {"minLength": 1, "maxLength": 100},
    ("KeepRule", "most_recent"): {"minimum": 1, "examples": [5]},
    ("KeepRule", "tags"): {"minItems": 1},
    ("RepositoryFilter", "include"): {"minItems": 1},
    ("Limits", "max_deletes"): {"minimum": 0, "examples": [500]},
    ("Limits", "max_fraction_per_repository"): {
        "exclusiveMinimum": 0,
        "maximum": 1,
        "examples": [0.8],
    },
    ("Report", "email"): {
        "items": {"type": "string", "pattern": r"^[^@\s<>]{1,64}@[^@\s<>]+$", "maxLength": 254},
        "examples": [["ops@example.com"]],
    },
}

# definition: what the schema adds to the generated object.
_DEFINITIONS: dict[str, dict[str, Any]] = {
    "SelectEntry": {
        "anyOf": [{"required": [key]} for key in _AT_LEAST_ONE_CONDITION],
        "examples": [
            {"currently_tagged": False, "last_pushed": {"older_than": "30d"}},
            {"tags": ["pr-*"], "last_pushed": {"older_than": "14d"}, "current_tag": "delete"},
        ],
    },
    "AgeCondition": {
        "minProperties": 1,
        "examples": [{"older_than": "30d"}, {"older_than": "14d", "newer_than": "2y"}],
    },
    "PulledCondition": {
        "dependentRequired": {"older_than": ["never"]},
        "anyOf": [
            {"required": ["older_than"]},
            {"required": ["newer_than"]},
            {"required": ["never"], "properties": {"never": {"const": "match"}}},
        ],
        "examples": [{"older_than": "30d", "never": "match"}, {"never": "match"}],
    },
    "KeepRule": {
        "oneOf": [
            {"required": ["tags", "most_recent"], "maxProperties": 2},
            *({"required": shape, "maxProperties": 1} for shape in _KEEP_SHAPES),
        ],
        "examples": [
            {"most_recent": 5},
            {"tags": ["latest", "stable"]},
            {"tags": ["release-*"], "most_recent": 3},
            {"pulled_within": "7d"},
        ],
    },
    "RepositoryFilter": {"examples": [{"include": ["web-*", "api"], "exclude": ["*-base"]}]},
    "Limits": {"examples": [{"max_deletes": 500, "max_fraction_per_repository": 0.8}]},
}

_EXAMPLE = {
    "namespace": "acme",
    "schedule": "0 3 * * *",
    "mode": "dry-run",
    "select": [
        {
            "name": "untagged-and-cold",
            "currently_tagged": False,
            "last_pushed": {"older_than": "30d"},
            "last_pulled": {"older_than": "30d", "never": "match"},
        }
    ],
    "keep": [{"most_recent": 5}],
}


@cache
def _policy_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema(mode="validation")
    definitions = schema.setdefault("$defs", {})
    definitions["Policy"] = {k: v for k, v in schema.items() if k != "$defs"}
    for (definition, prop), extra in _PROPERTIES.items():
        target = definitions[definition]["properties"][prop]
        _constrain(target, extra)
    for definition, extra in _DEFINITIONS.items():
        definitions[definition].update(extra)
    root = definitions.pop("Policy")
    # The loader names a policy after its file when `name` is left out.
    root["required"] = [key for key in root.get("required", []) if key != "name"]
    root["title"] = "janitor retention policy"
    root["examples"] = [_EXAMPLE]
    _tidy_descriptions(root)
    _tidy_descriptions(definitions)
    return {"$schema": DRAFT, **root, "$defs": definitions}


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one policy file."""
    return copy.deepcopy(_policy_schema())


def _constrain(prop: dict[str, Any], extra: dict[str, Any]) -> None:
    """Add ``extra`` to a property; where it may be null (``anyOf [X, null]``), to X: the
    constraints describe the value, and null stays allowed."""
    examples = extra.get("examples")
    rules = {k: v for k, v in extra.items() if k != "examples"}
    variants = prop.get("anyOf")
    if variants:
        for variant in variants:
            if variant.get("type") != "null":
                variant.update(rules)
    else:
        prop.update(rules)
    if examples is not None:
        prop["examples"] = examples


_RST_CODE = re.compile(r"``([^`]+)``")


def _tidy_descriptions(node: Any) -> None:
    """Docstrings as editors show them: one paragraph per blank line, `code` in single ticks."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                paragraphs = [" ".join(p.split()) for p in value.split("\n\n")]
                node[key] = _RST_CODE.sub(r"`\1`", "\n\n".join(paragraphs))
            else:
                _tidy_descriptions(value)
    elif isinstance(node, list):
        for item in node:
            _tidy_descriptions(item)
