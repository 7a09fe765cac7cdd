"""The policy schema: strict pydantic v2 models of one policy file.

Strict on purpose: unknown keys are refused (``extra="forbid"``), values are not coerced
(``"5"`` is not a number, ``1`` is not ``true``), and rules that could never do what they
say (an empty tag list, ``most_recent: 0``, an empty age window, ``older_than`` on
``last_pulled`` without ``never``) are load errors. Models are frozen; patterns are compiled
once at validation and kept on the model.

Build policies with :func:`janitor.policy.load.policy_from_data` or the file loaders: they
turn validation errors into :class:`~janitor.policy.errors.PolicyError` lines naming file,
line and field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from janitor.policy.durations import Duration, parse_duration
from janitor.policy.errors import shown_number
from janitor.policy.patterns import (
    Pattern,
    PatternList,
    parse_repository_pattern,
    parse_tag_pattern,
)
from janitor.policy.schedule import cron_trigger, load_timezone, validate_schedule

if TYPE_CHECKING:
    from janitor.policy.protect import ProtectList

NeverRule = Literal["match", "skip"]
CurrentTagRule = Literal["skip", "delete"]
SelectAction = Literal["delete", "untag"]
Mode = Literal["dry-run", "delete"]

CONTEXT_SOURCE = "source"
CONTEXT_ALLOWED_NAMESPACES = "allowed_namespaces"
CONTEXT_NAMES_CHECKED = "select_names_checked"
REFUSED_NAMESPACES = frozenset({"library"})

_POLICY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAMESPACE_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,253}[a-z0-9])?")
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _duration(value: object) -> Duration:
    return value if isinstance(value, Duration) else parse_duration(value)


def _tag_pattern(value: object) -> Pattern:
    return value if isinstance(value, Pattern) else parse_tag_pattern(value)


def _repository_pattern(value: object) -> Pattern:
    return value if isinstance(value, Pattern) else parse_repository_pattern(value)


# What `janitor policies schema` says of the custom types (janitor/policy/schema.py adds the rest).
_DURATION_SCHEMA = {
    "type": "string",
    "title": "Duration",
    "description": "A length of time: 90min, 12h, 30d, 2w, 6m (calendar months; also mo), 1y, "
    "or ISO 8601 (P90D, PT12H). Whole numbers, longer than zero.",
    "pattern": r"^\s*(0*[1-9][0-9]*(min|mo|h|d|w|m|y)|P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?"
    r"([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?)?)\s*$",
    "examples": ["30d", "12h", "2w", "6m", "P90D"],
}
_TAG_PATTERN_SCHEMA = {
    "type": "string",
    "title": "Tag pattern",
    "description": "A shell glob matching the whole tag (letters, digits, _ . - and * ? [ ]), or "
    "re:<regex> (RE2, searched anywhere in the tag: anchor it with ^ and $).",
    "pattern": r"^(re:.+|[A-Za-z0-9_.*?\[\]!-]+)$",
    "maxLength": 1000,
    "examples": ["pr-*", "latest", r"re:^v?[0-9]+\.[0-9]+\.[0-9]+$"],
}
_REPOSITORY_PATTERN_SCHEMA = {
    "type": "string",
    "title": "Repository pattern",
    "description": "A shell glob matching the whole repository name, without the namespace "
    "(lower-case letters, digits, _ . - and * ? [ ]), or re:<regex> (RE2).",
    "pattern": r"^(re:.+|[a-z0-9_.*?\[\]!-]+)$",
    "maxLength": 1000,
    "examples": ["web-*", "api", "re:^svc-[a-z]+$"],
}

DurationField = Annotated[
    Duration, PlainValidator(_duration), PlainSerializer(str), WithJsonSchema(_DURATION_SCHEMA)
]
TagPattern = Annotated[
    Pattern, PlainValidator(_tag_pattern), PlainSerializer(str), WithJsonSchema(_TAG_PATTERN_SCHEMA)
]
RepositoryPattern = Annotated[
    Pattern,
    PlainValidator(_repository_pattern),
    PlainSerializer(str),
    WithJsonSchema(_REPOSITORY_PATTERN_SCHEMA),
]


MAX_COUNT = 10**9
"""The largest count a policy may give (``most_recent``, ``max_deletes``): far more images than
a namespace holds, and a number every formatter and the store can take."""


def _at_most_max_count(value: int | None) -> int | None:
    if value is not None and value > MAX_COUNT:
        raise ValueError(f"{shown_number(value)} is more than {MAX_COUNT:,}, the most allowed")
    return value


class StrictModel(BaseModel):
    # A docstring under a field is its description in `janitor policies schema`.
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


def _pattern_list(patterns: Sequence[Pattern] | None) -> PatternList | None:
    return PatternList(patterns) if patterns else None


class _Window(StrictModel):
    """An age window, either end optional (shared by ``last_pushed`` and ``last_pulled``).

    ``older_than: D`` holds when the time is at or before ``now - D``; ``newer_than: D`` when it
    is after ``now - D``. An unknown time never satisfies the condition.
    """

    older_than: DurationField | None = None
    """Holds for a time at or before now minus this duration."""
    newer_than: DurationField | None = None
    """Holds for a time after now minus this duration (longer than older_than)."""

    @field_validator("newer_than")
    @classmethod
    def _window_not_empty(cls, value: Duration | None, info: ValidationInfo) -> Duration | None:
        older = info.data.get("older_than")
        if value is None or older is None:
            return value
        if older.max_seconds >= value.min_seconds:
            if older.min_seconds >= value.max_seconds:
                why = "nothing is older than {o} and newer than {n}: the window is empty"
            else:  # calendar months make the lengths depend on the date
                why = (
                    "on some dates {o} is as long as {n} (months are 28 to 31 days): "
                    "the window can be empty"
                )
            raise ValueError(
                f"older_than {older} must be shorter than newer_than {value}; "
                + why.format(o=older, n=value)
            )
        return value


class AgeCondition(_Window):
    """``last_pushed: {older_than: 14d, newer_than: 2y}``."""

    @model_validator(mode="after")
    def _has_bound(self) -> AgeCondition:
        if self.older_than is None and self.newer_than is None:
            raise ValueError("needs older_than, newer_than or both, e.g. {older_than: 30d}")
        return self


class PulledCondition(_Window):
    """``last_pulled``: an age window plus what a never-pulled image does.

    ``never: match`` counts a never-pulled image as satisfying the condition (old enough),
    ``never: skip`` as failing it. ``never`` is required wherever ``older_than`` is given, so
    the choice is always written down; ``{never: match}`` alone selects never-pulled images;
    with only ``newer_than`` it defaults to ``skip``.
    """

    never: NeverRule | None = Field(default=None, validate_default=True)
    """What a never-pulled image does: match (counts as old enough) or skip (does not match).
    Required with older_than."""

    @field_validator("never", mode="after")
    @classmethod
    def _never_required(cls, value: NeverRule | None, info: ValidationInfo) -> NeverRule | None:
        if value is None and info.data.get("older_than") is not None:
            raise ValueError(
                "is required with older_than: write never: match to count never-pulled images "
                "as old enough, or never: skip to leave them alone"
            )
        return value

    @model_validator(mode="after")
    def _has_rule(self) -> PulledCondition:
        if self.older_than is None and self.newer_than is None and self.never != "match":
            raise ValueError(
                "needs older_than (with never: match | skip), newer_than, "
                "or never: match alone to select never-pulled images"
            )
        return self

    @property
    def never_matches(self) -> bool:
        """What a never-pulled image does: ``never`` as written, ``skip`` when left out."""
        return self.never == "match"


class SelectEntry(StrictModel):
    """One way an image becomes a candidate; all of the entry's conditions must hold."""

    name: str | None = None
    """The entry's name in plans and reports (default select[N]); unique in the policy."""
    currently_tagged: bool | None = None
    """true: images with current tags; false: untagged images."""
    tags: list[TagPattern] | None = None
    """The image has current tags and every one matches one of these patterns."""
    last_pushed: AgeCondition | None = None
    """An age window on when the image was last pushed."""
    last_pulled: PulledCondition | None = None
    """An age window on when the image was last pulled, and what never-pulled images do."""
    current_tag: CurrentTagRule = "skip"
    """What to do when Hub warns that the image still has current tags: skip it (default), or
    delete it with its tags."""
    orphaned_companions: bool = False
    """true: the entry selects companions (cosign signatures, attestations, SBOMs and referrer
    tags sha256-<hex>...) whose subject image is gone, when its age conditions hold; it then
    selects nothing else."""
    action: SelectAction = "delete"
    """delete (default): delete the selected images; untag: only remove the current tags that
    match the entry's tags from the images it selects, which otherwise stay."""
    allow_last_tag: bool = False
    """With action: untag, also remove an image's last current tag (by default an image keeps
    at least one)."""

    _tags: PatternList | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip() or len(value) > 100 or not value.isprintable() or "'" in value:
            raise ValueError(
                f"{value!r} is not a usable entry name: 1 to 100 printable characters, no quotes"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags_not_empty(cls, value: list[Pattern] | None) -> list[Pattern] | None:
        if value is not None and not value:
            raise ValueError("an empty tags list selects nothing; leave tags out or add patterns")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> SelectEntry:
        conditions = (self.currently_tagged, self.tags, self.last_pushed, self.last_pulled)
        if all(c is None for c in conditions) and not self.orphaned_companions:
            raise ValueError(
                "a select entry needs at least one condition: currently_tagged, tags, "
                "last_pushed, last_pulled or orphaned_companions"
            )
        if self.orphaned_companions and (self.tags is not None or self.currently_tagged):
            raise ValueError(
                "orphaned_companions selects companions by their subject, never by tag: "
                "leave tags and currently_tagged out of that entry"
            )
        if self.action == "untag":
            if self.tags is None:
                raise ValueError("action: untag needs tags: the patterns of the tags to remove")
            if self.orphaned_companions:
                raise ValueError("action: untag cannot go with orphaned_companions")
        elif self.allow_last_tag:
            raise ValueError("allow_last_tag only goes with action: untag")
        if self.tags is not None and self.currently_tagged is False:
            raise ValueError(
                "tags needs current tags, so it can never hold with currently_tagged: false"
            )
        self._tags = _pattern_list(self.tags)
        return self

    @property
    def tag_patterns(self) -> PatternList | None:
        return self._tags

    @property
    def label(self) -> str:
        return self.name or "select"


KeepShape = Literal["most_recent", "tags", "tags+most_recent", "pulled_within", "pushed_within"]


class KeepRule(StrictModel):
    """A rule that protects images; any matching keep rule wins over every select entry.

    One of: ``most_recent: N``; ``tags: [...]``; ``tags`` with ``most_recent`` (the N newest
    images carrying a matching current tag); ``pulled_within: D``; ``pushed_within: D``.
    """

    most_recent: int | None = None
    """Keep the N newest images of each repository by last push (with tags: the N newest
    carrying a matching tag)."""
    tags: list[TagPattern] | None = None
    """Keep every image with a current tag matching one of these patterns."""
    pulled_within: DurationField | None = None
    """Keep images pulled within this long."""
    pushed_within: DurationField | None = None
    """Keep images pushed within this long."""

    _tags: PatternList | None = PrivateAttr(default=None)

    @field_validator("most_recent")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"{shown_number(value)} keeps nothing; use 1 or more")
        return _at_most_max_count(value)

    @field_validator("tags")
    @classmethod
    def _tags_not_empty(cls, value: list[Pattern] | None) -> list[Pattern] | None:
        if value is not None and not value:
            raise ValueError("an empty tags list keeps nothing; add patterns or drop the rule")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> KeepRule:
        given = [
            k
            for k in ("most_recent", "tags", "pulled_within", "pushed_within")
            if getattr(self, k) is not None
        ]
        if given not in (
            ["most_recent"],
            ["tags"],
            ["most_recent", "tags"],
            ["pulled_within"],
            ["pushed_within"],
        ):
            got = " with ".join(given) if given else "nothing"
            raise ValueError(
                "a keep rule is one of: most_recent; tags; tags with most_recent; "
                f"pulled_within; pushed_within (got {got}); write separate rules to keep more"
            )
        self._tags = _pattern_list(self.tags)
        return self

    @property
    def tag_patterns(self) -> PatternList | None:
        return self._tags

    @property
    def shape(self) -> KeepShape:
        if self.tags is not None:
            return "tags+most_recent" if self.most_recent is not None else "tags"
        if self.most_recent is not None:
            return "most_recent"
        return "pulled_within" if self.pulled_within is not None else "pushed_within"

    def describe(self) -> str:
        """The rule as written, e.g. ``tags: release-* most_recent: 3``."""
        parts = []
        if self.tags is not None:
            parts.append("tags: " + ", ".join(p.text for p in self.tags))
        if self.most_recent is not None:
            parts.append(f"most_recent: {self.most_recent}")
        if self.pulled_within is not None:
            parts.append(f"pulled_within: {self.pulled_within}")
        if self.pushed_within is not None:
            parts.append(f"pushed_within: {self.pushed_within}")
        return " ".join(parts)


