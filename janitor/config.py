"""Settings from the environment and an optional TOML file.

Precedence: command-line flags (applied by the CLI) > environment (``JANITOR_*``) > ``janitor.toml``
(``--config FILE`` or ``JANITOR_CONFIG``; ``./janitor.toml`` when present) > defaults. The TOML file
uses the same names as the environment without the ``JANITOR_`` prefix, in lower case
(``hub_url = "..."``). Secrets (the Hub token, the SMTP password) may come from a file
(``*_FILE``), never from a policy. Unknown keys are refused, and every error names the variable
or key that is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypedDict

import httpx

from janitor.errors import ConfigError
from janitor.fileio import CONFIG_LIMIT, SECRET_LIMIT, FileInputError, read_text_capped

DEFAULT_HUB_URL = "https://hub.docker.com"
DEFAULT_REGISTRY_URL = "https://registry-1.docker.io"
DeleteBackendName = Literal["auto", "delete-images", "registry"]


class Secret:
    """A string that never shows itself in a repr, a log line or an exception."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME")
    if not base:
        try:
            base = str(Path.home() / ".local" / "share")
        except RuntimeError:  # no HOME and no password-database entry (a bare container)
            raise ConfigError(
                "JANITOR_DATA_DIR: not set, and there is no home directory to default to"
            ) from None
    return Path(base) / "janitor"


@dataclass(frozen=True)
class Settings:
    hub_url: str = DEFAULT_HUB_URL
    hub_username: str | None = None
    hub_token: Secret | None = field(default=None, repr=False)
    hub_insecure: bool = False
    registry_url: str = DEFAULT_REGISTRY_URL
    delete_backend: DeleteBackendName = "auto"
    data_dir: Path = Path(".")
    database_url: str = ""
    policies: Path = Path("policies")
    report_dir: Path = Path("reports")
    namespaces: tuple[str, ...] = ()  # allow-list; empty: any namespace but `library`
    report_to: tuple[str, ...] = ()
    report_schedule: str = "0 8 * * mon"
    http_port: int = 9464
    concurrency: int = 4
    batch_size: int = 100
    require_apply: bool = True
    """One-shot runs delete only with --apply (and a mode: delete policy). Setting this false
    lets `janitor run` delete for mode: delete policies without --apply: for a cron job that
    calls `janitor run` instead of running `janitor serve`."""
    stale_after_seconds: int = 600
    protect: Path | None = None
    """The protect list (JANITOR_PROTECT); None: ``_protect.yaml`` in the policy folder."""
    plan_max_age: str = "7d"
    """How old a saved plan may be for ``janitor apply`` (JANITOR_PLAN_MAX_AGE): a duration as
    policies write them, read by ``janitor.plans.apply`` (config does not import policies)."""
    unconfirmed_grace_seconds: int = 900
    """How long a real delete whose answer was never read stays ``unconfirmed`` before a later
    run's listing that still shows the image may settle it as not deleted (Hub may apply a
    delete late, after the process that sent it died)."""
    timeout: float = 30.0
    registry_auth_hosts: tuple[str, ...] = ()
    """Hosts besides the registry's own (and auth.docker.io for Docker's registry) whose token
    service may receive the registry credentials."""
    max_wait_seconds: float = 900.0
    """The longest wait Hub or the registry may ask for (a 429's retry time, a used-up rate-limit
    window); past it the call fails at once, naming the time it may be retried."""
    smtp_env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """JANITOR_SMTP_* values (from the environment or the TOML file) for SmtpSettings.from_env."""
    http_token: Secret | None = field(default=None, repr=False)
    """The dashboard's token (bearer or basic password); required off loopback."""
    metrics_auth: bool = False
    """/metrics needs the token too (it is open by default, for Prometheus)."""
    public_url: str | None = None
    """Where people reach the dashboard, for links in notifications."""
    notify: tuple[Secret, ...] = field(default=(), repr=False)
    """Apprise URLs notified of failed runs, deletions and the weekly digest (they carry
    tokens: secrets)."""

    @property
    def hub_is_default(self) -> bool:
        return self.hub_url.rstrip("/") == DEFAULT_HUB_URL

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


