"""Secrets never leave: recognisable probes for the Hub token, a wrong Hub token, the SMTP
password and a database password go through dry runs, delete runs, failures, reports mailed with
SMTP AUTH, `runs show --json` and --verbose tracebacks; then every log record (captured at DEBUG
before any redaction), every database row (and the raw bytes of every file janitor wrote), every
report, every e-mail, every exception and every line of CLI output is searched for them, and for
any bearer token Hub issued: zero hits. Tokens never travel in a URL. TLS verification stays on
for Docker Hub and can be switched off only for a custom Hub, with a warning."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import re
import secrets
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from click.testing import CliRunner, Result
from sqlalchemy import MetaData, create_engine, make_url
from sqlalchemy.pool import NullPool

from janitor import logs
from janitor.cli import cli
from janitor.config import load_settings
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import load_seed
from janitor.errors import ConfigError
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.hub.models import ManifestRef
from janitor.store import Store, StoreError
from tests.reliability.conftest import UNTAGGED_POLICY, free_port
from tests.report.conftest import PASSWORD as SMTP_SERVER_PASSWORD
from tests.report.conftest import USERNAME as SMTP_USER
from tests.runs.conftest import USER, seed

RUN = secrets.token_hex(6)
PAT = f"dckr_pat_SECRET_PROBE_{RUN}"
WRONG_PAT = f"dckr_pat_WRONG_PROBE_{RUN}"
SMTP_PASSWORD = SMTP_SERVER_PASSWORD  # the one the test SMTP server accepts
WRONG_SMTP_PASSWORD = f"SMTP_WRONG_PROBE_{RUN}"
DB_PASSWORD = f"DB_SECRET_PROBE_{RUN}"
PROBES = {
    "hub token": PAT,
    "wrong hub token": WRONG_PAT,
    "smtp password": SMTP_PASSWORD,
    "wrong smtp password": WRONG_SMTP_PASSWORD,
    "database password": DB_PASSWORD,
    "hub token, base64 with the user": base64.b64encode(f"{USER}:{PAT}".encode()).decode(),
}
BEARER = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    found = [name for name, probe in PROBES.items() if probe in text]
    if BEARER.search(text):
        found.append("a bearer token")
    return found


class Capture(logging.Handler):
    """Every record of every logger, formatted (traceback included) the moment it is emitted,
    ahead of janitor's own handler and its redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{self.format(record)} {record.msg!r} {record.args!r}")


@pytest.fixture
def capture() -> Iterator[Capture]:
    root = logging.getLogger()
    for handler in list(root.handlers):  # janitor's handlers of earlier CLI runs (they redact)
        if getattr(handler, "_janitor", False):
            root.removeHandler(handler)
    handler = Capture()
    root.addHandler(handler)
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def probe_hub() -> Iterator[RunningEmulator]:
    data = seed()
    data["users"][0]["tokens"] = [PAT]
    with start_emulator(load_seed(data)) as emulator:
        yield emulator


def _with_password(url: str) -> str:
    """``url`` with the probe as its password, where the server lets it connect (PostgreSQL
    with trust authentication ignores it); otherwise unchanged."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.password:
        return url
    probed = parsed.set(password=DB_PASSWORD).render_as_string(hide_password=False)
    try:
        with Store(probed) as store:
            store.ping()
    except StoreError:
        return url
    return probed


def dump_database(url: str) -> str:
    """Every row of every table, as text."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        lines = []
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(table.select()):
                    lines.append(f"{table.name}: {tuple(row)!r}")
        return "\n".join(lines)
    finally:
        engine.dispose()