class RepositoryFilter(StrictModel):
    """Which repositories of the namespace a policy covers: include (default all) minus exclude."""

    include: list[RepositoryPattern] | None = None
    """Repositories covered (default: all of the namespace)."""
    exclude: list[RepositoryPattern] = Field(default_factory=list)
    """Repositories left out, even when included."""

    _include: PatternList | None = PrivateAttr(default=None)
    _exclude: PatternList | None = PrivateAttr(default=None)

    @field_validator("include")
    @classmethod
    def _include_not_empty(cls, value: list[Pattern] | None) -> list[Pattern] | None:
        if value is not None and not value:
            raise ValueError("an empty include covers no repository; leave it out to cover all")
        return value

    @model_validator(mode="after")
    def _compile(self) -> RepositoryFilter:
        self._include = _pattern_list(self.include)
        self._exclude = _pattern_list(self.exclude)
        return self

    def covers(self, repository: str) -> bool:
        if self._exclude is not None and self._exclude.matches(repository):
            return False
        return self._include is None or self._include.matches(repository)


class Limits(StrictModel):
    """Safety limits checked on the whole plan; exceeding one refuses the plan."""

    max_deletes: int | None = None
    """At most this many images deleted by one run; a larger plan is refused whole."""
    max_fraction_per_repository: float | None = None
    """At most this fraction (above 0, at most 1) of a repository's images deleted by one run."""

    @field_validator("max_deletes")
    @classmethod
    def _non_negative(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError(f"{shown_number(value)} is negative; use 0 or more")
        return _at_most_max_count(value)

    @field_validator("max_fraction_per_repository")
    @classmethod
    def _fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError(
                f"{value} is out of range: a fraction above 0 and at most 1, e.g. 0.5 for half"
            )
        return value


class Report(StrictModel):
    """Where each run's report goes, besides the report folder."""

    email: list[str] = Field(default_factory=list)
    """Addresses the run report is mailed to (default: JANITOR_REPORT_TO)."""
    notify: list[str] = Field(default_factory=list)
    """Apprise URLs (Slack, Teams, a JSON webhook, ...) told when a run of this policy fails or
    deletes images; instead of JANITOR_NOTIFY. They carry tokens: whoever reads the policy
    files reads them."""

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if len(a) > 254 or not _EMAIL.fullmatch(a)]
        if bad:
            shown = ", ".join(repr(a) for a in bad)
            raise ValueError(
                f"not an e-mail address: {shown} (write bare addresses like ops@example.com)"
            )
        return value

    @field_validator("notify")
    @classmethod
    def _notify_urls(cls, value: list[str]) -> list[str]:
        from janitor.apprise_urls import check_notify_url

        for url in value:
            check_notify_url(url)  # its error names the scheme only: a URL may hold a token
        if len(set(value)) != len(value):
            raise ValueError("lists the same URL twice")
        return value