_KEYS: dict[str, str] = {
    "hub_url": "JANITOR_HUB_URL",
    "hub_username": "JANITOR_HUB_USERNAME",
    "hub_token": "JANITOR_HUB_TOKEN",
    "hub_token_file": "JANITOR_HUB_TOKEN_FILE",
    "hub_insecure": "JANITOR_HUB_INSECURE",
    "registry_url": "JANITOR_REGISTRY_URL",
    "delete_backend": "JANITOR_DELETE_BACKEND",
    "data_dir": "JANITOR_DATA_DIR",
    "database_url": "JANITOR_DATABASE_URL",
    "policies": "JANITOR_POLICIES",
    "report_dir": "JANITOR_REPORT_DIR",
    "namespaces": "JANITOR_NAMESPACES",
    "report_to": "JANITOR_REPORT_TO",
    "report_schedule": "JANITOR_REPORT_SCHEDULE",
    "http_port": "JANITOR_HTTP_PORT",
    "concurrency": "JANITOR_CONCURRENCY",
    "batch_size": "JANITOR_BATCH_SIZE",
    "require_apply": "JANITOR_REQUIRE_APPLY",
    "stale_after_seconds": "JANITOR_STALE_AFTER_SECONDS",
    "unconfirmed_grace_seconds": "JANITOR_UNCONFIRMED_GRACE_SECONDS",
    "timeout": "JANITOR_TIMEOUT",
    "protect": "JANITOR_PROTECT",
    "plan_max_age": "JANITOR_PLAN_MAX_AGE",
    "max_wait_seconds": "JANITOR_MAX_WAIT_SECONDS",
    "registry_auth_hosts": "JANITOR_REGISTRY_AUTH_HOSTS",
    "http_token": "JANITOR_HTTP_TOKEN",
    "http_token_file": "JANITOR_HTTP_TOKEN_FILE",
    "metrics_auth": "JANITOR_METRICS_AUTH",
    "public_url": "JANITOR_PUBLIC_URL",
    "notify": "JANITOR_NOTIFY",
    "notify_file": "JANITOR_NOTIFY_FILE",
}
_TOKEN = re.compile(r"[\x21-\x7e]{16,512}")
_SECRET_KEYS = ("hub_token", "smtp_password", "http_token", "notify")
"""Keys whose values are secrets: never in the config file (``<key>_file`` is)."""
# SMTP settings are read by janitor.report.mail.SmtpSettings.from_env; a TOML file may hold them
# under the same lower-case names and they are exported to that reader.
_SMTP_KEYS = {
    "smtp_host": "JANITOR_SMTP_HOST",
    "smtp_port": "JANITOR_SMTP_PORT",
    "smtp_username": "JANITOR_SMTP_USERNAME",
    "smtp_password_file": "JANITOR_SMTP_PASSWORD_FILE",
    "smtp_from": "JANITOR_SMTP_FROM",
    "smtp_security": "JANITOR_SMTP_SECURITY",
    "smtp_timeout": "JANITOR_SMTP_TIMEOUT",
}


def environment_variables() -> frozenset[str]:
    """Every environment variable the settings read (deployment files are checked against it)."""
    return frozenset(
        {*_KEYS.values(), *_SMTP_KEYS.values(), "JANITOR_SMTP_PASSWORD", "JANITOR_CONFIG"}
    )


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected true or false, got {value!r}")


