from __future__ import annotations

import fnmatch
import pickle

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from janitor.policy.patterns import (
    PatternList,
    _compile,
    _searcher,
    parse_repository_pattern,
    parse_tag_pattern,
    public_searcher,
)

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=300)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("latest", "latest", True),
        ("latest", "latest-1", False),
        ("latest", "Latest", False),  # case-sensitive
        ("pr-*", "pr-123", True),
        ("pr-*", "pr-", True),
        ("pr-*", "xpr-1", False),
        ("v1.?", "v1.2", True),
        ("v1.?", "v1x2", False),  # '.' is literal in a glob
        ("build-[0-9]*", "build-7a", True),
        ("build-[!0-9]*", "build-7a", False),
        ("build-[!0-9]*", "build-a", True),
        ("re:^v?\\d+\\.\\d+\\.\\d+$", "v1.2.3", True),
        ("re:^v?\\d+\\.\\d+\\.\\d+$", "1.2.3-rc1", False),
        ("re:rc", "1.2.3-rc1", True),  # searched anywhere
        ("re:(?i)^LATEST$", "latest", True),
    ],
)
def test_tag_patterns(pattern: str, name: str, expected: bool) -> None:
    assert PatternList([parse_tag_pattern(pattern)]).matches(name) is expected


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "an empty pattern matches nothing"),
        ("re:", "'re:' needs a regular expression"),
        ("re:(a)\\1", "not a regular expression janitor can use"),
        ("re:(?=a)b", "no backreferences or lookaround"),
        ("re:(?<!a)b", "invalid perl operator"),
        ("re:[", "missing ]"),
        ("^v\\d+", "for a regular expression write 're:^v\\d+'"),
        ("a[b", "'[' at position 2 is not closed"),
        ("[]", "holds no character"),
        ("[z-a]", "range z-a is reversed"),
        ("a b", "' ' cannot appear in a tag"),
        ("a\nb", "'\\n' cannot appear in a tag"),
        ("x" * 1001, "longer than 1000 characters"),
        (5, "expected a pattern (a string), got 5 (a number; quote it"),
        (None, "got null"),
    ],
)
def test_bad_tag_patterns(pattern: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_tag_pattern(pattern)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("Web", "repository names are lower case"),
        ("acme/web", "match the repository name without the namespace"),
    ],
)
def test_bad_repository_patterns(pattern: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_repository_pattern(pattern)
    assert fragment in str(info.value)


def test_first_pattern_in_list_order_wins_and_explains() -> None:
    patterns = PatternList([parse_tag_pattern(p) for p in ["v*", "re:^v1", "latest"]])
    assert patterns.first("v1.0") == 0
    assert patterns.first("latest") == 2
    assert patterns.first("main") == -1
    assert patterns.why("v1.0") == "'v1.0' matches 'v*'"
    assert patterns.why("main") == ""
    assert patterns.describe() == "v*, re:^v1, latest"


def test_pattern_lists_pickle() -> None:
    patterns = PatternList([parse_tag_pattern(p) for p in ["pr-*", "re:^v"]])
    copy = pickle.loads(pickle.dumps(patterns))
    assert copy.patterns == patterns.patterns
    assert copy.matches("pr-1") and copy.matches("v2") and not copy.matches("main")


GLOB_CHARS = st.sampled_from([*"ab.-1", "*", "?", "[ab]", "[!a]", "[0-9]", "[a-b]"])
NAMES = st.text(alphabet="ab.-12", max_size=8)


@SETTINGS
@given(parts=st.lists(GLOB_CHARS, min_size=1, max_size=6), name=NAMES)
def test_globs_match_like_fnmatchcase(parts: list[str], name: str) -> None:
    glob = "".join(parts)
    assert PatternList([parse_tag_pattern(glob)]).matches(name) is fnmatch.fnmatchcase(name, glob)


REGEXES = ["^v?[0-9]+", "(a+)+$", "rc[0-9]*$", "^$", "é", "[.]", "(?i)LATEST", "a|b"]


@SETTINGS
@given(regex=st.sampled_from(REGEXES), text=st.text(max_size=30))
def test_fast_search_agrees_with_the_public_api(regex: str, text: str) -> None:
    compiled = _compile(regex)
    try:
        expected = public_searcher(compiled)(text)
    except UnicodeEncodeError:  # lone surrogates: the public API cannot encode them
        return
    assert _searcher(compiled)(text) is expected


def test_catastrophic_regex_is_linear() -> None:
    """`(a+)+$` backtracks exponentially in Python's re; RE2 answers at once. The test's
    timeout is the guard: no timing assertion here."""
    patterns = PatternList([parse_tag_pattern("re:(a+)+$"), parse_tag_pattern("re:(x+x+)+y")])
    long_name = "a" * 200_000 + "!"
    assert patterns.first(long_name) == -1
    assert patterns.first("x" * 100_000) == -1
    assert patterns.first("aaa") == 0


def test_re2_module_is_the_engine() -> None:
    # Guard against a refactor that silently swaps in Python's backtracking `re`.
    assert isinstance(_compile("a"), re2._Regexp)
