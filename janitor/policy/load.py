"""Read policy files: YAML with line numbers, strict validation, one readable line per mistake.

Every mistake of a whole folder is collected and raised together in one
:class:`~janitor.policy.errors.PolicyLoadError`, each naming file, line and field, e.g.::

    policies/ci.yaml:12: select[1].last_pushed.older_than: '3x' is not a duration (use 90d, ...)

Beyond the schema, the loader refuses what YAML itself would let slip: duplicate keys (YAML
keeps the last one silently), more than one document per file, files that are not UTF-8, and
alias bombs (anchors that expand to a huge document).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from janitor.fileio import POLICY_LIMIT, FileInputError, read_capped
from janitor.policy.errors import PolicyError, PolicyLoadError, shown_number
from janitor.policy.model import (
    CONTEXT_ALLOWED_NAMESPACES,
    CONTEXT_NAMES_CHECKED,
    CONTEXT_SOURCE,
    Policy,
)
from janitor.policy.protect import PROTECT_FILE, ProtectList

Loc = tuple[str | int, ...]
Lines = Mapping[Loc, int]

SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = POLICY_LIMIT
MAX_VALUES = 10_000
"""The most values (keys, items, scalars) a policy may hold, aliases expanded. A real policy
holds a few hundred; the cap is checked while YAML composes the document, so a megabyte of
``[{}, {}, ...]`` is refused after 10,000 nodes, not after building 350,000 of them."""
MAX_INTEGER = 2**63 - 1
"""The largest number a policy may hold (what the store and every formatter can take)."""
_MEMORY = Path("<memory>")
_KEYS_HINT = {
    "a policy": "name:, namespace:, select:, ...",
    "a protect list": "namespace:, repositories:, tags:, digests:",
}


# --------------------------------------------------------------------------- public API


def load_policies(
    path: Path | str,
    *,
    allowed_namespaces: Collection[str] | None = None,
    protect: Path | str | None = None,
) -> list[Policy]:
    """Load one policy file, or every ``*.yaml``/``*.yml`` file of a folder (not recursive,
    hidden files and files starting with ``_`` skipped), in file-name order, each with the
    protect list: ``protect`` (a path, ``JANITOR_PROTECT``) or else the folder's
    ``_protect.yaml`` when there is one. Raise :class:`PolicyLoadError` with every mistake of
    every file (the protect list's too), including a policy name used twice in the folder."""
    path = Path(path)
    if path.is_dir():
        folder = path
        # Not only regular files: a FIFO or a device named *.yaml is reported, not skipped.
        files = sorted(
            p
            for p in path.iterdir()
            if p.suffix in SUFFIXES and not p.name.startswith((".", "_")) and not p.is_dir()
        )
        if not files:
            raise PolicyLoadError(
                [PolicyError(path, None, "", "holds no policy files (*.yaml, *.yml)")]
            )
    elif path.exists():  # a file, or a FIFO or device the reader will refuse
        folder = path.parent
        if path.name.startswith("_"):
            raise PolicyLoadError(
                [PolicyError(path, None, "", "files starting with '_' are not policies")]
            )
        files = [path]
    else:
        raise PolicyLoadError([PolicyError(path, None, "", "no such policy file or folder")])
    errors: list[PolicyError] = []
    protect_list: ProtectList | None = None
    try:
        protect_list = _find_protect_list(folder, protect)
    except PolicyLoadError as exc:
        errors.extend(exc.errors)
    policies: list[Policy] = []
    seen: dict[str, Policy] = {}
    for file in files:
        try:
            policy, lines = _load_file(file, allowed_namespaces)
        except PolicyLoadError as exc:
            errors.extend(exc.errors)
            continue
        key = policy.name.casefold()
        other = seen.get(key)
        if other is not None:
            errors.append(
                PolicyError(
                    file,
                    lines.get(("name",)),
                    "name",
                    f"duplicate policy name '{policy.name}' (also used by {other.source}); "
                    "policy names are unique in a folder",
                )
            )
            continue
        seen[key] = policy
        policies.append(policy.loaded(content_hash=policy.content_hash, protect=protect_list))
    if errors:
        raise PolicyLoadError(_sorted(errors))
    return policies


def load_protect_list(path: Path | str) -> ProtectList:
    """Load a protect list file (``_protect.yaml``); a file holding only comments is an empty
    list. :class:`PolicyLoadError` lists every mistake in it."""
    path = Path(path)
    text = _read_text(path, "a protect list")
    data, lines, errors = read_yaml(text, path, empty_ok=True, what="a protect list")
    if errors:
        raise PolicyLoadError(_sorted(errors))
    if data is None:
        return ProtectList().at(path)
    try:
        return ProtectList.model_validate(data).at(path)
    except ValidationError as exc:
        raise PolicyLoadError(
            _sorted(
                [
                    _translate(d, path, lines, root=ProtectList)
                    for d in exc.errors(include_url=False)
                ]
            )
        ) from None
    except RecursionError:
        raise PolicyLoadError([PolicyError(path, None, "", "is nested too deeply")]) from None


def _find_protect_list(folder: Path, explicit: Path | str | None) -> ProtectList | None:
    """The protect list named by ``explicit`` (it must exist), else ``folder/_protect.yaml`` if
    present. A file whose name is one typo away from ``_protect.yaml`` is refused rather than
    silently skipped: a protect list that is not read protects nothing."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise PolicyLoadError(
                [PolicyError(path, None, "", "no such protect list file (JANITOR_PROTECT)")]
            )
        return load_protect_list(path)
    candidate = folder / PROTECT_FILE
    if candidate.is_file():
        return load_protect_list(candidate)
    for other in sorted(folder.glob("_*")):
        if difflib.get_close_matches(other.name, [PROTECT_FILE], n=1, cutoff=0.8):
            raise PolicyLoadError(
                [
                    PolicyError(
                        other,
                        None,
                        "",
                        f"is not read: the protect list must be named {PROTECT_FILE}",
                    )
                ]
            )
    return None


def load_policy_file(
    path: Path | str, *, allowed_namespaces: Collection[str] | None = None
) -> Policy:
    """Load one policy file; :class:`PolicyLoadError` lists every mistake in it."""
    return _load_file(Path(path), allowed_namespaces)[0]


def parse_policy(
    text: str,
    source: Path | str = _MEMORY,
    *,
    allowed_namespaces: Collection[str] | None = None,
) -> Policy:
    """Load a policy from YAML text; ``source`` names it in errors and becomes ``.source``."""
    return _parse(text, Path(source), allowed_namespaces)[0]


def policy_from_data(
    data: object,
    source: Path | str = _MEMORY,
    *,
    allowed_namespaces: Collection[str] | None = None,
    lines: Lines | None = None,
) -> Policy:
    """Validate already-parsed data (a mapping as YAML would give) into a :class:`Policy`.

    ``name`` defaults to the stem of ``source``. Any mistake raises :class:`PolicyLoadError`;
    no other exception escapes for any input.
    """
    source = Path(source)
    lines = lines or {}
    if not isinstance(data, Mapping):
        got = "nothing" if data is None else _describe(data)
        raise PolicyLoadError(
            [
                PolicyError(
                    source,
                    lines.get(()),
                    "",
                    f"a policy is a mapping of keys (name:, namespace:, select:, ...); found {got}",
                )
            ]
        )
    raw: dict[Any, Any] = dict(data)
    name_from_file = "name" not in raw and source != _MEMORY
    if name_from_file:
        raw["name"] = source.stem
    errors = _check_select_names(raw.get("select"), source, lines)
    context = {
        CONTEXT_SOURCE: source,
        CONTEXT_ALLOWED_NAMESPACES: None
        if allowed_namespaces is None
        else frozenset(allowed_namespaces),
        CONTEXT_NAMES_CHECKED: True,
    }
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(raw, context=context)
    except ValidationError as exc:
        for detail in exc.errors(include_url=False):
            error = _translate(detail, source, lines)
            if name_from_file and error.field == "name":
                error = PolicyError(
                    error.file,
                    error.line,
                    error.field,
                    f"{error.message} (taken from the file name; set name: to choose one)",
                )
            errors.append(error)
    except RecursionError:
        errors.append(PolicyError(source, None, "", "the document is nested too deeply"))
    if errors or policy is None:
        raise PolicyLoadError(_sorted(errors))
    return policy


# --------------------------------------------------------------------------- files and YAML


def _load_file(path: Path, allowed: Collection[str] | None) -> tuple[Policy, Lines]:
    data = _read_bytes(path, "a policy")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(
            [PolicyError(path, None, "", f"is not UTF-8 text (byte {exc.start})")]
        ) from None
    policy, lines = _parse(text, path, allowed)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return policy.loaded(content_hash=digest, protect=None), lines


def _read_bytes(path: Path, what: str) -> bytes:
    """The bytes of ``what`` (a policy, a protect list) at ``path``: a regular file of at most
    1 MiB (a FIFO, a device or a folder is refused before a byte is read)."""
    try:
        return read_capped(path, limit=MAX_FILE_BYTES)
    except FileInputError as exc:
        raise PolicyLoadError([PolicyError(path, None, "", exc.problem)]) from None


def _read_text(path: Path, what: str) -> str:
    data = _read_bytes(path, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(
            [PolicyError(path, None, "", f"is not UTF-8 text (byte {exc.start})")]
        ) from None


def _parse(text: str, source: Path, allowed: Collection[str] | None) -> tuple[Policy, Lines]:
    data, lines, errors = read_yaml(text, source)
    if errors:
        # Validate what could be read anyway, so the schema's mistakes come in the same pass.
        if data is not None and isinstance(data, Mapping):
            try:
                policy_from_data(data, source, allowed_namespaces=allowed, lines=lines)
            except PolicyLoadError as exc:
                errors.extend(exc.errors)
        raise PolicyLoadError(_sorted(errors))
    return policy_from_data(data, source, allowed_namespaces=allowed, lines=lines), lines


def read_yaml(
    text: str, source: Path, *, empty_ok: bool = False, what: str = "a policy"
) -> tuple[object, dict[Loc, int], list[PolicyError]]:
    """Parse one YAML document with SafeLoader; return the data, the line (1-based) of every
    key and list item by its path, and the mistakes YAML itself lets slip (duplicate keys,
    several documents, alias bombs). Data is None when the text cannot be read at all, or
    (with ``empty_ok``) when the document is empty."""
    lines: dict[Loc, int] = {}
    errors: list[PolicyError] = []
    try:
        loader = _PolicyLoader(text)
    except yaml.reader.ReaderError as exc:  # PyYAML checks the characters up front
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        errors.append(
            PolicyError(
                source,
                line,
                "",
                f"holds a character YAML does not allow: #x{exc.character:04x}",
            )
        )
        return None, lines, errors
    try:
        node = loader.get_single_node()
        if node is None:
            if empty_ok:
                return None, lines, errors
            errors.append(
                PolicyError(
                    source, None, "", "is empty; a policy needs at least namespace: and select:"
                )
            )
            return None, lines, errors
        if not isinstance(node, yaml.MappingNode):
            errors.append(
                PolicyError(
                    source,
                    node.start_mark.line + 1,
                    "",
                    f"{what} is a mapping of keys ({_KEYS_HINT.get(what, '...')}); found "
                    + ("a list" if isinstance(node, yaml.SequenceNode) else _describe(node.value)),
                )
            )
            return None, lines, errors
        size = _expanded_size(node)
        if size is None or size > MAX_VALUES:
            what = "a recursive YAML alias" if size is None else f"more than {MAX_VALUES} values"
            errors.append(PolicyError(source, node.start_mark.line + 1, "", f"holds {what}"))
            return None, lines, errors
        _index(node, (), lines, errors, source, set())
        data = loader.construct_document(node)
    except _TooManyValues as exc:
        errors.append(PolicyError(source, exc.line, "", f"holds more than {MAX_VALUES} values"))
        return None, lines, errors
    except _BadScalar as exc:
        errors.append(PolicyError(source, exc.line, _field_on_line(lines, exc.line), exc.message))
        return None, lines, errors
    except yaml.MarkedYAMLError as exc:
        errors.append(_yaml_error(exc, source))
        return None, lines, errors
    except yaml.YAMLError as exc:
        errors.append(PolicyError(source, None, "", f"YAML error: {str(exc).splitlines()[0]}"))
        return None, lines, errors
    except RecursionError:
        errors.append(PolicyError(source, None, "", "YAML is nested too deeply"))
        return None, lines, errors
    finally:
        loader.dispose()
    return data, lines, errors


class _TooManyValues(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _BadScalar(Exception):
    """A value YAML recognises but Python cannot hold: an impossible date, a huge number."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        self.line = node.start_mark.line + 1
        self.message = message


class _PolicyLoader(yaml.SafeLoader):
    """SafeLoader that counts nodes as it composes them (stopping at :data:`MAX_VALUES`) and
    turns the values Python refuses into a mistake at their line, never a ValueError."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.nodes += 1
        if self.nodes > MAX_VALUES:
            raise _TooManyValues(self.peek_event().start_mark.line + 1)
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            value = super().construct_yaml_int(node)
        except ValueError:  # more than 4,300 decimal digits: Python refuses to convert them
            value = None
        if value is None or abs(value) > MAX_INTEGER:
            shown = node.value if len(node.value) <= 24 else f"{node.value[:20]}..."
            raise _BadScalar(node, f"{shown} is too large a number (at most {MAX_INTEGER})")
        return value

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> date:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:  # 2020-02-30, a 25:00 hour
            raise _BadScalar(node, f"'{node.value}' is not a real date or time ({exc})") from None


_PolicyLoader.add_constructor("tag:yaml.org,2002:int", _PolicyLoader.construct_yaml_int)
_PolicyLoader.add_constructor("tag:yaml.org,2002:timestamp", _PolicyLoader.construct_yaml_timestamp)


def _field_on_line(lines: Lines, line: int) -> str:
    """The field of the deepest key or item that starts on ``line`` ("" if none does)."""
    on_line = [loc for loc, at in lines.items() if at == line]
    return _field(max(on_line, key=len)) if on_line else ""


def _yaml_error(exc: yaml.MarkedYAMLError, source: Path) -> PolicyError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "cannot be parsed"
    if "expected a single document" in (exc.context or ""):
        return PolicyError(
            source, line, "", "holds more than one YAML document ('---'); one policy per file"
        )
    detail = f"YAML syntax error: {problem}"
    if exc.context:
        detail += f" ({exc.context}"
        if exc.context_mark is not None and exc.context_mark is not mark:
            detail += f" on line {exc.context_mark.line + 1}"
        detail += ")"
    return PolicyError(source, line, "", detail)


def _expanded_size(root: yaml.Node) -> int | None:
    """How many values the document holds once aliases are expanded; None if recursive."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int | None:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            return None
        active.add(key)
        total = 1
        children: Iterable[yaml.Node]
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = ()
        for child in children:
            n = size(child)
            if n is None:
                return None
            total += n
            if total > MAX_VALUES:
                break
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _index(
    node: yaml.Node,
    path: Loc,
    lines: dict[Loc, int],
    errors: list[PolicyError],
    source: Path,
    seen: set[int],
) -> None:
    """Record the line of every key and item by path; report duplicate keys."""
    if id(node) in seen:  # an alias: its content was indexed where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first:
                errors.append(
                    PolicyError(
                        source,
                        line,
                        _field((*path, key)),
                        f"duplicate key (first on line {first[key]}); YAML would silently keep "
                        "only the last one",
                    )
                )
                continue
            first[key] = line
            lines[(*path, key)] = line
            _index(value_node, (*path, key), lines, errors, source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _index(item, (*path, i), lines, errors, source, seen)


# --------------------------------------------------------------------------- error texts


def _check_select_names(select: object, source: Path, lines: Lines) -> list[PolicyError]:
    """Duplicate entry names, checked on the raw data so they are reported with their line
    even when other mistakes stop the model's own check from running."""
    errors: list[PolicyError] = []
    if not isinstance(select, list):
        return errors
    first: dict[str, int] = {}
    for i, entry in enumerate(select):
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("name", f"select[{i}]")
        if not isinstance(name, str):
            continue
        if name in first:
            loc: Loc = ("select", i, "name")
            errors.append(
                PolicyError(
                    source,
                    _line(lines, loc),
                    _field(loc),
                    f"duplicate select entry name '{name}' (also select[{first[name]}]); "
                    "entry names are unique within a policy",
                )
            )
        else:
            first[name] = i
    return errors


def _translate(
    detail: Mapping[str, Any], source: Path, lines: Lines, *, root: type[BaseModel] = Policy
) -> PolicyError:
    loc: Loc = tuple(p if isinstance(p, (str, int)) else str(p) for p in detail.get("loc", ()))
    kind = detail.get("type", "")
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    if kind in ("extra_forbidden", "invalid_key") and loc:
        loc = (*loc[:-1], str(loc[-1]))  # a key, even when YAML read it as a number
    if kind == "missing":
        message = _missing_message(loc)
    elif kind in ("extra_forbidden", "invalid_key"):
        message = _unknown_key_message(loc, root)
    elif kind in ("value_error", "assertion_error") and "error" in ctx:
        message = str(ctx["error"])
    elif kind == "string_type":
        message = f"expected a string, got {_describe(value)}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        message = f"expected a whole number, got {_describe(value)}"
    elif kind in ("float_type", "float_parsing", "finite_number"):
        message = f"expected a number, got {_describe(value)}"
    elif kind in ("bool_type", "bool_parsing"):
        message = f"expected true or false, got {_describe(value)}"
    elif kind in ("list_type", "tuple_type"):
        message = f"expected a list (lines starting with '- ', or [a, b]), got {_describe(value)}"
    elif kind in ("model_type", "model_attributes_type", "dict_type", "dataclass_type"):
        message = f"expected a mapping (key: value), got {_describe(value)}"
    elif kind == "literal_error":
        message = f"{_describe(value)} is not one of {ctx.get('expected', '?')}"
    else:
        message = str(detail.get("msg", "is not valid"))
    return PolicyError(source, _line(lines, loc), _field(loc), message)


_REQUIRED_HINTS: dict[Loc, str] = {
    ("namespace",): "is required: the Docker Hub user or organization whose images to judge",
    ("select",): "is required: a policy must select something (a list of select entries)",
    ("name",): "is required for a policy that does not come from a file (no file name to use)",
}


def _missing_message(loc: Loc) -> str:
    return _REQUIRED_HINTS.get(loc, "is required")


def _unknown_key_message(loc: Loc, root: type[BaseModel]) -> str:
    key = str(loc[-1]) if loc else "?"
    model = _model_at(loc[:-1], root)
    allowed = list(model.model_fields) if model is not None else []
    message = f"unknown key '{key}'"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
    if close:
        message += f"; did you mean '{close[0]}'?"
    if allowed:
        message += f" (allowed here: {', '.join(allowed)})"
    return message


def _model_at(loc: Loc, root: type[BaseModel]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _field(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _line(lines: Lines, loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest parent that has one."""
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return None


def _sorted(errors: list[PolicyError]) -> list[PolicyError]:
    return sorted(errors, key=lambda e: (str(e.file), e.line or 0))


def _describe(value: object) -> str:
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{shown_number(value)} (a number)"
    if isinstance(value, float):
        return f"{value!r} (a number)"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"'{shown}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__} value"
