"""Name patterns of policies: shell globs and ``re:`` regular expressions, compiled once.

- A glob (``pr-*``, ``v1.?``, ``build-[0-9]*``) matches the whole name, case-sensitively, as
  :func:`fnmatch.fnmatchcase` does. It may only hold characters a name can hold plus ``* ? [ ]``
  (and ``!`` right after ``[``), so a regular expression written without ``re:`` (``^v\\d+``) is
  refused instead of silently matching nothing. Tags hold ``A-Z a-z 0-9 _ . -``; repository
  names are lower case (``a-z 0-9 _ . -``).
- ``re:<regex>`` is searched anywhere in the name: anchor it (``re:^v\\d+$``) to match it all.
  Regular expressions use RE2 (google-re2): matching is linear in the name's length, so no
  pattern can hang an evaluation; what RE2 does not support (backreferences, lookaround) is a
  load error that says so.

Globs are translated to RE2 too, so every pattern runs on the same linear-time engine.
A :class:`PatternList` answers "which pattern of this list matches first" with one combined
RE2 search per distinct name and a bounded cache, because a namespace repeats the same tags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import re2

from janitor.policy.errors import shown_number

REGEX_PREFIX = "re:"
MAX_PATTERN_LENGTH = 1000
_CACHE_LIMIT = 65536

TAG_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
REPOSITORY_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
_REGEX_CHARS = frozenset("\\^$()+{}|")

PatternKind = Literal["glob", "re"]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One pattern: ``text`` as written in the policy, ``regex`` the RE2 source it runs as."""

    text: str
    kind: PatternKind
    regex: str

    def __str__(self) -> str:
        return self.text


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # errors become load errors; nothing on stderr
    options.never_capture = True
    return options


_OPTIONS = _options()


def _compile(regex: str) -> re2._Regexp:
    return re2.compile(regex, _OPTIONS)


def _error_text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    return str(arg)


def parse_tag_pattern(value: object) -> Pattern:
    """A pattern for tags; ``ValueError`` with a readable message when it is not valid."""
    return _parse(value, TAG_ALPHABET, "tag")


def parse_repository_pattern(value: object) -> Pattern:
    """A pattern for repository names (without the namespace)."""
    return _parse(value, REPOSITORY_ALPHABET, "repository name")


def _parse(value: object, alphabet: frozenset[str], what: str) -> Pattern:
    if not isinstance(value, str):
        raise ValueError(f"expected a pattern (a string), got {_describe(value)}")
    if len(value) > MAX_PATTERN_LENGTH:
        raise ValueError(f"pattern is longer than {MAX_PATTERN_LENGTH} characters")
    if value.startswith(REGEX_PREFIX):
        regex = value[len(REGEX_PREFIX) :]
        if not regex:
            raise ValueError("'re:' needs a regular expression after it, e.g. 're:^v[0-9]+$'")
        try:
            _compile(regex)
        except re2.error as exc:
            raise ValueError(
                f"'{value}' is not a regular expression janitor can use: {_error_text(exc)} "
                "(janitor uses RE2: no backreferences or lookaround)"
            ) from None
        return Pattern(text=value, kind="re", regex=regex)
    return Pattern(text=value, kind="glob", regex=glob_to_regex(value, alphabet, what))