def test_no_secret_leaves_through_runs_failures_reports_and_mail(
    probe_hub: RunningEmulator,
    db_url: str,
    tmp_path: Path,
    capture: Capture,
    smtp_server: Callable[..., Any],
) -> None:
    server = smtp_server(auth=True, auth_require_tls=False)
    logs._secrets.clear()  # nothing redacted by janitor's handler until janitor itself says so
    url = _with_password(db_url)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "untagged.yaml").write_text(UNTAGGED_POLICY)
    env = {
        "JANITOR_HUB_URL": probe_hub.url,
        "JANITOR_HUB_USERNAME": USER,
        "JANITOR_HUB_TOKEN": PAT,
        "JANITOR_DATA_DIR": str(tmp_path / "data"),
        "JANITOR_DATABASE_URL": url,
        "JANITOR_POLICIES": str(policies),
        "JANITOR_DELETE_BACKEND": "delete-images",
        "JANITOR_TIMEOUT": "5",
        "JANITOR_SMTP_HOST": "127.0.0.1",
        "JANITOR_SMTP_PORT": str(server.port),
        "JANITOR_SMTP_SECURITY": "none",
        "JANITOR_SMTP_USERNAME": SMTP_USER,
        "JANITOR_SMTP_PASSWORD": SMTP_PASSWORD,
        "JANITOR_SMTP_FROM": "janitor@example.com",
        "JANITOR_REPORT_TO": "ops@example.com",
    }
    results: list[tuple[tuple[str, ...], Result]] = []

    def janitor(*args: str, **extra: str) -> Result:
        result = CliRunner().invoke(cli, list(args), env=env | extra)
        results.append((args, result))
        return result

    # A dry run, mailed with SMTP AUTH.
    assert janitor("--verbose", "run", "--dry-run", "--json").exit_code == 0
    # A delete run whose first real delete Hub applies and then answers 500 (--verbose).
    probe_hub.faults.add(
        Fault("status", method="POST", path="delete-images", status=500, after_apply=True)
    )
    assert janitor("--verbose", "run", "--apply").exit_code == 1
    # The delete run that finishes the work, logging JSON.
    assert janitor("--verbose", "--log-format", "json", "run", "--apply").exit_code == 0
    # A wrong Hub token: refused at login, a traceback with --verbose.
    assert janitor("--verbose", "run", "--dry-run", JANITOR_HUB_TOKEN=WRONG_PAT).exit_code == 1
    assert janitor("--verbose", "plan", JANITOR_HUB_TOKEN=WRONG_PAT).exit_code == 1
    # A wrong SMTP password: the mail is queued with the server's refusal...
    wrong = janitor("run", "--dry-run", JANITOR_SMTP_PASSWORD=WRONG_SMTP_PASSWORD)
    assert wrong.exit_code == 0
    with Store(url) as store:
        queued = store.pending_mail()
        assert len(queued) == 1 and "refused the login" in (queued[0].last_error or "")
        runs = store.list_runs(limit=None)
    # ...and sent with the next report.
    assert janitor("report", "--weekly", "--send").exit_code == 0
    assert janitor("runs", "list", "--json").exit_code == 0
    for run in runs:
        assert janitor("runs", "show", str(run.id), "--json").exit_code == 0
        assert janitor("--verbose", "report", "--run", str(run.id)).exit_code == 0
    assert janitor("--verbose", "runs", "show", "99999").exit_code == 2

    assert len(server.messages) >= 4 and all(m.authenticated for m in server.messages)
    assert {r.status for r in runs} == {"succeeded", "failed"}
    assert any(r.metrics.deleted for r in runs)

    findings: dict[str, list[str]] = {}

    def search(where: str, text: str | bytes) -> None:
        if found := leaks(text):
            findings.setdefault(where, []).extend(found)

    for line in capture.lines:
        search("a log record", line)
    for args, result in results:
        search(f"the output of janitor {' '.join(args)}", result.output)
        search("an exception", repr(result.exception) + str(result.exception))
    search("the database", dump_database(url))
    for path in sorted((tmp_path / "data").rglob("*")):
        if path.is_file():
            search(f"the file {path.name}", path.read_bytes())
    for message in server.messages:
        search("an e-mail", message.content)
    for entry in probe_hub.log.entries():
        search("the emulator's request log", json.dumps(entry.to_dict()))
        assert not leaks(entry.path + json.dumps(entry.query)), "a secret in a URL"
    assert not findings, findings
    # The search looked where it matters: DEBUG records of the client, --verbose tracebacks.
    assert any(line.startswith("janitor.hub DEBUG") for line in capture.lines)
    assert any("Traceback" in line for line in capture.lines), "the --verbose traceback was seen"
    assert "HubAuthError" in "\n".join(capture.lines)  # the wrong token's traceback


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_log_masks_a_registered_secret_even_in_a_traceback(fmt: str) -> None:
    """The last line of defence: a secret janitor registered is masked in its log lines, the
    text of an exception's traceback included, in both formats."""
    import io

    stream = io.StringIO()
    logs.register_secret(PAT)
    logs.configure(level=logging.DEBUG, fmt=fmt, stream=stream)  # type: ignore[arg-type]
    log = logging.getLogger("janitor.test")
    try:
        try:
            raise RuntimeError(f"a library put the token {PAT} in its message")
        except RuntimeError:
            log.exception("failed with %s", PAT)
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_janitor", False):
                root.removeHandler(handler)
    written = stream.getvalue()
    assert "RuntimeError" in written and logs.REDACTED in written
    assert not leaks(written), written


