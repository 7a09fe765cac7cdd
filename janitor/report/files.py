"""Writing a rendered report to disk, atomically: a reader (a web server, a mail retry) never sees
half a file, and a crash leaves either the old file or the new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

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


def _write_atomically(path: Path, text: str) -> None:
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def write_report(report: RenderedReport, directory: Path, basename: str) -> Path:
    """Write ``basename.html`` and ``basename.txt`` into ``directory`` (created if missing), each
    through a temporary file renamed into place. Returns the path of the HTML file."""
    _check_basename(basename)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    html_path = directory / f"{basename}.html"
    _write_atomically(directory / f"{basename}.txt", report.text)
    _write_atomically(html_path, report.html)
    return html_path
