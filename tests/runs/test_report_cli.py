"""`janitor report`: a run's report and the weekly report, written with --out and delivered
with --send to a real SMTP server on loopback (aiosmtpd, STARTTLS, AUTH)."""

from __future__ import annotations

import email
import ssl
from email.message import Message
from pathlib import Path

import trustme
from click.testing import CliRunner

from janitor.cli import cli
from janitor.emulator.server import RunningEmulator
from tests.report.conftest import PASSWORD, USERNAME, smtp_server  # noqa: F401
from tests.runs.conftest import TOKEN, USER, write_policy


def _parts(raw: bytes) -> dict[str, str]:
    message: Message = email.message_from_bytes(raw)
    assert message.get_content_type() == "multipart/alternative"
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if not part.is_multipart()
    }


def test_weekly_report_is_written_and_sent_with_both_parts(
    hub: RunningEmulator,
    tmp_path: Path,
    smtp_server,  # noqa: F811
) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = smtp_server(starttls=server_ctx, auth=True)
    write_policy(tmp_path / "policies", mode="delete")
    env = {
        "JANITOR_HUB_URL": hub.url,
        "JANITOR_HUB_USERNAME": USER,
        "JANITOR_HUB_TOKEN": TOKEN,
        "JANITOR_DATA_DIR": str(tmp_path / "data"),
        "JANITOR_POLICIES": str(tmp_path / "policies"),
        "JANITOR_SMTP_HOST": "127.0.0.1",
        "JANITOR_SMTP_PORT": str(server.port),
        "JANITOR_SMTP_USERNAME": USERNAME,
        "JANITOR_SMTP_PASSWORD": PASSWORD,
        "JANITOR_SMTP_SECURITY": "starttls",
        "JANITOR_SMTP_FROM": "janitor@example.com",
        "JANITOR_REPORT_TO": "ops@example.com",
        "SSL_CERT_FILE": str(ca_file),
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--dry-run"], env=env).exit_code == 0

    out = tmp_path / "weekly.html"
    result = runner.invoke(cli, ["report", "--weekly", "--out", str(out), "--send"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent to ops@example.com" in result.stdout
    run_mail, received = server.messages  # the run mailed its own report to JANITOR_REPORT_TO
    assert "DRY RUN" in _parts(run_mail.content)["text/plain"]
    assert received.tls and received.authenticated
    assert received.rcpt_tos == ["ops@example.com"]
    parts = _parts(received.content)
    assert set(parts) == {"text/plain", "text/html"}
    html = parts["text/html"].replace("\r\n", "\n").strip()
    assert html == out.read_text().strip()  # --out wrote the same HTML that was mailed
    assert "cleanup" in parts["text/plain"]
    assert PASSWORD not in result.output

    run_report = runner.invoke(
        cli, ["report", "--run", "1", "--out", str(tmp_path / "r.html")], env=env
    )
    assert run_report.exit_code == 0, run_report.output
    assert (tmp_path / "r.html").is_file() and (tmp_path / "r.txt").is_file()


def test_report_arguments_are_checked(tmp_path: Path) -> None:
    env = {"JANITOR_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    assert runner.invoke(cli, ["report"], env=env).exit_code == 2
    assert runner.invoke(cli, ["report", "--run", "1", "--weekly"], env=env).exit_code == 2
    assert runner.invoke(cli, ["report", "--run", "42"], env=env).exit_code == 2
    missing_smtp = runner.invoke(cli, ["report", "--weekly", "--send", "--to", "a@b.c"], env=env)
    assert missing_smtp.exit_code == 2 and "JANITOR_SMTP_HOST" in missing_smtp.stderr
