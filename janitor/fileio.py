"""Files named by the person running janitor: read with a cap, written without clobbering.

Reading (:func:`read_capped`, :func:`read_text_capped`): a secret file, the config file, a
policy, a snapshot or a seed is a *regular* file no larger than a cap that fits its purpose.
A FIFO, a device (``/dev/zero``), a directory or a socket is refused at once, before a byte is
read, so janitor can neither block forever on a pipe nor read gigabytes from a device.

Writing (:func:`output_target`): an output path is written the way a shell's ``>`` would treat
it, but safely:

- ``-``, or a name of standard output itself (``/dev/stdout``), writes to standard output (so
  a shell's ``>>`` still appends);
- a FIFO or a character device (``/dev/stdout``, ``/dev/tty``, ``/dev/null``) is written through,
  never replaced by a regular file;
- a regular file, or a path where nothing is yet, is written to a temporary file beside it that
  is then renamed over it (a reader never sees half a file, a crash leaves the old file or the
  new one); a symbolic link is resolved first, so the link stays and its target gets the file;
- a directory, a block device or a socket is refused.

Every failure is a :class:`FileInputError` or :class:`OutputError`: one line naming the path and
the problem, exit code 2, and no temporary file left behind.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from janitor.errors import JanitorError

KiB = 1 << 10
MiB = 1 << 20

SECRET_LIMIT = 64 * KiB
"""A token or password file (``JANITOR_HUB_TOKEN_FILE``, ``JANITOR_SMTP_PASSWORD_FILE``)."""
CONFIG_LIMIT = 1 * MiB
"""The TOML config file (``--config``, ``JANITOR_CONFIG``)."""
POLICY_LIMIT = 1 * MiB
"""One policy file."""
INVENTORY_LIMIT = 256 * MiB
"""A snapshot (``plan --snapshot``) or an emulator seed (``emulator serve --seed``): about a
million images."""

_CHUNK = 1 * MiB
_NEW_FILE_MODE = 0o644


class FileInputError(JanitorError):
    """A file janitor was told to read is not a readable regular file within its cap. The
    message is ``PATH: problem``; callers put the option or variable that named it in front."""

    exit_code = 2

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.problem = problem


class OutputError(JanitorError, OSError):
    """An output path janitor may not or could not write. An OSError too: code that writes a
    report after a run (and keeps going when it cannot) handles it like any failed write."""

    exit_code = 2


def size_text(limit: int) -> str:
    """``64 KiB``, ``1 MiB``: a cap as people read it."""
    if limit % MiB == 0:
        return f"{limit // MiB} MiB"
    if limit % KiB == 0:
        return f"{limit // KiB} KiB"
    return f"{limit} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


# --------------------------------------------------------------------------- reading


def read_capped(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, which must hold at most ``limit`` bytes.

    The file is opened without blocking (a FIFO with no writer would block an ordinary open) and
    checked with ``fstat`` before anything is read; reading stops one byte past the cap, so a
    file that grows meanwhile is refused too. Raises :class:`FileInputError`.
    """
    name = os.fspath(path)
    if "\x00" in name:
        raise FileInputError(repr(name), "a path cannot contain a NUL character")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise FileInputError(name, f"cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileInputError(name, f"is {_kind(info.st_mode)}, not a regular file")
        too_large = f"is larger than {size_text(limit)}, the most janitor reads for it"
        if info.st_size > limit:
            raise FileInputError(name, too_large)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileInputError(name, too_large)
        return b"".join(chunks)
    except OSError as exc:
        raise FileInputError(name, f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text_capped(path: str | os.PathLike[str], *, limit: int) -> str:
    """:func:`read_capped`, decoded as UTF-8 (a byte-order mark is dropped)."""
    data = read_capped(path, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileInputError(path, f"is not UTF-8 text (byte {exc.start})") from None


# --------------------------------------------------------------------------- writing

Way = Literal["stdout", "through", "atomic"]


@dataclass(frozen=True)
class OutputTarget:
    """Where an output goes and how it is written there (see the module's docstring)."""

    given: str
    """The path as the user gave it (for messages)."""
    path: Path
    """Standard output's ``-``, the path to open (``through``), or the file to replace
    (``atomic``: symbolic links resolved)."""
    way: Way

    @property
    def is_file(self) -> bool:
        """Whether a regular file is (or will be) at ``path``: a later reader can open it again,
        and a companion file may go beside it."""
        return self.way == "atomic"

    @contextlib.contextmanager
    def open(self) -> Iterator[TextIO]:
        """A text handle (UTF-8, ``\\n`` line ends) to write the output to. Leaving the block
        normally completes the file; an exception leaves the old file (if any) and no temporary
        file. An OSError while writing becomes an :class:`OutputError`."""
        try:
            if self.way == "stdout":
                yield sys.stdout
                sys.stdout.flush()
            elif self.way == "through":
                with open(self.path, "w", encoding="utf-8", newline="\n") as handle:
                    yield handle
            else:
                with self._atomic() as handle:
                    yield handle
        except BrokenPipeError:
            if self.way == "stdout":
                raise  # the reader of our standard output left: the CLI ends quietly
            raise OutputError(f"{self.given}: cannot write: the reader closed the pipe") from None
        except OSError as exc:
            raise OutputError(f"{self.given}: cannot write: {exc.strerror or exc}") from None

    def write_text(self, text: str) -> None:
        with self.open() as handle:
            handle.write(text)

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[TextIO]:
        target = self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = _NEW_FILE_MODE
        fd, temp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, mode)
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise


def output_target(path: str | os.PathLike[str]) -> OutputTarget:
    """Decide how to write to ``path``; raise :class:`OutputError` for a path janitor must not
    write (a directory, a block device, a socket), before any work is done."""
    given = os.fspath(path)
    if given == "-":
        return OutputTarget(given, Path("-"), "stdout")
    if "\x00" in given:
        raise OutputError(f"{given!r}: a path cannot contain a NUL character")
    if not given:
        raise OutputError("an output path cannot be empty")
    try:
        info: os.stat_result | None = os.stat(given)  # follows symbolic links
    except FileNotFoundError:
        info = None  # nothing there yet, or a dangling link: created at the link's target
    except OSError as exc:
        raise OutputError(f"{given}: cannot write there: {exc.strerror or exc}") from None
    if info is None:
        return OutputTarget(given, Path(os.path.realpath(given)), "atomic")
    if _is_standard_output(info):  # /dev/stdout and the like: write as `-` would
        return OutputTarget(given, Path(given), "stdout")
    mode = info.st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return OutputTarget(given, Path(given), "through")
    if not stat.S_ISREG(mode):
        raise OutputError(
            f"{given}: is {_kind(mode)}; janitor writes a regular file, a FIFO, a character "
            "device or - (standard output)"
        )
    real = Path(os.path.realpath(given))
    try:
        same: os.stat_result | None = os.stat(real)
    except OSError:
        same = None
    if (
        _via_open_file(given)
        or same is None
        or (same.st_dev, same.st_ino) != (info.st_dev, info.st_ino)
    ):
        # A file this process already has open (``/dev/stdout`` redirected to a file, a
        # /proc/self/fd link), or one whose name does not lead back to it: write through it, as
        # a shell's ``>`` would, rather than put a new file in its place.
        return OutputTarget(given, Path(given), "through")
    return OutputTarget(given, real, "atomic")


def _is_standard_output(info: os.stat_result) -> bool:
    try:
        ours = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real standard output (a test runner)
        return False
    return (ours.st_dev, ours.st_ino) == (info.st_dev, info.st_ino)


def _via_open_file(given: str) -> bool:
    """Whether ``given`` reaches its file through a link of /proc (``/dev/stdout``,
    ``/dev/fd/N``, ``/proc/self/fd/N``): the name of an open file, not a place in a folder."""
    current = os.path.abspath(given)
    for _ in range(40):  # the kernel's own limit on links followed
        folder = os.path.realpath(os.path.dirname(current))
        if folder == "/proc" or folder.startswith("/proc/"):
            return True
        if not os.path.islink(current):
            return False
        current = os.path.join(folder, os.readlink(current))
    return False
