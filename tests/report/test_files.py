"""Writing reports to disk: both parts, atomically, nowhere but where asked."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from janitor.fileio import OutputError, output_target
from janitor.report import RenderedReport
from janitor.report.files import write_report, write_report_to

REPORT = RenderedReport(subject="s", html="<p>ünïcødé ☃</p>\n", text="ünïcødé ☃\n")


def test_writes_both_parts_and_returns_the_html(tmp_path: Path) -> None:
    directory = tmp_path / "reports" / "2026"
    html = write_report(REPORT, directory, "run-42")
    assert html == directory / "run-42.html"
    assert html.read_text(encoding="utf-8") == REPORT.html
    assert (directory / "run-42.txt").read_text(encoding="utf-8") == REPORT.text
    assert sorted(p.name for p in directory.iterdir()) == ["run-42.html", "run-42.txt"]
    assert html.stat().st_mode & 0o777 == 0o644


def test_replaces_an_older_report_without_leftovers(tmp_path: Path) -> None:
    write_report(REPORT, tmp_path, "weekly")
    newer = RenderedReport(subject="s", html="<p>new</p>", text="new")
    write_report(newer, tmp_path, "weekly")
    assert (tmp_path / "weekly.html").read_text(encoding="utf-8") == "<p>new</p>"
    assert (tmp_path / "weekly.txt").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weekly.html", "weekly.txt"]


def test_a_folder_in_the_way_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    write_report(REPORT, tmp_path, "run-1")
    (tmp_path / "run-2.html").mkdir()  # a directory where the file should go
    with pytest.raises(OutputError, match=r"run-2.html: is a directory"):
        write_report(REPORT, tmp_path, "run-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-1.html", "run-1.txt", "run-2.html"]
    assert (tmp_path / "run-2.html").is_dir()


def test_a_symbolic_link_keeps_pointing_at_the_new_report(tmp_path: Path) -> None:
    """``--out latest.html`` where latest.html links elsewhere: the link stays, its target gets
    the report (and the text twin goes beside the target)."""
    real = tmp_path / "archive" / "weekly-1.html"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.html"
    link.symlink_to(real)
    assert write_report_to(REPORT, output_target(link)) == real
    assert link.is_symlink() and link.read_text(encoding="utf-8") == REPORT.html
    assert (real.parent / "weekly-1.txt").read_text(encoding="utf-8") == REPORT.text


def test_an_existing_report_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    path.write_text("old")
    path.chmod(0o600)
    write_report_to(REPORT, output_target(path))
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_html_goes_exactly_where_it_was_asked(tmp_path: Path) -> None:
    assert write_report_to(REPORT, output_target(tmp_path / "weekly")) == tmp_path / "weekly"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weekly", "weekly.txt"]


@pytest.mark.parametrize("device", ["/dev/null", "/dev/stdout"])
def test_a_device_is_written_through_never_replaced(
    device: str, capfd: pytest.CaptureFixture[str]
) -> None:
    before = os.lstat(device)
    assert write_report_to(REPORT, output_target(device)) is None  # no file to read again
    after = os.lstat(device)
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (
        stat.S_IFMT(before.st_mode),
        before.st_ino,
    )
    assert not Path(device).with_suffix(".txt").exists()
    if device == "/dev/stdout":
        assert capfd.readouterr().out == REPORT.html


def test_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert write_report_to(REPORT, output_target("-")) is None
    assert capsys.readouterr().out == REPORT.html


def test_a_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    assert write_report_to(REPORT, output_target(fifo)) is None
    reader.join(timeout=30)
    assert received == [REPORT.html]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_full_device_is_one_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"^/dev/full: cannot write: No space left on device$"):
        write_report_to(REPORT, output_target("/dev/full"))
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    assert not list(Path("/dev").glob(".full.*")) and not Path("/dev/full.txt").exists()


@pytest.mark.parametrize("where", ["socket", "dir"])
def test_what_cannot_hold_a_report_is_refused(tmp_path: Path, where: str) -> None:
    path = tmp_path / where
    if where == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    else:
        path.mkdir()
    with pytest.raises(OutputError, match=f"is a {'socket' if where == 'socket' else 'directory'}"):
        output_target(path)


@pytest.mark.parametrize("basename", ["", ".", "..", "../escape", "a/b", "a\\b", " run", "x\x00"])
def test_refuses_names_that_are_not_plain_file_names(tmp_path: Path, basename: str) -> None:
    with pytest.raises(ValueError, match="basename"):
        write_report(REPORT, tmp_path, basename)
    assert list(tmp_path.iterdir()) == []