def glob_to_regex(glob: str, alphabet: frozenset[str], what: str) -> str:
    """Translate a shell glob to an anchored RE2 expression, refusing what cannot match."""
    if not glob:
        raise ValueError("an empty pattern matches nothing")
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
            i += 1
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[":
            cls, i = _bracket(glob, i, alphabet, what)
            out.append(cls)
        else:
            _check_char(glob, c, alphabet, what)
            out.append("\\." if c == "." else c)
            i += 1
    return "^" + "".join(out) + "$"


def _bracket(glob: str, start: int, alphabet: frozenset[str], what: str) -> tuple[str, int]:
    """Translate ``[...]`` starting at ``start``; return the RE2 class and the next index."""
    j, n = start + 1, len(glob)
    negate = j < n and glob[j] in "!^"
    if negate:
        j += 1
    items: list[str] = []
    while j < n and glob[j] != "]":
        a = glob[j]
        _check_char(glob, a, alphabet, what)
        if j + 2 < n and glob[j + 1] == "-" and glob[j + 2] != "]":
            b = glob[j + 2]
            _check_char(glob, b, alphabet, what)
            if a > b:
                raise ValueError(f"'{glob}' is not a valid glob: range {a}-{b} is reversed")
            items.append(f"{_class_char(a)}-{_class_char(b)}")
            j += 3
        else:
            items.append(_class_char(a))
            j += 1
    if j >= n:
        raise ValueError(f"'{glob}' is not a valid glob: '[' at position {start + 1} is not closed")
    if not items:
        raise ValueError(f"'{glob}' is not a valid glob: '[]' holds no character")
    return "[" + ("^" if negate else "") + "".join(items) + "]", j + 1


def _class_char(c: str) -> str:
    return "\\" + c if c in "-]\\^" else c


def _check_char(glob: str, c: str, alphabet: frozenset[str], what: str) -> None:
    if c in alphabet:
        return
    hint = ""
    if c in _REGEX_CHARS:
        hint = f"; for a regular expression write 're:{glob}'"
    elif c == "/" and alphabet is REPOSITORY_ALPHABET:
        hint = "; match the repository name without the namespace, e.g. 'web-*'"
    elif c.isupper() and alphabet is REPOSITORY_ALPHABET:
        hint = "; repository names are lower case"
    shown = f"'{c}'" if c.isprintable() else repr(c)
    raise ValueError(f"'{glob}' is not a valid glob: {shown} cannot appear in a {what}{hint}")


def _searcher(compiled: re2._Regexp) -> Callable[[str], bool]:
    """A fast ``bool(search)`` for one compiled RE2 expression.

    google-re2's public ``search`` builds a generator and a match object per call (about 6 us);
    the wrapped ``RE2.Match`` answers in under 1 us. Use it when present (checked by the tests
    against the public API), else the public API. It matters where the name caches miss: with
    a unique current tag on most images, evaluation takes 20% less CPU (13.4 -> 10.6 us per
    image on ``tests/policy/bench_evaluate.py``'s inventories); with repeated tags, nothing
    measurable.
    """
    raw = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if raw is None or anchor is None or not hasattr(raw, "Match"):
        return lambda text: compiled.search(text) is not None
    match = raw.Match

    def search(text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        return bool(match(anchor, data, 0, len(data))[0][0] != -1)

    return search


def public_searcher(compiled: re2._Regexp) -> Callable[[str], bool]:
    """The slow, public-API twin of the fast searcher (for tests and as a fallback)."""
    return lambda text: compiled.search(text) is not None


class PatternList:
    """An ordered list of patterns; a name matches the list when any pattern matches it."""

    __slots__ = ("_any", "_cache", "_each", "_text", "_why", "patterns")

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns: tuple[Pattern, ...] = tuple(patterns)
        if not self.patterns:
            raise ValueError("a pattern list needs at least one pattern")
        self._each = tuple(_searcher(_compile(p.regex)) for p in self.patterns)
        if len(self.patterns) == 1:
            self._any = self._each[0]
        else:
            combined = "|".join(f"(?:{p.regex})" for p in self.patterns)
            try:
                self._any = _searcher(_compile(combined))
            except re2.error as exc:  # each compiles alone; together they may be too large
                raise ValueError(
                    f"these patterns are too large together for RE2: {_error_text(exc)}"
                ) from None
        self._cache: dict[str, int] = {}
        self._why: dict[str, str] = {}
        self._text = ", ".join(p.text for p in self.patterns)

    def __reduce__(self) -> tuple[type[PatternList], tuple[tuple[Pattern, ...]]]:
        return PatternList, (self.patterns,)

    def why(self, name: str) -> str:
        """``'v1.2' matches 're:^v'`` for the first pattern matching ``name``, else ``""``."""
        text = self._why.get(name)
        if text is None:
            index = self.first(name)
            text = "" if index < 0 else f"'{name}' matches '{self.patterns[index].text}'"
            if len(self._why) >= _CACHE_LIMIT:
                self._why.clear()
            self._why[name] = text
        return text

    def first(self, name: str) -> int:
        """Index of the first pattern that matches ``name``, or -1."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        index = -1
        if self._any(name):
            for i, search in enumerate(self._each):
                if search(name):
                    index = i
                    break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[name] = index
        return index

    def matches(self, name: str) -> bool:
        return self.first(name) >= 0

    def describe(self) -> str:
        """The patterns as a person reads them: ``pr-*, re:^v1``."""
        return self._text

    def __repr__(self) -> str:
        return f"PatternList([{self.describe()}])"


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        shown = shown_number(value) if isinstance(value, int) else repr(value)
        return f"{shown} (a number; quote it to make it a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