def test_a_hub_that_echoes_secrets_back_is_redacted() -> None:
    """A proxy that echoes the request (the token in the login body, the bearer token in the
    header) into its error answers: janitor's errors show neither."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMiLCJleHAiOjk5OTk5OTk5OTl9.c2lnbmF0dXJlLXNpZ25h"

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/auth/token":
            return httpx.Response(200, json={"access_token": jwt})
        echo = f"{request.headers.get('authorization')} {PAT} {request.content.decode()}"
        status = 500 if request.method == "GET" else 400
        return httpx.Response(status, json={"message": echo, "errinfo": {"seen": echo}})

    client = HubClient(
        "https://hub.example",
        Credentials(USER, PAT),
        transport=httpx.MockTransport(handle),
        max_retries=0,
        sleep=lambda seconds: None,
    )
    errors: list[HubError] = []
    with client:
        for call in (
            lambda: list(client.iter_repositories("acme")),
            lambda: client.delete_images("acme", [ManifestRef("web", "sha256:1")], dry_run=False),
        ):
            with pytest.raises(HubError) as info:
                call()
            errors.append(info.value)
    for error in errors:
        text = f"{error} {error!r} {error.message} {error.errinfo} {error.url}"
        assert not leaks(text), text
        assert "<redacted>" in text  # what Hub said is kept, minus the secrets


def test_a_database_password_never_shows(tmp_path: Path) -> None:
    """A database URL with a password: unreachable, malformed or of an unknown kind, the
    error never repeats the password (nor the URL's other secrets)."""
    for url, expected in [
        (f"postgresql://janitor:{DB_PASSWORD}@127.0.0.1:{free_port()}/janitor", "reach"),
        (f"postgresql://janitor:{DB_PASSWORD}@127.0.0.1:notaport/janitor", "parsed"),
        (f"mysql://janitor:{DB_PASSWORD}@127.0.0.1/janitor", "mysql"),
    ]:
        result = CliRunner().invoke(
            cli,
            ["--verbose", "runs", "list"],
            env={"JANITOR_DATABASE_URL": url, "JANITOR_DATA_DIR": str(tmp_path)},
        )
        assert result.exit_code in (1, 2), result.output
        assert expected in result.stderr
        assert not leaks(result.output), result.output


# --------------------------------------------------------------------------- TLS


@pytest.mark.parametrize(
    "url",
    [
        "https://hub.docker.com",
        "https://hub.docker.com/",
        "https://HUB.docker.com",
        "https://hub.docker.com:443/v2/",
    ],
)
def test_tls_verification_cannot_be_switched_off_for_docker_hub(url: str) -> None:
    with pytest.raises(ConfigError, match="JANITOR_HUB_INSECURE"):
        load_settings({"JANITOR_HUB_URL": url, "JANITOR_HUB_INSECURE": "true"})


@pytest.fixture
def tls_hub() -> Iterator[str]:
    """An HTTPS "Hub" on loopback whose certificate no system trusts (a trustme CA): it lists
    an empty namespace."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10

        def do_GET(self) -> None:
            body = json.dumps({"count": 0, "next": None, "results": []}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_tls_is_verified_for_a_custom_hub_and_switching_it_off_warns(
    tls_hub: str, tmp_path: Path, capture: Capture
) -> None:
    """Against a Hub whose certificate is not trusted, janitor refuses to talk (one line, exit
    1); with JANITOR_HUB_INSECURE=true for that custom URL it talks, and warns that it does."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "untagged.yaml").write_text(UNTAGGED_POLICY)
    env = {
        "JANITOR_HUB_URL": tls_hub,
        "JANITOR_DATA_DIR": str(tmp_path / "data"),
        "JANITOR_POLICIES": str(policies),
        "JANITOR_TIMEOUT": "5",
    }
    refused = CliRunner().invoke(cli, ["plan", "--json"], env=env)
    assert refused.exit_code == 1
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert "CERTIFICATE_VERIFY_FAILED" in error or "certificate" in error.lower()

    allowed = CliRunner().invoke(cli, ["plan", "--json"], env=env | {"JANITOR_HUB_INSECURE": "1"})
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)[0]["repositories"] == []
    assert any("TLS certificate verification is OFF" in line for line in capture.lines)


# --------------------------------------------------------------------------- echoed secrets