class Policy(StrictModel):
    """One retention policy: which repositories, which images to select, which to keep."""

    name: str
    """Unique among the policies of a folder; defaults to the file name."""
    namespace: str
    """The Docker Hub user or organization the policy cleans (never library)."""
    repositories: RepositoryFilter = Field(default_factory=RepositoryFilter)
    """Which repositories of the namespace the policy covers (default: all)."""
    timezone: str = "UTC"
    """The IANA time zone of the schedule."""
    schedule: str | None = None
    """When `janitor serve` runs the policy: a 5-field crontab line (0 = Sunday) or @daily,
    @weekly, ..."""
    mode: Mode = "dry-run"
    """dry-run (default) never deletes; delete lets the service and `janitor run --apply`
    delete."""
    select: list[SelectEntry]
    """How an image becomes a candidate: it matches ANY entry; inside an entry ALL conditions
    hold."""
    keep: list[KeepRule] = Field(default_factory=list)
    """Rules that protect images; a matching keep rule always wins over select."""
    limits: Limits = Field(default_factory=Limits)
    """Safety limits checked on the whole plan before the first delete."""
    report: Report = Field(default_factory=Report)
    """Where run reports go."""

    _source: Path = PrivateAttr(default=Path("<memory>"))
    _content_hash: str | None = PrivateAttr(default=None)
    _protect: ProtectList | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not _POLICY_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a usable policy name: up to 100 letters, digits, '.', '_' "
                "or '-', starting with a letter or digit"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_ok(cls, value: str, info: ValidationInfo) -> str:
        if value in REFUSED_NAMESPACES:
            raise ValueError(
                f"'{value}' holds Docker Official Images and can never be cleaned by janitor"
            )
        if not NAMESPACE_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a Docker Hub namespace (lower-case letters, digits, '-', '_')"
            )
        allowed = _context(info).get(CONTEXT_ALLOWED_NAMESPACES)
        if allowed is not None and value not in allowed:
            shown = ", ".join(sorted(allowed)) or "none"
            raise ValueError(
                f"'{value}' is not an allowed namespace (JANITOR_NAMESPACES allows: {shown})"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_ok(cls, value: str) -> str:
        load_timezone(value)
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule_ok(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        tz = info.data.get("timezone", "UTC")
        try:
            zone: Any = load_timezone(tz)
        except ValueError:
            zone = "UTC"  # the timezone's own error is reported on its field
        return validate_schedule(value, zone)

    @field_validator("select")
    @classmethod
    def _select_ok(cls, value: list[SelectEntry], info: ValidationInfo) -> list[SelectEntry]:
        if not value:
            raise ValueError("is empty: a policy must select something")
        named = [
            e if e.name is not None else e.model_copy(update={"name": f"select[{i}]"})
            for i, e in enumerate(value)
        ]
        if not _context(info).get(CONTEXT_NAMES_CHECKED):
            seen: set[str] = set()
            for entry in named:
                assert entry.name is not None
                if entry.name in seen:
                    raise ValueError(f"duplicate select entry name '{entry.name}'")
                seen.add(entry.name)
        return named

    @model_validator(mode="after")
    def _attach_source(self, info: ValidationInfo) -> Policy:
        source = _context(info).get(CONTEXT_SOURCE)
        if isinstance(source, Path):
            self._source = source
        return self

    @property
    def source(self) -> Path:
        """The file this policy was loaded from (``<memory>`` when built in code)."""
        return self._source

    @property
    def content_hash(self) -> str | None:
        """``sha256:<hex>`` of the policy file's bytes as loaded (None when built in code): a
        saved plan names it, and applying the plan refuses a policy that changed since."""
        return self._content_hash

    @property
    def protect(self) -> ProtectList | None:
        """The protect list loaded with this policy (``_protect.yaml``): what it may never
        delete, whatever its own rules say."""
        return self._protect

    def loaded(self, *, content_hash: str | None, protect: ProtectList | None) -> Policy:
        """This policy with what the loader knows beside its fields: the hash of its file and
        the protect list of its folder."""
        copy = self.model_copy()
        copy._content_hash = content_hash
        copy._protect = protect
        return copy

    @property
    def report_emails(self) -> tuple[str, ...]:
        return tuple(self.report.email)

    @property
    def tzinfo(self) -> ZoneInfo:
        return load_timezone(self.timezone)

    @property
    def deletes(self) -> bool:
        """True when the policy file allows real deletes (``mode: delete``)."""
        return self.mode == "delete"

    def covers(self, repository_name: str) -> bool:
        """Whether this policy judges the repository (a name without the namespace)."""
        return self.repositories.covers(repository_name)

    def cron_trigger(self) -> CronTrigger | None:
        """The APScheduler trigger for ``schedule`` in ``timezone`` (crontab's weekday
        numbering, see :mod:`janitor.policy.schedule`), or None when unscheduled."""
        if self.schedule is None:
            return None
        return cron_trigger(self.schedule, self.tzinfo)


def _context(info: ValidationInfo) -> dict[str, Any]:
    context = info.context
    return context if isinstance(context, dict) else {}
