"""Writing reports to disk: both parts, atomically, nowhere but where asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.report import RenderedReport
from janitor.report.files import write_report

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


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    write_report(REPORT, tmp_path, "run-1")
    (tmp_path / "run-2.html").mkdir()  # a directory where the file should go: rename fails
    with pytest.raises(OSError):
        write_report(REPORT, tmp_path, "run-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run-1.html",
        "run-1.txt",
        "run-2.html",
        "run-2.txt",
    ]
    assert (tmp_path / "run-2.html").is_dir()


@pytest.mark.parametrize("basename", ["", ".", "..", "../escape", "a/b", "a\\b", " run", "x\x00"])
def test_refuses_names_that_are_not_plain_file_names(tmp_path: Path, basename: str) -> None:
    with pytest.raises(ValueError, match="basename"):
        write_report(REPORT, tmp_path, basename)
    assert list(tmp_path.iterdir()) == []
