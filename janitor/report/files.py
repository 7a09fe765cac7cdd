"""Writing a rendered report to disk, through :mod:`janitor.fileio`: a report file is replaced
atomically (a reader, a web server or a mail retry, never sees half a file, and a crash leaves
either the old file or the new one), and a path that is not a regular file is written through
or refused, never replaced."""

from __future__ import annotations

from pathlib import Path

from janitor.fileio import OutputTarget, output_target
from janitor.report.rendered import RenderedReport


def _check_basename(basename: str) -> None:
    if (
        not basename
        or basename in (".", "..")
        or "/" in basename
        or "\\" in basename
        or "\x00" in basename
        or basename != basename.strip()
    ):
        raise ValueError(f"a report's basename must be a plain file name, not {basename!r}")


def write_report(report: RenderedReport, directory: Path, basename: str) -> Path:
    """Write ``basename.html`` and ``basename.txt`` into ``directory`` (created if missing).
    Returns the path of the HTML file."""
    _check_basename(basename)
    path = write_report_to(report, output_target(Path(directory) / f"{basename}.html"))
    assert path is not None
    return path


def text_twin(html: Path) -> Path:
    """Where the plain-text twin of the HTML report at ``html`` is (a mail retry reads both)."""
    return html.with_suffix(".txt")


def write_report_to(report: RenderedReport, target: OutputTarget) -> Path | None:
    """Write the report's HTML to ``target``. When that is a regular file, the text twin goes
    beside it (``.txt``) and the HTML file's path is returned; written through to standard
    output, a FIFO or a device, only the HTML goes, and the result is None (no file a later
    reader could open again)."""
    if not target.is_file:
        target.write_text(report.html)
        return None
    twin = text_twin(target.path)
    # Both targets are checked before either is written, so neither is left alone.
    twin_target = output_target(twin) if twin != target.path else None
    if twin_target is not None:
        twin_target.write_text(report.text)
    target.write_text(report.html)
    return target.path