PR_POLICY = """
name: prs
namespace: acme
mode: delete
select:
  - name: old-prs
    tags: ["pr-*"]
    last_pushed: {older_than: 30d}
    current_tag: delete
limits: {max_deletes: 100, max_fraction_per_repository: 1.0}
"""

# (what Hub or the registry answers with the request echoed back, the backend, the fault)
ECHOES: list[tuple[str, str, Fault]] = [
    ("a login refused (401)", "delete-images", Fault("echo", path="/v2/auth/token$", status=401)),
    ("a login refused (403)", "delete-images", Fault("echo", path="/v2/auth/token$", status=403)),
    ("a listing forbidden (403)", "delete-images", Fault("echo", path="/tags$", status=403)),
    ("a listing refused (401)", "delete-images", Fault("echo", path="/tags$", status=401, times=2)),
    ("another 4xx (418)", "delete-images", Fault("echo", path="/tags$", status=418)),
    (
        "a delete-images error (400)",
        "delete-images",
        Fault("echo", path="delete-images$", status=400),
    ),
    (
        "a real delete-images failing (500)",
        "delete-images",
        Fault("echo", path="delete-images$", status=500, times=99),
    ),
    (
        "a token service refusal (401)",
        "registry",
        Fault("echo", path="/registry/token$", status=401),
    ),
    ("a token service error (400)", "registry", Fault("echo", path="/registry/token$", status=400)),
    ("a registry refusal (400)", "registry", Fault("echo", path="/manifests/", status=400)),
    (
        "a registry DELETE failing (500)",
        "registry",
        Fault("echo", method="DELETE", path="/manifests/", status=500),
    ),
]


def test_a_hub_that_echoes_the_request_leaks_no_secret_anywhere(
    db_url: str, tmp_path: Path, capture: Capture
) -> None:
    """Issue 20.1: a Hub or proxy that repeats the request (the login body with the PAT, the
    Authorization header with a bearer token or Basic user:PAT) in its error answers. For every
    kind of answer, `janitor run` fails or records the error, and the PAT, its Basic form and
    every token Hub issued are in no log record, database row, report file, CLI output or
    exception. Hub's words are kept, redacted."""
    logs._secrets.clear()  # nothing redacted by janitor's log handler unless janitor registers it
    data = seed()
    data["users"][0]["tokens"] = [PAT]
    results: list[tuple[str, Result]] = []
    with start_emulator(load_seed(data)) as hub:
        for what, backend, fault in ECHOES:
            hub.faults.clear()
            hub.faults.add(fault)
            policies = tmp_path / what.replace(" ", "-") / "policies"
            policies.mkdir(parents=True)
            (policies / "prs.yaml").write_text(PR_POLICY)
            env = {
                "JANITOR_HUB_URL": hub.url,
                "JANITOR_REGISTRY_URL": hub.registry_url,
                "JANITOR_HUB_USERNAME": USER,
                "JANITOR_HUB_TOKEN": PAT,
                "JANITOR_DATA_DIR": str(tmp_path / "data"),
                "JANITOR_DATABASE_URL": db_url,
                "JANITOR_POLICIES": str(policies),
                "JANITOR_DELETE_BACKEND": backend,
                "JANITOR_TIMEOUT": "5",
            }
            result = CliRunner().invoke(cli, ["--verbose", "run", "--apply"], env=env)
            results.append((what, result))
            assert result.exit_code == 1, (what, result.output)
            shown = CliRunner().invoke(cli, ["runs", "list", "--json"], env=env)
            results.append((f"{what}: runs list", shown))
    with Store(db_url) as store:
        runs = store.list_runs(limit=None)
        errors = [r.error or "" for r in runs]
    assert len(runs) >= len(ECHOES) - 2  # a refused login may stop before a run is recorded
    assert sum("<redacted>" in e for e in errors) >= 3, errors  # Hub's words, minus secrets

    findings: dict[str, list[str]] = {}

    def search(where: str, text: str | bytes) -> None:
        if found := leaks(text):
            findings.setdefault(where, []).extend(found)

    for line in capture.lines:
        search("a log record", line)
    for what, result in results:
        search(f"the output after {what}", result.output)
        search(f"the exception after {what}", repr(result.exception) + str(result.exception))
    search("the database", dump_database(db_url))
    for path in sorted((tmp_path / "data").rglob("*")):
        if path.is_file():
            search(f"the file {path.name}", path.read_bytes())
    assert not findings, findings