def _int(name: str, value: str, *, minimum: int, maximum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise ConfigError(f"{name}: {number} is out of range ({minimum} to {maximum})")
    return number


_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _read_secret_file(name: str, path: str) -> Secret:
    try:
        text = read_text_capped(Path(path).expanduser(), limit=SECRET_LIMIT).strip()
    except FileInputError as exc:  # names the file and the problem, never the content
        raise ConfigError(f"{name}: {exc}") from None
    if not text:
        raise ConfigError(f"{name}: {path} is empty")
    return Secret(text)


def _load_toml(path: Path, source: str) -> dict[str, str]:
    """The settings of the TOML file at ``path``; ``source`` names where the path came from
    (``--config``, ``JANITOR_CONFIG``) in errors."""
    try:
        text = read_text_capped(path, limit=CONFIG_LIMIT)
    except FileInputError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValueError:  # an integer longer than Python converts (4,300 digits)
        raise ConfigError(f"{path}: not valid TOML: a number is too long") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    known = set(_KEYS) | set(_SMTP_KEYS)
    values: dict[str, str] = {}
    for key, value in data.items():
        if key in _SECRET_KEYS:
            raise ConfigError(
                f"{path}: {key}: secrets do not belong in the config file; "
                f"use {key}_file or the environment"
            )
        if key not in known:
            raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        if isinstance(value, list):
            values[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            values[key] = str(value)
        else:
            raise ConfigError(f"{path}: {key}: expected a string, number, boolean or list")
    return values


def _shown_url(value: str) -> str:
    """A URL as it may be shown in an error: without user info, which can hold a password."""
    if "@" in value:
        scheme, sep, rest = value.partition("://")
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if sep else "***"
    return value


def _http_url(name: str, value: str) -> httpx.URL:
    """An http(s) URL with a host and nothing a secret could hide in: the same rules the Hub
    client applies, checked here so that a bad value is a configuration error (exit 2)."""
    text = value.strip()
    try:
        url = httpx.URL(text.rstrip("/"))
        url.port  # noqa: B018 - a port that is not a number raises here
    except (httpx.InvalidURL, ValueError, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(
            f"{name}: expected an http(s) URL such as https://hub.docker.com, "
            f"got {_shown_url(text)!r}"
        )
    if url.userinfo or url.query or url.fragment:
        raise ConfigError(f"{name}: the URL must not carry user info, a query or a fragment")
    return url


def _path(name: str, value: str | Path) -> Path:
    text = str(value)
    if "\x00" in text:
        raise ConfigError(f"{name}: a path cannot contain a NUL character")
    try:
        return Path(text).expanduser()
    except RuntimeError as exc:  # ~user that does not exist, or no home directory
        raise ConfigError(f"{name}: cannot expand {text!r}: {exc}") from None


def _database_url(value: str) -> str:
    from janitor.store.database import parse_url
    from janitor.store.errors import StoreError

    try:
        parse_url(value)  # the store's own checks: it parses, its driver is installed
    except StoreError as exc:  # never repeats the URL: it may hold a password
        raise ConfigError(f"JANITOR_DATABASE_URL: {exc}") from None
    return value


def _check_smtp(smtp_env: Mapping[str, str]) -> None:
    """Refuse bad JANITOR_SMTP_* values at start-up, not after a run when its report is mailed."""
    from janitor.report.mail import SmtpSettings

    try:
        SmtpSettings.from_env(smtp_env)
    except ValueError as exc:  # names the variable, never the password
        raise ConfigError(str(exc)) from None


def load_settings(
    env: Mapping[str, str] | None = None, *, config_file: Path | None = None
) -> Settings:
    """Build the settings; raises ConfigError naming the variable or key at fault."""
    env = dict(os.environ if env is None else env)
    file_path, source = config_file, "--config"
    if file_path is None and env.get("JANITOR_CONFIG"):
        file_path, source = _path("JANITOR_CONFIG", env["JANITOR_CONFIG"]), "JANITOR_CONFIG"
    if file_path is None and Path("janitor.toml").is_file():
        file_path, source = Path("janitor.toml"), "config file"
    raw: dict[str, str] = {}
    if file_path is not None:
        from_file = _load_toml(file_path, source)
        raw.update({_KEYS.get(k) or _SMTP_KEYS[k]: v for k, v in from_file.items()})
    raw.update({k: v for k, v in env.items() if k.startswith("JANITOR_")})
    # Export file-held SMTP settings for SmtpSettings.from_env.
    smtp_env = {v: raw[v] for v in (*_SMTP_KEYS.values(), "JANITOR_SMTP_PASSWORD") if v in raw}
    return _build(raw, env, smtp_env)


def _build(raw: Mapping[str, str], env: Mapping[str, str], smtp_env: dict[str, str]) -> Settings:
    def get(key: str) -> str | None:
        value = raw.get(_KEYS[key])
        return value if value not in (None, "") else None

    token: Secret | None = None
    if (value := get("hub_token")) is not None:
        token = Secret(value)
    elif (value := get("hub_token_file")) is not None:
        token = _read_secret_file("JANITOR_HUB_TOKEN_FILE", value)

    hub_url = (get("hub_url") or DEFAULT_HUB_URL).strip().rstrip("/")
    hub_host = _http_url("JANITOR_HUB_URL", hub_url).host.rstrip(".")
    insecure = _bool("JANITOR_HUB_INSECURE", get("hub_insecure") or "false")
    if insecure and (hub_host == "hub.docker.com" or hub_host.endswith(".docker.com")):
        raise ConfigError(
            "JANITOR_HUB_INSECURE: TLS verification cannot be turned off for Docker Hub itself; "
            "it exists only for a custom JANITOR_HUB_URL"
        )
    registry_url = (get("registry_url") or DEFAULT_REGISTRY_URL).strip().rstrip("/")
    _http_url("JANITOR_REGISTRY_URL", registry_url)
    username = get("hub_username")
    if username is not None:
        username = username.strip()
        if not username or not username.isprintable() or any(c.isspace() for c in username):
            raise ConfigError(
                "JANITOR_HUB_USERNAME: expected a Docker Hub user name (no spaces or control "
                "characters)"
            )
    backend = get("delete_backend") or "auto"
    if backend not in ("auto", "delete-images", "registry"):
        raise ConfigError(
            f"JANITOR_DELETE_BACKEND: expected auto, delete-images or registry, got {backend!r}"
        )
    data_dir = _path("JANITOR_DATA_DIR", get("data_dir") or _default_data_dir(env))
    database_url = _database_url(get("database_url") or f"sqlite:///{data_dir / 'janitor.db'}")
    auth_hosts = _list(get("registry_auth_hosts") or "")
    for host in auth_hosts:
        if not _HOST.match(host):
            raise ConfigError(
                f"JANITOR_REGISTRY_AUTH_HOSTS: {host!r} is not a host name (comma-separated "
                "host names, no scheme, port or path)"
            )
    namespaces = _list(get("namespaces") or "")
    if "library" in namespaces:
        raise ConfigError("JANITOR_NAMESPACES: 'library' (Docker Official Images) is never cleaned")
    _check_smtp(smtp_env)
    report_to = _list(get("report_to") or "")
    for address in report_to:
        if (
            address.count("@") != 1
            or not address.isprintable()
            or any(c.isspace() or c in "<>," for c in address)
        ):
            raise ConfigError(f"JANITOR_REPORT_TO: {address!r} is not an e-mail address")
    return Settings(
        hub_url=hub_url,
        hub_username=username,
        hub_token=token,
        hub_insecure=insecure,
        registry_url=registry_url,
        delete_backend=backend,  # type: ignore[arg-type]
        data_dir=data_dir,
        database_url=database_url,
        policies=_path("JANITOR_POLICIES", get("policies") or "policies"),
        report_dir=_path("JANITOR_REPORT_DIR", get("report_dir") or data_dir / "reports"),
        namespaces=namespaces,
        report_to=report_to,
        report_schedule=get("report_schedule") or "0 8 * * mon",
        http_port=_int("JANITOR_HTTP_PORT", get("http_port") or "9464", minimum=0, maximum=65535),
        concurrency=_int("JANITOR_CONCURRENCY", get("concurrency") or "4", minimum=1, maximum=32),
        batch_size=_int("JANITOR_BATCH_SIZE", get("batch_size") or "100", minimum=1, maximum=1000),
        require_apply=_bool("JANITOR_REQUIRE_APPLY", get("require_apply") or "true"),
        stale_after_seconds=_int(
            "JANITOR_STALE_AFTER_SECONDS",
            get("stale_after_seconds") or "600",
            minimum=30,
            maximum=86400,
        ),
        protect=_path("JANITOR_PROTECT", protect) if (protect := get("protect")) else None,
        plan_max_age=(get("plan_max_age") or "7d").strip(),
        unconfirmed_grace_seconds=_int(
            "JANITOR_UNCONFIRMED_GRACE_SECONDS",
            get("unconfirmed_grace_seconds") or "900",
            minimum=0,
            maximum=30 * 86400,
        ),
        timeout=float(_int("JANITOR_TIMEOUT", get("timeout") or "30", minimum=1, maximum=600)),
        registry_auth_hosts=tuple(h.lower().rstrip(".") for h in auth_hosts),
        max_wait_seconds=float(
            _int(
                "JANITOR_MAX_WAIT_SECONDS",
                get("max_wait_seconds") or "900",
                minimum=1,
                maximum=86400,
            )
        ),
        smtp_env=smtp_env,
        **_service_ux(get),
    )


class _ServiceUx(TypedDict):
    http_token: Secret | None
    metrics_auth: bool
    public_url: str | None
    notify: tuple[Secret, ...]


def _service_ux(get: Callable[[str], str | None]) -> _ServiceUx:
    """The dashboard's and the notifications' settings."""
    token: Secret | None = None
    if (value := get("http_token")) is not None:
        token = Secret(value.strip())
    elif (value := get("http_token_file")) is not None:
        token = _read_secret_file("JANITOR_HTTP_TOKEN_FILE", value)
    if token is not None and not _TOKEN.fullmatch(token.reveal()):
        raise ConfigError(
            "JANITOR_HTTP_TOKEN: use at least 16 printable ASCII characters without spaces "
            "(e.g. `openssl rand -hex 24`)"
        )
    public_url = get("public_url")
    if public_url is not None:
        public_url = str(_http_url("JANITOR_PUBLIC_URL", public_url)).rstrip("/")
    notify_text = get("notify")
    if notify_text is None and (path := get("notify_file")) is not None:
        notify_text = _read_secret_file("JANITOR_NOTIFY_FILE", path).reveal()
    from janitor.apprise_urls import parse_notify_urls

    try:
        urls = parse_notify_urls(notify_text or "")
    except ValueError as exc:  # names the URL's scheme and position, never the URL
        raise ConfigError(f"JANITOR_NOTIFY: {exc}") from None
    metrics_auth = _bool("JANITOR_METRICS_AUTH", get("metrics_auth") or "false")
    if metrics_auth and token is None:
        raise ConfigError(
            "JANITOR_METRICS_AUTH: /metrics can need a token only when "
            "JANITOR_HTTP_TOKEN (or JANITOR_HTTP_TOKEN_FILE) is set"
        )
    return {
        "http_token": token,
        "metrics_auth": metrics_auth,
        "public_url": public_url,
        "notify": tuple(Secret(u) for u in urls),
    }
